package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"devstack/engine/enginetest"
)

// syncProject writes a compose project with a sync rule into a temp dir.
func syncProject(t *testing.T, image string) (dir, project string) {
	t.Helper()
	dir = t.TempDir()
	project = randomProject("dscl")
	files := map[string]string{
		"compose.yaml": `services:
  app:
    image: ` + image + `
    command: ["sleep", "3600"]
    init: true
    develop:
      watch:
        - path: ./src
          action: sync
          target: /app
          ignore: ["*.log"]
`,
		"src/main.go": "v1",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, project
}

func TestSyncExplain(t *testing.T) {
	dir, project := syncProject(t, "busybox-not-needed")
	g := &globals{}
	cmd := newSyncCmd(g)
	var out bytes.Buffer
	g.stdout, g.stderr = &out, &out
	g.files = []string{filepath.Join(dir, "compose.yaml")}
	g.projectName = project
	cmd.SetArgs([]string{"explain", filepath.Join(dir, "src", "main.go"), filepath.Join(dir, "src", "debug.log")})
	cmd.SetOut(&out)
	err := cmd.ExecuteContext(context.Background())
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("an ignored path exits 1, got %v", err)
	}
	text := out.String()
	if !strings.Contains(text, "main.go -> app:/app/main.go") || !strings.Contains(text, `debug.log is not synced: ignored by service app: develop.watch[0].ignore[0] (pattern "*.log")`) {
		t.Fatalf("explain said:\n%s", text)
	}
}

func TestWatchSyncsAndFollowsARestartedContainer(t *testing.T) {
	image := enginetest.Busybox(t)
	dir, project := syncProject(t, image)
	t.Cleanup(func() { enginetest.RemoveProject(project) })
	g := &globals{files: []string{filepath.Join(dir, "compose.yaml")}, projectName: project, progress: "json", noColor: true}
	var out syncBuffer
	g.stdout, g.stderr = &out, &out
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		cmd := newWatchCmd(g)
		cmd.SetArgs(nil)
		done <- cmd.ExecuteContext(ctx)
	}()
	cat := func() string {
		o, _ := exec.Command("docker", "exec", project+"-app-1", "cat", "/app/main.go").CombinedOutput()
		return string(o)
	}
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for cat() != want {
			if time.Now().After(deadline) {
				t.Fatalf("the container never held %q (has %q); output:\n%s", want, cat(), out.String())
			}
			select {
			case err := <-done:
				t.Fatalf("watch ended: %v\n%s", err, out.String())
			case <-time.After(50 * time.Millisecond): // polling with a deadline
			}
		}
	}
	waitFor("v1") // up, then the initial sync
	if err := os.WriteFile(filepath.Join(dir, "src", "main.go"), []byte("v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("v2")
	// Restarted: the state monitor tells sync, which catches up.
	if o, err := exec.Command("docker", "restart", "-t", "0", project+"-app-1").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, o)
	}
	if err := os.WriteFile(filepath.Join(dir, "src", "main.go"), []byte("v3"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("v3")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("watch: %v", err)
	}
	if !strings.Contains(out.String(), `"type":"sync"`) {
		t.Fatalf("no sync event in the JSON stream:\n%s", out.String())
	}
}

// syncBuffer is a bytes.Buffer safe for the renderer's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
