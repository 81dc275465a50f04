// Package tuibench measures the dashboard under a log flood: the real
// model and program, fed by a synthetic engine, drawing into a writer that
// timestamps every frame. It reports whether the dashboard keeps up: key
// press to the frame showing its effect, frames per second, memory, and
// whether any log line went missing other than by the rings' bound.
package tuibench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"devstack/engine/event"
	"devstack/tui"
)

// Config is the load and the terminal.
type Config struct {
	Services       int           // services writing logs (default 20)
	LinesPerSecond int           // per service (default 2,500)
	Duration       time.Duration // how long they write (default 60s)
	Width, Height  int           // terminal size (default 160×48)
	LogLimit       int           // lines kept per service (default tui.DefaultLogLimit)
	KeyInterval    time.Duration // pause between key presses (default 200ms)
}

func (c Config) withDefaults() Config {
	if c.Services <= 0 {
		c.Services = 20
	}
	if c.LinesPerSecond <= 0 {
		c.LinesPerSecond = 2500
	}
	if c.Duration <= 0 {
		c.Duration = time.Minute
	}
	if c.Width <= 0 || c.Height <= 0 {
		c.Width, c.Height = 160, 48
	}
	if c.LogLimit <= 0 {
		c.LogLimit = tui.DefaultLogLimit
	}
	if c.KeyInterval <= 0 {
		c.KeyInterval = 200 * time.Millisecond
	}
	return c
}

// Result is what was measured.
type Result struct {
	Config
	Elapsed   time.Duration // from the first line to the last line delivered
	LinesSent uint64
	SendRate  float64 // lines per second actually published
	Counts    tui.LogCounts
	Lost      int64 // lines sent but neither held nor counted as dropped

	Frames  int
	MeanFPS float64
	MaxFPS  int // most frames written within one second

	Keys         int // key presses sent
	KeysAnswered int // ... whose effect reached the screen
	KeyP50       time.Duration
	KeyP95       time.Duration
	KeyMax       time.Duration

	PeakRSS uint64        // bytes, sampled while running (and the kernel's high-water mark)
	CPU     time.Duration // user+system time of the whole process
}

// String is a report for humans.
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "load:        %d services × %d lines/s = %d lines/s for %s, terminal %d×%d, %d lines kept per service\n",
		r.Services, r.LinesPerSecond, r.Services*r.LinesPerSecond, r.Duration, r.Width, r.Height, r.LogLimit)
	fmt.Fprintf(&b, "sent:        %d lines in %s (%.0f lines/s)\n", r.LinesSent, r.Elapsed.Round(time.Millisecond), r.SendRate)
	fmt.Fprintf(&b, "received:    %d, held %d, dropped by the bound %d, lost %d\n", r.Counts.Received, r.Counts.Held, r.Counts.Dropped, r.Lost)
	fmt.Fprintf(&b, "frames:      %d, mean %.1f/s, max %d in one second\n", r.Frames, r.MeanFPS, r.MaxFPS)
	fmt.Fprintf(&b, "keys:        %d pressed, %d shown; key to frame p50 %s, p95 %s, max %s\n",
		r.Keys, r.KeysAnswered, r.KeyP50.Round(100*time.Microsecond), r.KeyP95.Round(100*time.Microsecond), r.KeyMax.Round(100*time.Microsecond))
	fmt.Fprintf(&b, "memory:      peak RSS %.1f MiB\n", float64(r.PeakRSS)/(1<<20))
	fmt.Fprintf(&b, "cpu:         %s (%.0f%% of one core)\n", r.CPU.Round(time.Millisecond), 100*r.CPU.Seconds()/r.Elapsed.Seconds())
	return b.String()
}

