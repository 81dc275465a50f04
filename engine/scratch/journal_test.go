//go:build unix

package scratch

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	"devstack/engine"
	"devstack/engine/docker"
	"devstack/engine/event"
	"devstack/engine/load"
	"devstack/engine/model"
)

// runChild is the child half of TestAnInterruptedRebuildIsCleanedUpNextTime:
// a scratch rebuild that prints its phases, to be killed mid-run.
func runChild(dir, project, state string) {
	rt, err := docker.New(context.Background(), docker.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	_, _ = Run(context.Background(), Options{Runtime: rt, ReportDir: state, Trigger: "test", Sink: phasePrinter{},
		Load: load.Options{Files: []string{filepath.Join(dir, "compose.yaml")}, ProjectName: project, WorkDir: dir}})
	os.Exit(0)
}

type phasePrinter struct{}

func (phasePrinter) Publish(e event.Event) {
	if s, ok := e.(event.Scratch); ok {
		fmt.Println(s.Phase)
	}
}

// devstack killed mid-rebuild (SIGKILL: no clean-up of its own) leaves a
// scratch stack behind; the next rebuild of the project removes it, and
// says so.
func TestAnInterruptedRebuildIsCleanedUpNextTime(t *testing.T) {
	rt := newRuntime(t)
	fx := newFixture(t, rt, "clean")
	state := t.TempDir()

	cmd, sc := startChild(t, "DEVSTACK_SCRATCH_CHILD="+fx.dir, "DEVSTACK_SCRATCH_PROJECT="+fx.project, "DEVSTACK_SCRATCH_STATE="+state)
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	for sc.Scan() && sc.Text() != "starting" {
	}
	// Kill it once its stack has containers.
	deadline := time.Now().Add(time.Minute)
	for !hasContainer(fx.project) {
		if time.Now().After(deadline) {
			t.Fatal("the scratch stack never got a container")
		}
		time.Sleep(50 * time.Millisecond) // polling the engine, bounded by the deadline
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed = true
	left := leftovers(fx.project)
	if len(left) == 0 {
		t.Fatal("the killed rebuild left nothing: the test proves nothing")
	}
	t.Logf("left behind: %v", left)

	rec := &event.Recorder{}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Options{Runtime: rt, ReportDir: state, Trigger: "test", Sink: rec, Timeout: time.Minute, Load: fx.loadOptions()})
	if err != nil || rep.Status != StatusPass {
		t.Fatalf("the next rebuild: %v %s", err, rep.Text())
	}
	said := false
	for _, e := range rec.Events() {
		if w, ok := e.(event.Warning); ok && strings.Contains(w.Message, "removed the leftovers of interrupted scratch rebuild "+fx.project+"-scratch-") {
			said = true
		}
	}
	if !said {
		t.Errorf("the next rebuild did not say it cleaned up: %v", rec.Events())
	}
	if left := leftovers(fx.project); len(left) != 0 {
		t.Fatalf("still left: %v", left)
	}
	if files, _ := filepath.Glob(filepath.Join(state, "running", "*")); len(files) != 0 {
		t.Fatalf("journals left: %v", files)
	}
}

func hasContainer(project string) bool {
	for _, l := range leftovers(project) {
		if strings.HasPrefix(l, "ps: ") {
			return true
		}
	}
	return false
}

// A journal another process holds locked belongs to a rebuild running
// now: the sweep leaves it and what it names alone.
func TestALockedJournalIsNotSwept(t *testing.T) {
	dir := t.TempDir()
	j, err := openJournal(dir, "shop", "abc123")
	if err != nil {
		t.Fatal(err)
	}
	defer j.done()
	if err := j.add("project", "shop-scratch-abc123"); err != nil {
		t.Fatal(err)
	}
	if got := sweep(context.Background(), nil, dir, "shop"); len(got) != 0 {
		t.Fatalf("swept a running rebuild's journal: %v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "shop-scratch-abc123.running")); err != nil {
		t.Fatal(err)
	}
	// Another project's journals are not this project's business.
	if got := sweep(context.Background(), nil, dir, "sho"); len(got) != 0 {
		t.Fatalf("swept another project's journal: %v", got)
	}
}

// sweepRecorder is a runtime that only notes what a sweep asks about:
// each project it looks at and each image it removes. Its projects are
// empty, so nothing else is asked of it.
type sweepRecorder struct {
	engine.Runtime // nil: any other call panics, failing the test
	mu             gosync.Mutex
	projects       []string
	images         []string
}

func (s *sweepRecorder) Observe(_ context.Context, p *model.Project) (model.Observed, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.projects = append(s.projects, p.Name)
	return model.Observed{}, nil
}

func (s *sweepRecorder) RemoveImage(_ context.Context, ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.images = append(s.images, ref)
	return nil
}

// A journal is trusted only for what a rebuild of its project writes
// there: whole lines naming that rebuild's own scratch projects and
// images. A line torn by a crash (`project myapp` cut from
// `myapp-scratch-…`), the dev project's own name, or any other project
// or image is never taken down.
func TestATornOrForeignJournalLineNamesNothing(t *testing.T) {
	dir := t.TempDir()
	journal := strings.Join([]string{
		"project myapp-scratch-abc123",
		"image devstack-scratch/myapp-web:abc123-1",
		"project myapp-scratch-abc123-2",
		"project myapp",                   // the dev project itself
		"project otherapp-scratch-abc123", // another project's
		"project myapp-scratch-ffffff",    // another rebuild's
		"image redis:7",                   // not a scratch image
		"image devstack-scratch/other-web:abc123-1",
		"image devstack-scratch/myapp-web:latest",
		"project myapp", // torn: the crash came before its newline
	}, "\n")
	if err := os.WriteFile(filepath.Join(dir, "myapp-scratch-abc123.running"), []byte(journal), 0o600); err != nil {
		t.Fatal(err)
	}
	rt := &sweepRecorder{}
	sweep(context.Background(), rt, dir, "myapp")
	sort.Strings(rt.projects)
	if got := strings.Join(slices.Compact(rt.projects), " "); got != "myapp-scratch-abc123 myapp-scratch-abc123-2" {
		t.Errorf("swept projects %q, want only the rebuild's own scratch projects", got)
	}
	if got := strings.Join(rt.images, " "); got != "devstack-scratch/myapp-web:abc123-1" {
		t.Errorf("removed images %q, want only the rebuild's own scratch image", got)
	}

	// A journal holding only the torn line names nothing at all.
	rt = &sweepRecorder{}
	if err := os.WriteFile(filepath.Join(dir, "myapp-scratch-def456.running"), []byte("project myapp"), 0o600); err != nil {
		t.Fatal(err)
	}
	sweep(context.Background(), rt, dir, "myapp")
	for _, p := range rt.projects {
		if p == "myapp" {
			t.Fatalf("a torn line swept the dev project: %v", rt.projects)
		}
	}
}

// Everything a rebuild keeps — its journal, its report, the history — is
// private to the user: directories 0700, files 0600.
func TestScratchStateIsPrivate(t *testing.T) {
	base := filepath.Join(t.TempDir(), "devstack")
	j, err := openJournal(filepath.Join(base, "scratch", "running"), "shop", "abc123")
	if err != nil {
		t.Fatal(err)
	}
	defer j.done()
	if _, err := WriteReport(filepath.Join(base, "scratch"), &Report{ID: "abc123", Project: "shop"}); err != nil {
		t.Fatal(err)
	}
	if err := OpenHistory(filepath.Join(base, "scratch.db")).Add(&Report{ID: "abc123", Project: "shop"}); err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s is %v, want %v", path, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
