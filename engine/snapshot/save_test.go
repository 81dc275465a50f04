package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"devstack/engine"
)

// stuckTar is a runtime whose tar writes garbage into the shared snapshot
// file and then runs on until its exec is cancelled.
type stuckTar struct {
	Runtime // nil: only Exec is called
	dir     string
	ended   atomic.Bool
}

func (s *stuckTar) Exec(ctx context.Context, id string, o engine.ExecOptions) (int, error) {
	file := filepath.Join(s.dir, strings.TrimPrefix(o.Cmd[len(o.Cmd)-1], sharedDir+"/"))
	if err := os.WriteFile(file, bytes.Repeat([]byte("not tar "), 128), 0o600); err != nil {
		return -1, err
	}
	<-ctx.Done()
	s.ended.Store(true)
	return -1, ctx.Err()
}

// A snapshot file that does not read as tar fails the save, and the tar
// writing it is not left running: saveShared returns only once its exec
// has ended (Save then removes the helper, and the partial snapshot).
func TestSaveSharedWaitsForTarOnAParseError(t *testing.T) {
	dir := t.TempDir()
	rt := &stuckTar{dir: dir}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src := &volumeSource{rt: rt, streamer: "helper", shared: true}
	_, err := saveShared(ctx, src, 0, volumeRef{key: "db", name: "p_db"}, dir, VolumeEntry{File: "volume-0.tar", Encoding: encTar})
	if err == nil || !strings.Contains(err.Error(), "volume p_db") {
		t.Fatalf("saving a volume whose archive is garbage: %v", err)
	}
	if !rt.ended.Load() {
		t.Fatal("saveShared returned while the tar exec it started was still running")
	}
	if ctx.Err() != nil {
		t.Fatal("saveShared waited for the test's deadline")
	}
}

// rebase leaves out a restore's own directories at the volume's root (a
// clean-up cut short leaves .devstack-restore-old.*), and nothing else.
func TestRebaseLeavesOutARestoresDirectories(t *testing.T) {
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	for _, name := range []string{"./", "./.devstack-restore-old.ab12/", "./.devstack-restore-old.ab12/pg/1", "./a", "./sub/", "./sub/.devstack-restore-old.x", "./.devstack-restorer"} {
		h := &tar.Header{Name: name, Mode: 0o644, Typeflag: tar.TypeReg, Size: 1}
		if strings.HasSuffix(name, "/") {
			h.Typeflag, h.Size, h.Mode = tar.TypeDir, 0, 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("x"))
		}
	}
	tw.Close()
	var out bytes.Buffer
	n, _, err := rebase(&in, &out, "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	want := "./ a sub/ sub/.devstack-restore-old.x .devstack-restorer"
	if got := strings.Join(names, " "); got != want || n != 4 {
		t.Errorf("rebased: %q (%d below the root), want %q (4)", got, n, want)
	}
}