// Run floods a dashboard with cfg's load, pressing enter (which toggles
// the log pane between all services and one, and the window title with
// it) every KeyInterval, and measures.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	res := Result{Config: cfg}
	names := make([]string, cfg.Services)
	for i := range names {
		names[i] = fmt.Sprintf("svc%02d", i)
	}

	out := newFrameWriter()
	keysR, keysW := io.Pipe()
	defer keysW.Close()
	events := make(chan event.Event, 4096)
	defer close(events)

	m := tui.New(tui.Options{
		Project: "bench", Services: names, Quit: tui.QuitLeave, LogLimit: cfg.LogLimit,
		Input: keysR, Output: out, Width: cfg.Width, Height: cfg.Height,
		// Colour on, as on a real terminal, so that styling is measured too.
		Environ: []string{"TERM=xterm-256color", "COLORTERM=truecolor", "CLICOLOR_FORCE=1"},
	})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- m.Run(ctx, events) }()

	cpu0 := cpuTime()
	rss := startRSSSampler(ctx)
	start := time.Now()
	for i, n := range names {
		events <- event.State{Time: start, Service: n, Container: "bench-" + n + "-1", ID: fmt.Sprint(i), Replica: 1,
			State: "running", StartedAt: start, Image: "bench/" + n + ":dev", Ports: []string{fmt.Sprintf("0.0.0.0:%d->80/tcp", 8000+i)}}
	}

	// The engine: one goroutine per service, on schedule.
	var sent atomic.Uint64
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent.Add(publish(ctx, events, n, i, cfg.LinesPerSecond, start, cfg.Duration))
		}()
	}
	genDone := make(chan struct{})
	go func() { wg.Wait(); close(genDone) }()

	// The user: enter, wait for the title to change, again.
	lat, keys := pressKeys(ctx, keysW, out, genDone, cfg.KeyInterval)
	res.Keys = keys
	res.KeysAnswered = len(lat)
	res.KeyP50, res.KeyP95, res.KeyMax = percentiles(lat)

	res.LinesSent = sent.Load()
	res.Elapsed = time.Since(start)
	// Wait until the dashboard has every line (no sleeping: poll the
	// counts it publishes after each batch, with a deadline).
	deadline := time.Now().Add(30 * time.Second)
	for m.LogCounts().Received < res.LinesSent && time.Now().Before(deadline) {
		select {
		case err := <-runErr:
			return res, fmt.Errorf("the dashboard ended early: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	res.Elapsed = time.Since(start)
	res.SendRate = float64(res.LinesSent) / cfg.Duration.Seconds()
	res.Counts = m.LogCounts()
	res.Lost = int64(res.LinesSent) - int64(res.Counts.Received) + int64(res.Counts.Received) - int64(res.Counts.Held) - int64(res.Counts.Dropped)
	res.Frames, res.MaxFPS = out.frames()
	res.MeanFPS = float64(res.Frames) / res.Elapsed.Seconds()
	res.CPU = cpuTime() - cpu0
	res.PeakRSS = max(rss(), kernelPeakRSS())

	if _, err := keysW.Write([]byte("q")); err != nil {
		return res, fmt.Errorf("unable to press q: %w", err)
	}
	select {
	case err := <-runErr:
		if err != nil {
			return res, fmt.Errorf("the dashboard failed: %w", err)
		}
	case <-time.After(10 * time.Second):
		return res, fmt.Errorf("the dashboard did not quit on q")
	}
	return res, nil
}

// publish sends one service's lines at rate per second until d has passed,
// catching up in bursts when it falls behind, and returns how many it sent.
func publish(ctx context.Context, events chan<- event.Event, service string, index, rate int, start time.Time, d time.Duration) uint64 {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	container := "bench-" + service + "-1"
	var n uint64
	for {
		elapsed := time.Since(start)
		if elapsed > d {
			elapsed = d
		}
		due := uint64(elapsed.Seconds() * float64(rate))
		for ; n < due; n++ {
			line := "GET /api/items/" + strconv.FormatUint(n, 10) + " 200 " + strconv.Itoa(int(n%97)) + "ms user=" +
				strconv.Itoa(index*7919+int(n%1000)) + " trace=" + strconv.FormatUint(n*2654435761, 16) + " agent=curl/8.5.0 size=1274"
			select {
			case events <- event.Log{Time: time.Now(), Service: service, Container: container, Replica: 1, Stream: "stdout", Line: line}:
			case <-ctx.Done():
				return n
			}
		}
		if elapsed >= d {
			return n
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return n
		}
	}
}

// pressKeys presses enter every interval until done, and returns the
// time from each press to the frame carrying its window title.
func pressKeys(ctx context.Context, w io.Writer, out *frameWriter, done <-chan struct{}, interval time.Duration) ([]time.Duration, int) {
	var lat []time.Duration
	keys := 0
	filtered := false
	for {
		select {
		case <-done:
			return lat, keys
		case <-ctx.Done():
			return lat, keys
		case <-time.After(interval):
		}
		filtered = !filtered
		want := "devstack · bench"
		if filtered {
			want += " · svc00"
		}
		seen := out.expect(want)
		at := time.Now()
		if _, err := w.Write([]byte("\r")); err != nil {
			return lat, keys
		}
		keys++
		select {
		case t := <-seen:
			lat = append(lat, t.Sub(at))
		case <-time.After(5 * time.Second):
			// Unanswered: counted by Keys - KeysAnswered.
		}
	}
}

func percentiles(d []time.Duration) (p50, p95, top time.Duration) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return at(0.50), at(0.95), s[len(s)-1]
}

// frameWriter is the terminal: bubbletea writes each frame in one Write.
// It counts frames per second and watches for window titles.
type frameWriter struct {
	mu      sync.Mutex
	start   time.Time
	perSec  map[int]int
	total   int
	want    string
	notify  chan time.Time
	titleAt []byte
}

func newFrameWriter() *frameWriter {
	return &frameWriter{start: time.Now(), perSec: map[int]int{}, titleAt: []byte("\x1b]2;")}
}

func (f *frameWriter) Write(p []byte) (int, error) {
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.total++
	f.perSec[int(now.Sub(f.start)/time.Second)]++
	if f.notify != nil {
		if i := bytes.Index(p, f.titleAt); i >= 0 {
			rest := p[i+len(f.titleAt):]
			if j := bytes.IndexByte(rest, 0x07); j >= 0 && string(rest[:j]) == f.want {
				f.notify <- now
				f.notify = nil
			}
		}
	}
	return len(p), nil
}

// expect returns a channel that receives the time of the first frame
// setting the window title to title.
func (f *frameWriter) expect(title string) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	f.want, f.notify = title, ch
	return ch
}

func (f *frameWriter) frames() (total, maxPerSecond int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.perSec {
		maxPerSecond = max(maxPerSecond, n)
	}
	return f.total, maxPerSecond
}

// startRSSSampler samples the resident set every 100ms until ctx ends and
// returns a function giving the peak so far.
func startRSSSampler(ctx context.Context) func() uint64 {
	var peak atomic.Uint64
	sample := func() {
		if v := statusKiB("VmRSS:"); v*1024 > peak.Load() {
			peak.Store(v * 1024)
		}
	}
	sample()
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() uint64 { sample(); return peak.Load() }
}

// kernelPeakRSS is the process's resident high-water mark (Linux).
func kernelPeakRSS() uint64 { return statusKiB("VmHWM:") * 1024 }

func statusKiB(field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field) {
			f := strings.Fields(line[len(field):])
			if len(f) > 0 {
				v, _ := strconv.ParseUint(f[0], 10, 64)
				return v
			}
		}
	}
	return 0
}
