package watch

import (
	"testing"
	"time"
)

// The fallback modes and their period, set while the behaviour tests
// run again under TestFallbackModesBehaveTheSame.
var (
	testForce Mode
	testEvery time.Duration
)

// Every behaviour the per-file watcher has, the fallback modes have too
// (with the macOS notifier's semantics: a directory's watch does not see
// its files written, the periodic rescan must).
func TestFallbackModesBehaveTheSame(t *testing.T) {
	tests := map[string]func(*testing.T){
		"FollowsDirectoriesCreatedLater":  TestFollowsDirectoriesCreatedLater,
		"AtomicSave":                      TestAtomicSave,
		"DirectoryRemovedAndRecreated":    TestDirectoryRemovedAndRecreated,
		"DirectoryRenamedAway":            TestDirectoryRenamedAway,
		"SkippedDirectoriesAreNotWatched": TestSkippedDirectoriesAreNotWatched,
		"RootRemovedAndRecreated":         TestRootRemovedAndRecreated,
		"SingleFileRoot":                  TestSingleFileRoot,
		"BurstOfFilesInNewDirectories":    TestBurstOfFilesInNewDirectories,
		"WriteInPlace":                    testWriteInPlace,
	}
	for _, mode := range []Mode{Directories, Poll} {
		testForce, testEvery = mode, 100*time.Millisecond
		for name, f := range tests {
			if mode == Poll && name == "BurstOfFilesInNewDirectories" {
				continue // the same code as directories, slower; TestLowFileLimit bursts too
			}
			t.Run(map[Mode]string{Directories: "directories", Poll: "poll"}[mode]+"/"+name, f)
		}
	}
	testForce, testEvery = PerFile, 0
}

// A file written in place, twice within its file system's clock tick and
// at the same size, is reported after each write.
func testWriteInPlace(t *testing.T) {
	dir := t.TempDir()
	f := dir + "/main.go"
	write(t, f, "v1")
	_, s := start(t, []string{dir}, nil)
	for _, body := range []string{"v2", "v3", "v4"} {
		s.reset()
		write(t, f, body)
		s.wait(t, f)
	}
}

func TestPlanFitsTheFileLimit(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 300; i++ {
		write(t, dir+"/d"+string(rune('a'+i%10))+"/f"+itoa(i), "x")
	}
	skip := func(string) bool { return false }
	if s := plan([]string{dir}, skip, false, 256, time.Second); s.Mode != PerFile || s.Files != 0 {
		t.Errorf("inotify needs no count and never falls back: %+v", s)
	}
	s := plan([]string{dir}, skip, true, 10240, time.Second)
	if s.Mode != PerFile || s.Files != 300 || s.Dirs != 12 {
		t.Errorf("300 files within 10240: %+v", s)
	}
	s = plan([]string{dir}, skip, true, 256, time.Second)
	if s.Mode != Directories || s.Budget != 128 {
		t.Errorf("300 files over 256: %+v", s)
	}
	for _, want := range []string{"300 files and 12 directories", "limit of 256 open files", "watching the 12 directories instead", "every 1s"} {
		if !contains(s.String(), want) {
			t.Errorf("%q does not say %q", s, want)
		}
	}
	if s := plan([]string{dir}, skip, true, 138, time.Second); s.Mode != Poll || !contains(s.String(), "rescanning every directory") {
		t.Errorf("12 directories over a budget of 10: %+v %s", s, s)
	}
}

func itoa(i int) string {
	return string(rune('0'+i/100)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10))
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
