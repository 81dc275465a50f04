package tui

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"devstack/engine/event"
)

func TestSelectAndFilterLogs(t *testing.T) {
	m := newTestModel(t, Options{Services: services}, 100, 30)
	feed(m, stack()...)
	if r := m.services.selectedRow(); r.name() != "web-1" {
		t.Fatalf("first selection is %s, want web-1", r.name())
	}
	press(m, "down", "j", "k", "j") // web-2, api-1, web-2, api-1
	if r := m.services.selectedRow(); r.name() != "api-1" {
		t.Fatalf("selected %s, want api-1", r.name())
	}
	press(m, "up", "up", "up") // stops at the top
	if r := m.services.selectedRow(); r.name() != "web-1" {
		t.Fatalf("selected %s after moving past the top, want web-1", r.name())
	}
	press(m, "j", "j", "enter")
	s := screen(m)
	if !strings.Contains(s, "logs: api") || strings.Contains(s, "GET /cart") {
		t.Fatalf("enter on api-1 should show api's logs only:\n%s", s)
	}
	if got := m.View().WindowTitle; got != "devstack · shop · api" {
		t.Fatalf("window title %q", got)
	}
	press(m, "enter")
	if s := screen(m); !strings.Contains(s, "logs: all") || !strings.Contains(s, "GET /item/7") {
		t.Fatalf("enter again should show every service:\n%s", s)
	}
}

func TestActionsCallTheController(t *testing.T) {
	c := &fakeController{}
	m := newTestModel(t, Options{Services: services, Controller: c}, 100, 30)
	feed(m, stack()...)

	msg := press(m, "r")
	if done, ok := msg.(actionDoneMsg); !ok || done.verb != "restart" || done.service != "web" {
		t.Fatalf("r produced %#v", msg)
	}
	if !strings.Contains(screen(m), "web: restarted in") {
		t.Fatalf("the outcome of the restart is not shown:\n%s", screen(m))
	}
	press(m, "b")
	press(m, "x")      // web is running: stop
	press(m, "G", "S") // scratch
	if s := screen(m); !strings.Contains(s, "scratch rebuild started") || strings.Contains(s, "finished") {
		t.Fatalf("S only starts a scratch rebuild; the notice should say so:\n%s", s)
	}
	// Move to worker-1 (exited): x starts it.
	press(m, "j", "j", "j", "j")
	press(m, "x")

	want := []string{"restart web", "rebuild web", "stop web", "scratch", "start worker"}
	if got := c.Calls(); !reflect.DeepEqual(got, want) {
		t.Fatalf("controller calls %v, want %v", got, want)
	}

	c.fail = errors.New("engine says no")
	press(m, "k", "k", "k", "r") // web-2
	if s := screen(m); !strings.Contains(s, "web: restart failed: engine says no") {
		t.Fatalf("a failed action is not reported:\n%s", s)
	}
}

func TestActionRunsOffTheUpdateLoop(t *testing.T) {
	c := &fakeController{}
	m := newTestModel(t, Options{Services: services, Controller: c}, 100, 30)
	feed(m, stack()...)
	_, cmd := m.Update(keyMsg("r"))
	if cmd == nil {
		t.Fatal("r returned no command")
	}
	if len(c.Calls()) != 0 {
		t.Fatal("Update called the controller itself instead of returning a command")
	}
	if !strings.Contains(screen(m), "web: restarting…") {
		t.Fatalf("no progress notice:\n%s", screen(m))
	}
	// A second r while the first runs does not start another.
	if _, again := m.Update(keyMsg("r")); again != nil {
		t.Fatal("a second restart of the same service was started while one runs")
	}
	m.Update(cmd())
	if _, again := m.Update(keyMsg("r")); again == nil {
		t.Fatal("restart stayed blocked after the first one finished")
	}
}

type fakeExec struct{ ran bool }

