package main

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer collects what attach writes, safe to read meanwhile.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAttachDetachKeysAndExit: attach carries input and output; the
// detach keys (the default and one's own) return with the container
// still running, stdin still open; the process ending returns too.
func TestAttachDetachKeysAndExit(t *testing.T) {
	project, args := stackOf(t, "att", "    tty: true\n    stdin_open: true\n    command: [\"sh\"]\n")
	name := project + "-web-1"
	cases := []struct {
		name, keys, flag, marker string
		running                  bool
	}{
		{"default keys", "\x10\x11", "", "one", true},
		{"own keys", "\x18x", "ctrl-x,x", "two", true},
		{"process exits", "exit 0\n", "", "three", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			defer pw.Close()
			var out, errb lockedBuffer
			argv := append(append([]string{}, args...), "attach")
			if c.flag != "" {
				argv = append(argv, "--detach-keys", c.flag)
			}
			argv = append(argv, "web")
			done := make(chan int, 1)
			go func() { done <- run(context.Background(), argv, pr, &out, &errb) }()
			// Typed until the shell's echo comes back: attach is connected.
			marker := "marker-" + c.marker
			deadline := time.Now().Add(time.Minute)
			for !strings.Contains(out.String(), marker+"\r\n") || !strings.Contains(out.String(), "echo "+marker) {
				if time.Now().After(deadline) {
					t.Fatalf("no echo through attach within a minute: %q %q", out.String(), errb.String())
				}
				if _, err := io.WriteString(pw, "echo "+marker+"\n"); err != nil {
					t.Fatal(err)
				}
				select {
				case code := <-done:
					t.Fatalf("attach returned %d early: %s", code, errb.String())
				case <-time.After(500 * time.Millisecond):
				}
			}
			if _, err := io.WriteString(pw, c.keys); err != nil {
				t.Fatal(err)
			}
			select {
			case code := <-done:
				if code != 0 {
					t.Fatalf("attach exited %d: %s", code, errb.String())
				}
			case <-time.After(time.Minute):
				t.Fatal("attach did not return within a minute of the keys")
			}
			state, _ := exec.Command("docker", "inspect", "-f", "{{.State.Status}}", name).Output()
			running := strings.TrimSpace(string(state)) == "running"
			if running != c.running {
				t.Fatalf("container state %q after %s", state, c.name)
			}
			if detached := strings.Contains(errb.String(), "detached from "+name); detached != c.running {
				t.Fatalf("stderr %q: detached message should be there only when it keeps running", errb.String())
			}
		})
	}
}
