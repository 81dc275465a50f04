package engine_test

import (
	"strings"
	"testing"
	"time"

	"devstack/engine"
	"devstack/engine/enginetest"
	"devstack/engine/event"
)

// chatty writes a numbered line every 100ms, each run under its own id,
// so that every line is unique; the engine restarts it after its own
// restart (restart: unless-stopped, as a dev stack often says).
const chatty = `
services:
  app:
    image: $IMAGE
    init: true
    restart: unless-stopped
    stop_grace_period: 1s
    command: ["sh", "-c", "run=$$(cat /proc/sys/kernel/random/uuid); i=0; while true; do i=$$((i+1)); echo \"$$run $$i\"; sleep 0.1; done"]
`

// TestMonitorFollowsTheEngineThroughARestart restarts the Docker engine
// (a private one: the machine's is shared) twice under a monitor such as
// the dashboard runs: the engine is reported gone, then back soon after
// it answers again, whatever happened before; logs and stats resume, and
// no log line is shown twice or missed.
func TestMonitorFollowsTheEngineThroughARestart(t *testing.T) {
	d := enginetest.StartDockerd(t)
	d.LoadImage(enginetest.Busybox(t))
	s := newEngineStack(t, d.Host, enginetest.BusyboxImage, chatty, func(string) {}) // the private engine goes whole
	s.up()
	tl := s.monitor(engine.MonitorOptions{Logs: true, Tail: "200", Stats: true, States: true})
	tl.waitN(t, 0, 10, 30*time.Second, "ten log lines", isLog)
	tl.wait(t, 0, 30*time.Second, "a stats sample", isStats)

	for restart := 1; restart <= 2; restart++ {
		mark := tl.mark()
		stopping := time.Now()
		d.Stop()
		stopped := time.Now()
		gone := tl.wait(t, mark, 30*time.Second, "the engine gone", connection(false))
		answered := d.Start()
		back := tl.wait(t, mark, 30*time.Second, "the engine back", connection(true))
		t.Logf("restart %d: engine stopped in %v; reported gone %v after SIGTERM (%v after it exited); back %v after it answered again",
			restart, stopped.Sub(stopping).Round(time.Millisecond), gone.at.Sub(stopping).Round(time.Millisecond),
			gone.at.Sub(stopped).Round(time.Millisecond), back.at.Sub(answered).Round(time.Millisecond))
		// The monitor must not have backed off into seconds: a lag
		// above this is a reconnect policy that waits too long (the
		// slack is for a loaded machine).
		if lag := back.at.Sub(answered); lag > 2500*time.Millisecond {
			t.Errorf("restart %d: the engine answered %v before the monitor reported it back", restart, lag.Round(time.Millisecond))
		}
		after := tl.mark()
		st := tl.wait(t, mark, 30*time.Second, "the container running again", func(e event.Event) bool {
			s, ok := e.(event.State)
			return ok && s.State == "running" && s.StartedAt.After(stopping)
		})
		t.Logf("restart %d: container restarted by the engine at %s, state shown %v after the engine answered",
			restart, st.e.(event.State).StartedAt.Format("15:04:05.000"), st.at.Sub(answered).Round(time.Millisecond))
		lr := tl.wait(t, after, 30*time.Second, "a new log line", isLog)
		tl.waitN(t, after, 10, 30*time.Second, "ten new log lines", isLog) // a run long enough to matter
		sr := tl.wait(t, after, 30*time.Second, "a new stats sample", isStats)
		t.Logf("restart %d: logs resumed %v and stats %v after the engine answered", restart,
			lr.at.Sub(answered).Round(time.Millisecond), sr.at.Sub(answered).Round(time.Millisecond))
	}

	// Every line shown once, and none of what the engine kept is
	// missing up to the last line shown.
	shown := map[string]int{}
	var last string
	for _, a := range tl.all() {
		if l, ok := a.e.(event.Log); ok {
			shown[l.Line]++
			last = l.Line
		}
	}
	for line, n := range shown {
		if n > 1 {
			t.Errorf("%q shown %d times", line, n)
		}
	}
	out, err := d.Docker("logs", s.p.Name+"-app-1")
	if err != nil {
		t.Fatal(err)
	}
	runs := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		runs[strings.Fields(line)[0]] = true
		if shown[line] == 0 {
			t.Errorf("%q was written but never shown", line)
		}
		if line == last {
			break
		}
	}
	if len(runs) != 3 {
		t.Errorf("the container ran %d times, want 3 (started, then restarted with the engine twice)", len(runs))
	}
}

func isLog(e event.Event) bool   { _, ok := e.(event.Log); return ok }
func isStats(e event.Event) bool { _, ok := e.(event.Stats); return ok }