func (f *fakeExec) Run() error          { f.ran = true; return nil }
func (f *fakeExec) SetStdin(io.Reader)  {}
func (f *fakeExec) SetStdout(io.Writer) {}
func (f *fakeExec) SetStderr(io.Writer) {}

func TestShellHandsOverTheSelectedContainer(t *testing.T) {
	c := &fakeController{shell: &fakeExec{}}
	m := newTestModel(t, Options{Services: services, Controller: c}, 100, 30)
	feed(m, stack()...)
	press(m, "j")
	_, cmd := m.Update(keyMsg("s"))
	if cmd == nil {
		t.Fatal("s returned no command")
	}
	if got := c.Calls(); !reflect.DeepEqual(got, []string{"shell shop-web-2"}) {
		t.Fatalf("calls %v", got)
	}
	// The command asks the program to run the shell with the terminal.
	if msg := cmd(); fmt.Sprintf("%T", msg) != "tea.execMsg" {
		t.Fatalf("s did not produce an exec message but %T", msg)
	}
	m.Update(shellDoneMsg{container: "web-2"})
	if !strings.Contains(screen(m), "back from the shell in web-2") {
		t.Fatal("no notice after the shell")
	}

	// No shell into an exited container.
	press(m, "j", "j", "j") // worker-1
	if _, cmd := m.Update(keyMsg("s")); cmd != nil {
		t.Fatal("a shell was opened in an exited container")
	}
	if !strings.Contains(screen(m), "worker-1 is not running") {
		t.Fatalf("no explanation:\n%s", screen(m))
	}
}

func TestQuitAsksThenLeavesOrStops(t *testing.T) {
	c := &fakeController{}
	m := newTestModel(t, Options{Services: services, Controller: c}, 80, 24)
	if msg := press(m, "q"); msg != nil {
		t.Fatalf("q quit without asking: %#v", msg)
	}
	if !strings.Contains(screen(m), "Quit: l leave the stack running") {
		t.Fatalf("no quit prompt:\n%s", screen(m))
	}
	press(m, "esc")
	if m.mode != modeNormal {
		t.Fatal("esc did not cancel the quit")
	}
	press(m, "q")
	if msg := press(m, "l"); msg != (tea.QuitMsg{}) {
		t.Fatalf("l did not quit: %#v", msg)
	}
	if len(c.Calls()) != 0 {
		t.Fatalf("leaving called the controller: %v", c.Calls())
	}

	m = newTestModel(t, Options{Services: services, Controller: c}, 80, 24)
	press(m, "q")
	msg := press(m, "s")
	if _, ok := msg.(downDoneMsg); !ok {
		t.Fatalf("s did not stop the stack: %#v", msg)
	}
	if got := c.Calls(); !reflect.DeepEqual(got, []string{"stop stack"}) {
		t.Fatalf("calls %v, want down", got)
	}
}

func TestQuitBehaviourOptions(t *testing.T) {
	c := &fakeController{}
	m := newTestModel(t, Options{Controller: c, Quit: QuitLeave}, 80, 24)
	if msg := press(m, "q"); msg != (tea.QuitMsg{}) {
		t.Fatalf("QuitLeave: q gave %#v", msg)
	}
	c.fail = errors.New("cannot stop")
	m = newTestModel(t, Options{Controller: c, Quit: QuitStop}, 80, 24)
	_, cmd := m.Update(keyMsg("q"))
	if !strings.Contains(screen(m), "stopping the stack") {
		t.Fatal("no notice while stopping")
	}
	_, quit := m.Update(cmd())
	if quit == nil || quit() != (tea.QuitMsg{}) {
		t.Fatal("the program does not end once the stack is stopped")
	}
	if m.Err() == nil || !reflect.DeepEqual(c.Calls(), []string{"stop stack"}) {
		t.Fatalf("QuitStop: err %v calls %v", m.Err(), c.Calls())
	}
}

