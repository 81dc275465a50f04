package tui

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"devstack/engine/event"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/tui")

// t0 is the fixed "now" of every test.
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func newTestModel(t *testing.T, opts Options, width, height int) *Model {
	t.Helper()
	if opts.Clock == nil {
		opts.Clock = func() time.Time { return t0 }
	}
	if opts.Project == "" {
		opts.Project = "shop"
	}
	m := New(opts)
	m.Update(tea.WindowSizeMsg{Width: width, Height: height})
	return m
}

// feed delivers events as one batch, the way Run does.
func feed(m *Model, events ...event.Event) {
	m.Update(batchMsg{events: events})
}

// keyMsg builds the key press bubbletea would deliver for a key name.
func keyMsg(k string) tea.KeyPressMsg {
	special := map[string]rune{
		"enter": tea.KeyEnter, "esc": tea.KeyEscape, "up": tea.KeyUp, "down": tea.KeyDown,
		"pgup": tea.KeyPgUp, "pgdown": tea.KeyPgDown, "home": tea.KeyHome, "end": tea.KeyEnd,
		"backspace": tea.KeyBackspace,
	}
	if c, ok := special[k]; ok {
		return tea.KeyPressMsg{Code: c}
	}
	if strings.HasPrefix(k, "ctrl+") {
		return tea.KeyPressMsg{Code: rune(k[5]), Mod: tea.ModCtrl}
	}
	r := []rune(k)[0]
	return tea.KeyPressMsg{Code: r, Text: k}
}

// press sends keys and runs the command of the last one, if any, feeding
// its message back (as the program would); it returns that message.
func press(m *Model, keys ...string) tea.Msg {
	var cmd tea.Cmd
	for _, k := range keys {
		_, cmd = m.Update(keyMsg(k))
	}
	if cmd == nil {
		return nil
	}
	msg := cmd()
	switch msg.(type) {
	case actionDoneMsg, downDoneMsg, shellDoneMsg, noticeMsg:
		m.Update(msg)
	}
	return msg
}

// typeText types a search, one key per character.
func typeText(m *Model, s string) {
	for _, r := range s {
		m.Update(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

// screen is the view without styles, trailing spaces kept.
func screen(m *Model) string { return ansi.Strip(m.Render()) }

// checkGolden compares the plain screen with testdata/tui/name.golden.
func checkGolden(t *testing.T, name string, m *Model) {
	t.Helper()
	got := screen(m)
	checkShape(t, got, m.width, m.height)
	path := filepath.Join("..", "testdata", "tui", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./tui -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("screen differs from %s (run with -update to accept):\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// checkShape asserts the screen fills the terminal exactly.
func checkShape(t *testing.T, s string, width, height int) {
	t.Helper()
	lines := strings.Split(s, "\n")
	if len(lines) != height {
		t.Errorf("screen has %d lines, want %d", len(lines), height)
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w != width {
			t.Errorf("line %d is %d cells wide, want %d: %q", i+1, w, width, l)
		}
	}
}

// fakeController records calls; each call can be made to fail.
type fakeController struct {
	mu    sync.Mutex
	calls []string
	fail  error
	shell ExecCommand
}

func (c *fakeController) record(s string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, s)
	return c.fail
}

func (c *fakeController) Restart(_ context.Context, s string) error { return c.record("restart " + s) }
func (c *fakeController) Rebuild(_ context.Context, s string) error { return c.record("rebuild " + s) }
func (c *fakeController) Stop(_ context.Context, s string) error    { return c.record("stop " + s) }
func (c *fakeController) Start(_ context.Context, s string) error   { return c.record("start " + s) }
func (c *fakeController) Scratch(context.Context) error             { return c.record("scratch") }
func (c *fakeController) StopStack(context.Context) error           { return c.record("stop stack") }
func (c *fakeController) Shell(container string) ExecCommand {
	_ = c.record("shell " + container)
	return c.shell
}

func (c *fakeController) Calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}
