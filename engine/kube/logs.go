package kube

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"devstack/engine/model"
)

// LogOptions select what Logs returns.
type LogOptions struct {
	Services []string // none: every service
	Follow   bool
	Tail     int64 // lines per container instance; <0: all
}

// LogLine is one line of a pod's output.
type LogLine struct {
	Service string
	Pod     string
	Time    time.Time
	Line    string
}

// Logs streams the output of every pod of the project, merged: for each
// pod the previous instance's lines (a container that restarted) and then
// the current one's. Following, it picks up pods as they are created and
// containers as they restart, so the log of a service outlives any one
// pod. fn is called from several goroutines, one line at a time.
func (c *Cluster) Logs(ctx context.Context, project string, o LogOptions, fn func(LogLine)) error {
	var mu sync.Mutex
	emit := func(l LogLine) {
		mu.Lock()
		defer mu.Unlock()
		fn(l)
	}
	want := func(svc string) bool { return len(o.Services) == 0 || contains(o.Services, svc) }
	if !o.Follow {
		pods, err := c.Pods(ctx, project, "")
		if err != nil {
			return err
		}
		for i := len(pods) - 1; i >= 0; i-- {
			p := &pods[i]
			svc := p.Labels[model.LabelService]
			if svc == "" || !want(svc) { // "": a one-off pod of run
				continue
			}
			if restarts(p) > 0 {
				_ = c.streamLogs(ctx, p, true, false, o.Tail, emit)
			}
			_ = c.streamLogs(ctx, p, false, false, o.Tail, emit)
		}
		return nil
	}

	w := c.newWaiter(project)
	defer w.stop()
	if err := w.start(ctx); err != nil {
		return err
	}
	// One stream per container instance (pod UID and restart count).
	followed := map[string]bool{}
	var wg sync.WaitGroup
	defer wg.Wait()
	first := true
	for {
		w.mu.Lock()
		changed := w.changed
		w.mu.Unlock()
		for _, obj := range w.pods.GetStore().List() {
			p := obj.(*corev1.Pod)
			svc := p.Labels[model.LabelService]
			if svc == "" || !want(svc) { // "": a one-off pod of run
				continue
			}
			st := status(p)
			if st == nil || (st.State.Running == nil && st.State.Terminated == nil) {
				continue
			}
			key := fmt.Sprintf("%s/%d", p.UID, st.RestartCount)
			if followed[key] {
				continue
			}
			followed[key] = true
			if first && st.RestartCount > 0 {
				_ = c.streamLogs(ctx, p, true, false, o.Tail, emit)
			}
			tail := o.Tail
			if !first {
				tail = -1 // a new instance: all of it
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = c.streamLogs(ctx, p, false, true, tail, emit)
			}()
		}
		first = false
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}

func status(p *corev1.Pod) *corev1.ContainerStatus {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == containerName {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

func restarts(p *corev1.Pod) int {
	if st := status(p); st != nil {
		return int(st.RestartCount)
	}
	return 0
}

func (c *Cluster) streamLogs(ctx context.Context, p *corev1.Pod, previous, follow bool, tail int64, emit func(LogLine)) error {
	opts := &corev1.PodLogOptions{Container: containerName, Previous: previous, Follow: follow, Timestamps: true}
	if tail >= 0 {
		opts.TailLines = &tail
	}
	rc, err := c.cs.CoreV1().Pods(c.namespace).GetLogs(p.Name, opts).Stream(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	return readLines(rc, func(t time.Time, line string) {
		emit(LogLine{Service: p.Labels[model.LabelService], Pod: p.Name, Time: t, Line: line})
	})
}

// readLines splits the API's timestamped lines ("2026-01-02T15:04:05.999999999Z text").
func readLines(r io.Reader, fn func(time.Time, string)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		ts, rest, ok := strings.Cut(line, " ")
		t, err := time.Parse(time.RFC3339Nano, ts)
		if !ok || err != nil {
			fn(time.Now(), line)
			continue
		}
		fn(t, rest)
	}
	return sc.Err()
}

// OnStarted calls fn once for each pod container that starts running
// (a new pod, a replaced one, a restart) until ctx ends: live sync
// follows pods this way instead of polling.
func (c *Cluster) OnStarted(ctx context.Context, project string, fn func(service, pod string)) error {
	w := c.newWaiter(project)
	defer w.stop()
	if err := w.start(ctx); err != nil {
		return err
	}
	seen := map[string]bool{}
	for {
		w.mu.Lock()
		changed := w.changed
		w.mu.Unlock()
		for _, obj := range w.pods.GetStore().List() {
			p := obj.(*corev1.Pod)
			st := status(p)
			if st == nil || st.State.Running == nil || p.DeletionTimestamp != nil {
				continue
			}
			key := fmt.Sprintf("%s/%d", p.UID, st.RestartCount)
			if !seen[key] {
				seen[key] = true
				fn(p.Labels[model.LabelService], p.Name)
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}