func logEvents(service string, from, n int) []event.Event {
	var out []event.Event
	for i := from; i < from+n; i++ {
		out = append(out, event.Log{Service: service, Container: "shop-" + service + "-1", Replica: 1, Stream: "stdout", Line: fmt.Sprintf("%s line %d", service, i)})
	}
	return out
}

func TestSearchNextAndPrevious(t *testing.T) {
	m := newTestModel(t, Options{Services: []string{"web"}}, 80, 24)
	var evs []event.Event
	for i := 0; i < 200; i++ {
		line := fmt.Sprintf("request %d ok", i)
		if i%50 == 7 {
			line = fmt.Sprintf("request %d ERROR timeout", i)
		}
		evs = append(evs, event.Log{Service: "web", Replica: 1, Line: line})
	}
	feed(m, evs...)
	press(m, "/")
	typeText(m, "errr")
	press(m, "backspace", "enter")
	// Newest match first: request 157.
	if !m.logs.query.Match("ERROR") || !strings.Contains(screen(m), "request 157 ERROR") || m.logs.follow {
		t.Fatalf("search did not move to the newest match:\n%s", screen(m))
	}
	current := func() string { return m.logs.view().Tail(m.logs.current, 1)[0].Line.Text }
	press(m, "n")
	if got := current(); got != "request 107 ERROR timeout" {
		t.Fatalf("n went to %q", got)
	}
	press(m, "n", "n")
	if got := current(); got != "request 7 ERROR timeout" {
		t.Fatalf("n n went to %q", got)
	}
	press(m, "n")
	if got := current(); got != "request 7 ERROR timeout" || !strings.Contains(screen(m), "no older match for err") {
		t.Fatalf("n past the oldest match: %q\n%s", got, screen(m))
	}
	press(m, "N")
	if got := current(); got != "request 57 ERROR timeout" {
		t.Fatalf("N went to %q", got)
	}
	if !strings.Contains(screen(m), "request 57 ERROR") {
		t.Fatalf("the current match is not on screen:\n%s", screen(m))
	}
	press(m, "esc")
	if !m.logs.query.Empty() {
		t.Fatal("esc did not clear the search")
	}
	press(m, "/", "esc")
	if m.mode != modeNormal {
		t.Fatal("esc did not leave the search prompt")
	}
}

func TestSearchHighlightsMatches(t *testing.T) {
	m := newTestModel(t, Options{Services: []string{"web"}}, 80, 24)
	feed(m, event.Log{Service: "web", Replica: 1, Line: "an error and another ERROR"})
	press(m, "/")
	typeText(m, "error")
	press(m, "enter")
	if n := strings.Count(m.Render(), "\x1b["); n == 0 {
		t.Fatal("no styling at all")
	}
	// Both matches are styled: the plain word appears inside escape codes.
	line := ""
	for _, l := range strings.Split(m.Render(), "\n") {
		if strings.Contains(l, "another") {
			line = l
		}
	}
	if !strings.Contains(line, "error\x1b[") || !strings.Contains(line, "ERROR\x1b[") {
		t.Fatalf("matches are not highlighted: %q", line)
	}
}

func TestFollowPauseAndScroll(t *testing.T) {
	m := newTestModel(t, Options{Services: []string{"web"}}, 80, 24)
	feed(m, logEvents("web", 0, 100)...)
	press(m, "f")
	feed(m, logEvents("web", 100, 5)...)
	s := screen(m)
	if strings.Contains(s, "web line 104") || !strings.Contains(s, "web line 99") || !strings.Contains(s, "paused at 100/105 · 5 newer") {
		t.Fatalf("paused view moved or does not say so:\n%s", s)
	}
	press(m, "pgup")
	if s := screen(m); strings.Contains(s, "web line 99") {
		t.Fatalf("pgup did not scroll back:\n%s", s)
	}
	press(m, "g")
	if s := screen(m); !strings.Contains(s, "web line 0") {
		t.Fatalf("g did not go to the oldest line:\n%s", s)
	}
	press(m, "pgdown", "pgdown", "pgdown", "pgdown", "pgdown", "pgdown", "pgdown", "pgdown", "pgdown", "pgdown", "pgdown")
	if !m.logs.follow {
		t.Fatal("scrolling down to the newest line did not resume following")
	}
	feed(m, logEvents("web", 105, 1)...)
	if s := screen(m); !strings.Contains(s, "web line 105") {
		t.Fatalf("following does not show new lines:\n%s", s)
	}
}

