package sync

import (
	"path/filepath"
	"strings"
	"testing"

	"devstack/engine/model"
)

// noEngine is an Engine New never calls.
type noEngine struct{ Engine }

func watchedProject(t *testing.T) *model.Project {
	return &model.Project{Name: "shop", WorkingDir: t.TempDir(), Services: []model.Service{{Name: "app",
		Watch: []model.WatchRule{{Path: t.TempDir(), Action: model.WatchSync, Target: "/app"}}}}}
}

// Records of what was synced are state: kept under the user's state
// directory, never in a shared temporary directory when there is none.
func TestRecordsAreKeptUnderTheStateDirectory(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_STATE_HOME", xdg)
	s, err := New(Options{Project: watchedProject(t), Engine: noEngine{}})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(xdg, "devstack", "sync", "shop"); s.o.StateDir != want {
		t.Fatalf("records kept in %s, want %s", s.o.StateDir, want)
	}

	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "")
	s, err = New(Options{Project: watchedProject(t), Engine: noEngine{}})
	if err == nil {
		t.Fatalf("without a state directory the records went to %s", s.o.StateDir)
	}
	if !strings.Contains(err.Error(), "XDG_STATE_HOME") {
		t.Fatalf("the error does not say what to set: %v", err)
	}
	// In memory only, as asked, needs no directory.
	if _, err := New(Options{Project: watchedProject(t), Engine: noEngine{}, StateDir: "-"}); err != nil {
		t.Fatal(err)
	}
}
