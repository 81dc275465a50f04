package sync

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"devstack/engine/model"
)

// stoppingEngine answers every exec as the engine does for a container
// that stopped under it (exit 126, nothing printed), lists the container
// as running or not, and counts calls to the archive API.
type stoppingEngine struct {
	Engine
	running  bool
	archives atomic.Int32
}

func (e *stoppingEngine) Containers(context.Context, string) ([]Container, error) {
	if e.running {
		return []Container{{ID: "c1", Name: "unit-app-1"}}, nil
	}
	return nil, nil
}

func (e *stoppingEngine) Exec(context.Context, string, ExecSpec) (int, error) { return 126, nil }

func (e *stoppingEngine) CopyTo(context.Context, string, string, io.Reader) error {
	e.archives.Add(1)
	return errors.New("unexpected")
}

func (e *stoppingEngine) CopyFrom(context.Context, string, string) (io.ReadCloser, error) {
	e.archives.Add(1)
	return nil, errors.New("unexpected")
}

// An exec that fails with 126 means missing tools only in a container
// that still runs: then sync falls back to the archive API. In one that
// stopped under it (a recreate removing it), it reports the container
// gone and leaves the archive API alone: a copy into a container the
// engine is removing was seen to empty its volumes.
func TestTransportOfAStoppedContainerIsNoArchive(t *testing.T) {
	for _, running := range []bool{true, false} {
		eng := &stoppingEngine{running: running}
		p := &model.Project{Name: "unit", Services: []model.Service{{Name: "app",
			Watch: []model.WatchRule{{Path: t.TempDir(), Action: model.WatchSync, Target: "/app"}}}}}
		s, err := New(Options{Project: p, Engine: eng, StateDir: "-"})
		if err != nil {
			t.Fatal(err)
		}
		rp := newReplica(s.services[0], Container{ID: "c1", Name: "unit-app-1"})
		rp.ownerSet = true // root: no look at the container's users
		tr, err := rp.transport(context.Background())
		switch {
		case running && (err != nil || tr == nil || tr.Kind() != TransportArchive || !rp.noAgent):
			t.Errorf("running, no tools: transport %v, %v; want the archive API", tr, err)
		case !running && (err == nil || !strings.Contains(err.Error(), "no longer running") || rp.noAgent):
			t.Errorf("stopped: transport %v, %v (noAgent %v); want an error saying it no longer runs", tr, err, rp.noAgent)
		}
		if n := eng.archives.Load(); n != 0 {
			t.Errorf("running=%v: %d archive calls while choosing a transport", running, n)
		}
		rp.close()
	}
}