func TestRingBoundAndDroppedCount(t *testing.T) {
	m := newTestModel(t, Options{Services: []string{"web", "api"}, LogLimit: 100}, 80, 24)
	feed(m, logEvents("web", 0, 250)...)
	feed(m, logEvents("api", 0, 10)...)
	if r := m.logs.store.Ring("web"); r.Len() != 100 || r.Dropped() != 150 {
		t.Fatalf("web ring holds %d and dropped %d, want 100 and 150", r.Len(), r.Dropped())
	}
	if r := m.logs.store.Ring("api"); r.Len() != 10 || r.Dropped() != 0 {
		t.Fatalf("api ring holds %d and dropped %d: one service's flood must not evict another's lines", r.Len(), r.Dropped())
	}
	if s := screen(m); !strings.Contains(s, "150 dropped (limit 100/service)") {
		t.Fatalf("dropped lines are not shown:\n%s", s)
	}
	press(m, "g")
	if s := screen(m); !strings.Contains(s, "web line 150") || strings.Contains(s, "web line 149") {
		t.Fatalf("the oldest kept line should be web line 150:\n%s", s)
	}
	// Lines the batcher discarded count too.
	m.Update(batchMsg{dropped: map[string]uint64{"web": 7}})
	if r := m.logs.store.Ring("web"); r.Dropped() != 157 {
		t.Fatalf("dropped %d after 7 more discarded, want 157", r.Dropped())
	}
}

func TestRestartAndRecreateMarkers(t *testing.T) {
	m := newTestModel(t, Options{Services: []string{"web"}}, 80, 24)
	t1 := t0.Add(-time.Hour)
	st := func(id, state string, started time.Time, code int) event.State {
		return event.State{Service: "web", Container: "shop-web-1", ID: id, Replica: 1, State: state, StartedAt: started, ExitCode: code}
	}
	// The monitor's first listing (StartedAt unknown), then its snapshot.
	feed(m, st("c1", "running", time.Time{}, 0), st("c1", "running", t1, 0), event.Log{Service: "web", Replica: 1, Line: "old container line"})
	feed(m, st("c1", "running", t1, 0)) // a health change: no marker
	feed(m, st("c1", "exited", t1, 137), st("c1", "running", t0, 0))
	feed(m, event.Log{Service: "web", Replica: 1, Line: "after restart"})
	feed(m, st("c2", "created", time.Time{}, 0), st("c2", "running", t0.Add(time.Second), 0))
	feed(m, event.State{Service: "web", Container: "shop-web-1", ID: "c1", Replica: 1, State: "removed"}) // old one goes late
	feed(m, event.Log{Service: "web", Replica: 1, Line: "new container line"})

	var got []string
	for _, ref := range m.logs.store.View().Tail(m.logs.store.Last(), 100) {
		got = append(got, ref.Line.Text)
	}
	want := []string{"old container line", "web-1 exited with code 137", "web-1 restarted", "after restart", "web-1 recreated (new container)", "new container line"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("log lines:\n%q\nwant\n%q", got, want)
	}
	if r := m.services.selectedRow(); r.ID != "c2" || r.State != "running" {
		t.Fatalf("row follows container %s (%s), want c2 running", r.ID, r.State)
	}
	if s := screen(m); !strings.Contains(s, "── web-1 restarted ──") {
		t.Fatalf("marker not drawn:\n%s", s)
	}
}

