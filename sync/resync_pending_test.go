package sync

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"

	"devstack/engine/model"
	"devstack/sync/container"
	"devstack/sync/manifest"
)

// memContainer is a container's filesystem in memory behind the
// Transport interface; it counts what each path was sent and deleted,
// and can be made to fail every batch (the engine away).
type memContainer struct {
	mu      gosync.Mutex
	files   map[string]manifest.Info // absolute container path -> what it is
	fail    bool
	puts    map[string]int
	deletes map[string]int
}

func newMemContainer() *memContainer {
	return &memContainer{files: map[string]manifest.Info{}, puts: map[string]int{}, deletes: map[string]int{}}
}

func (m *memContainer) Apply(_ context.Context, b container.Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errors.New("the Docker engine does not answer")
	}
	for _, d := range b.Delete {
		m.deletes[d]++
		for p := range m.files {
			if p == d || strings.HasPrefix(p, d+"/") {
				delete(m.files, p)
			}
		}
	}
	for _, part := range b.Parts {
		var buf bytes.Buffer
		if err := part(&buf); err != nil {
			return err
		}
		tr := tar.NewReader(&buf)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			name := "/" + strings.TrimSuffix(h.Name, "/")
			info := manifest.Info{Size: h.Size, MTime: h.ModTime.Unix(), MTimeNS: -1, Perm: uint32(h.Mode) & 0o1777, UID: h.Uid, GID: h.Gid}
			switch h.Typeflag {
			case tar.TypeDir:
				info.Kind = manifest.KindDir
			case tar.TypeSymlink:
				info.Kind, info.Size = manifest.KindSymlink, int64(len(h.Linkname))
			default:
				info.Kind = manifest.KindFile
				m.puts[name]++
			}
			m.files[name] = info
		}
	}
	return nil
}

func (m *memContainer) List(_ context.Context, dir string) (manifest.Manifest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return nil, errors.New("the Docker engine does not answer")
	}
	out := manifest.Manifest{}
	for p, info := range m.files {
		if rel, ok := strings.CutPrefix(p, dir+"/"); ok {
			out[rel] = info
		}
	}
	return out, nil
}

func (m *memContainer) Digest(context.Context, []string) (map[string]string, error) {
	return map[string]string{}, nil
}

func (m *memContainer) Kind() string { return TransportArchive }
func (m *memContainer) Close()       {}

// unusedEngine is never called: the replica under test has its transport.
type unusedEngine struct{ Engine }

// TestResyncTakesOverWhatWasPending: a batch failed while the engine was
// away, then the container's restart asks for a resync and the retry
// loop for the pending batch. The resync brings everything in line; the
// pending batch must not be sent again after it (each file once, each
// deletion once).
func TestResyncTakesOverWhatWasPending(t *testing.T) {
	src := t.TempDir()
	for name, content := range map[string]string{"keep.txt": "k", "gone.txt": "g"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := &model.Project{Name: "unit", Services: []model.Service{{Name: "app",
		Watch: []model.WatchRule{{Path: src, Action: model.WatchSync, Target: "/app"}}}}}
	s, err := New(Options{Project: p, Engine: unusedEngine{}, StateDir: "-"})
	if err != nil {
		t.Fatal(err)
	}
	sv := s.services[0]
	mc := newMemContainer()
	rp := newReplica(sv, Container{ID: "c1", Name: "unit-app-1"})
	defer rp.close()
	rp.tr, rp.ownerSet = mc, true
	ctx := context.Background()
	if res := rp.resync(ctx); res.err != nil {
		t.Fatalf("initial sync: %v", res.err)
	}

	// The engine goes away; the host changes; the batch fails.
	mc.fail = true
	if err := os.Remove(filepath.Join(src, "gone.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "new.txt"), []byte("n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := sv.syncRules[0]
	ch := changes{}
	ch.add(r, "gone.txt", false)
	ch.add(r, "new.txt", true)
	if res := rp.apply(ctx, ch); res.err == nil {
		t.Fatal("the batch succeeded with the engine away")
	}

	// Back: the restart's resync, then what the loop does while
	// anything is pending.
	mc.fail = false
	mc.puts, mc.deletes = map[string]int{}, map[string]int{}
	if res := rp.resync(ctx); res.err != nil {
		t.Fatalf("resync: %v", res.err)
	}
	if rp.pending.count() > 0 {
		if res := rp.apply(ctx, changes{}); res.err != nil {
			t.Fatalf("pending batch: %v", res.err)
		}
	}
	if n := mc.puts["/app/new.txt"]; n != 1 {
		t.Errorf("new.txt sent %d times, want once", n)
	}
	if n := mc.deletes["/app/gone.txt"]; n != 1 {
		t.Errorf("gone.txt deleted %d times, want once", n)
	}
	if _, ok := mc.files["/app/gone.txt"]; ok {
		t.Error("gone.txt is still in the container")
	}
}