func TestNoColor(t *testing.T) {
	colour := regexpSGRColour()
	m := newTestModel(t, Options{Services: services}, 120, 40)
	feed(m, stack()...)
	if !colour(m.Render()) {
		t.Fatal("the coloured dashboard has no colour codes: the test cannot tell")
	}
	m = newTestModel(t, Options{Services: services, NoColor: true}, 120, 40)
	feed(m, stack()...)
	press(m, "/")
	typeText(m, "GET")
	press(m, "enter")
	out := m.Render()
	if colour(out) {
		t.Fatalf("NoColor output has colour codes:\n%q", out)
	}
	if !strings.Contains(out, "\x1b[7m") {
		t.Fatal("NoColor lost reverse video (selection and matches must still show)")
	}
}

// regexpSGRColour reports whether text sets a foreground or background
// colour (SGR 30-37, 38;..., 40-47, 48;..., 90-97, 100-107).
func regexpSGRColour() func(string) bool {
	return func(s string) bool {
		for _, seq := range strings.Split(s, "\x1b[")[1:] {
			end := strings.IndexByte(seq, 'm')
			if end < 0 {
				continue
			}
			for _, p := range strings.Split(seq[:end], ";") {
				var n int
				if _, err := fmt.Sscan(p, &n); err == nil && (n >= 30 && n <= 49 || n >= 90 && n <= 107) {
					return true
				}
			}
		}
		return false
	}
}

func TestConnectionBannerComesAndGoes(t *testing.T) {
	m := newTestModel(t, Options{Services: services}, 80, 24)
	feed(m, event.Connection{Host: "tcp://h:2375", Connected: false, Error: "dial tcp: refused"})
	if s := screen(m); !strings.Contains(s, "engine tcp://h:2375 unreachable") || !strings.Contains(s, "dial tcp: refused") {
		t.Fatalf("no banner:\n%s", s)
	}
	feed(m, event.Connection{Host: "tcp://h:2375", Connected: true})
	if s := screen(m); strings.Contains(s, "unreachable") || !strings.Contains(s, "tcp://h:2375 connected") {
		t.Fatalf("banner stayed:\n%s", s)
	}
}

func TestProgressShowsInStateAndErrors(t *testing.T) {
	m := newTestModel(t, Options{Services: []string{"web"}}, 100, 24)
	feed(m, event.Progress{Kind: event.KindImage, Service: "web", Action: event.Building})
	if s := screen(m); !strings.Contains(s, "building") {
		t.Fatalf("activity not shown:\n%s", s)
	}
	feed(m, event.Progress{Kind: event.KindImage, Service: "web", Action: event.Failed, Error: "COPY failed"})
	s := screen(m)
	if strings.Contains(s, "building") || !strings.Contains(s, "web failed: COPY failed") {
		t.Fatalf("failure not shown:\n%s", s)
	}
}

func TestTableScrollsToTheSelection(t *testing.T) {
	var names []string
	var evs []event.Event
	for i := 0; i < 30; i++ {
		n := fmt.Sprintf("svc%02d", i)
		names = append(names, n)
		evs = append(evs, event.State{Service: n, Container: "shop-" + n + "-1", ID: n, Replica: 1, State: "running"})
	}
	m := newTestModel(t, Options{Services: names, Engine: "unix:///var/run/docker.sock"}, 80, 24)
	feed(m, evs...)
	if s := screen(m); !strings.Contains(s, "svc00-1") || strings.Contains(s, "svc29-1") {
		t.Fatalf("the table should start at the top:\n%s", s)
	}
	for i := 0; i < 29; i++ {
		press(m, "j")
	}
	s := screen(m)
	if !strings.Contains(s, "▸ svc29-1") || strings.Contains(s, "svc00-1") {
		t.Fatalf("the table did not scroll to the selection:\n%s", s)
	}
	if !strings.Contains(s, "engine unix:///var/run/docker.sock") {
		t.Fatalf("the engine's address is not shown:\n%s", s)
	}
	checkShape(t, s, 80, 24)
}
