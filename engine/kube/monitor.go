package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"devstack/engine/event"
	"devstack/engine/model"
)

// MonitorOptions select what Monitor follows.
type MonitorOptions struct {
	Services []string // none: every service
	// Logs streams every pod's output as event.Log (across restarts).
	Logs bool
	Tail int64 // lines of each container's earlier output; <0: all
	// Stats samples CPU and memory from the cluster's metrics API
	// (metrics.k8s.io) every StatsEvery; a cluster without one gets a
	// Stats event per pod saying "no metrics".
	Stats      bool
	StatsEvery time.Duration // 0: 2 seconds
}

// NoMetrics is the Stats.Unavailable of a cluster that serves no
// metrics API (no metrics-server).
const NoMetrics = "no metrics"

// Monitor follows the project's pods until ctx ends and publishes what the
// dashboard shows of them: one event.State per pod change (phase,
// readiness, restarts, node), event.Stats and, with o.Logs, event.Log. It
// is the cluster's counterpart of the Docker engine's monitor: the
// dashboard reads events only, whatever the runtime.
func (c *Cluster) Monitor(ctx context.Context, project string, o MonitorOptions, sink event.Sink) error {
	want := func(svc string) bool { return len(o.Services) == 0 || contains(o.Services, svc) }
	ports := c.publishedPorts(ctx, project)
	if o.Logs {
		go func() {
			_ = c.Logs(ctx, project, LogOptions{Services: o.Services, Follow: true, Tail: o.Tail}, func(l LogLine) {
				sink.Publish(event.Log{Time: l.Time, Service: l.Service, Container: l.Pod, Line: l.Line, Stream: "stdout"})
			})
		}()
	}
	metrics := false
	if o.Stats {
		metrics = c.hasMetrics()
		if metrics {
			go c.sampleStats(ctx, project, o.StatsEvery, want, sink)
		}
	}

	w := c.newWaiter(project)
	defer w.stop()
	if err := w.start(ctx); err != nil {
		return err
	}
	slots := newSlots()
	last := map[string]event.State{} // pod UID -> what was last published
	terminating := map[string]bool{} // pod UIDs being deleted
	for {
		w.mu.Lock()
		changed := w.changed
		w.mu.Unlock()
		seen := map[string]bool{}
		pods := w.pods.GetStore().List()
		sort.Slice(pods, func(i, j int) bool {
			a, b := pods[i].(*corev1.Pod), pods[j].(*corev1.Pod)
			if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
				return a.CreationTimestamp.Before(&b.CreationTimestamp)
			}
			return a.Name < b.Name
		})
		for _, obj := range pods {
			p := obj.(*corev1.Pod)
			svc := p.Labels[model.LabelService]
			if svc == "" || !want(svc) {
				continue
			}
			id := string(p.UID)
			seen[id] = true
			if terminating[id] {
				continue // its row is (or will be) its successor's
			}
			st := PodState(p, slots.of(svc, id))
			if p.DeletionTimestamp != nil {
				// Said once; its number goes to the pod that replaces
				// it, which a ReplicaSet makes before this one is gone.
				terminating[id] = true
				slots.free(svc, id)
			}
			st.Ports = ports[svc]
			if prev, ok := last[id]; ok && sameState(prev, st) {
				continue
			}
			st.Time = time.Now()
			last[id] = st
			sink.Publish(st)
			if o.Stats && !metrics && st.State == "running" {
				sink.Publish(event.Stats{Time: st.Time, Service: svc, Container: p.Name, Unavailable: NoMetrics})
			}
		}
		for id, st := range last {
			if !seen[id] {
				delete(last, id)
				delete(terminating, id)
				slots.free(st.Service, id)
				sink.Publish(event.State{Time: time.Now(), Service: st.Service, Container: st.Container, ID: id, Replica: st.Replica, State: "removed", Node: st.Node})
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}

func sameState(a, b event.State) bool {
	a.Time, b.Time = time.Time{}, time.Time{}
	return a.Service == b.Service && a.Container == b.Container && a.Replica == b.Replica && a.State == b.State &&
		a.Health == b.Health && a.ExitCode == b.ExitCode && a.Restarts == b.Restarts && a.StartedAt.Equal(b.StartedAt) &&
		a.Node == b.Node && a.Image == b.Image && strings.Join(a.Ports, ",") == strings.Join(b.Ports, ",")
}

// publishedPorts are the ports up forwards to localhost, per service, as
// ps shows them (kept on each Service by Translate).
func (c *Cluster) publishedPorts(ctx context.Context, project string) map[string][]string {
	out := map[string][]string{}
	svcs, err := c.Services(ctx, project)
	if err != nil {
		return out
	}
	for _, s := range svcs {
		if v := s.Annotations[AnnotationPorts]; v != "" {
			out[s.Labels[model.LabelService]] = strings.Split(v, ",")
		}
	}
	return out
}

// PodState is what the dashboard shows of a pod: its phase (or why its
// container waits), readiness as health, restarts, node and image.
func PodState(p *corev1.Pod, replica int) event.State {
	st := event.State{Service: p.Labels[model.LabelService], Container: p.Name, ID: string(p.UID), Replica: replica,
		Node: p.Spec.NodeName, State: strings.ToLower(string(p.Status.Phase))}
	if st.State == "" {
		st.State = "pending"
	}
	if len(p.Spec.Containers) > 0 {
		st.Image = p.Spec.Containers[0].Image
	}
	cs := status(p)
	if cs != nil {
		st.Restarts = int(cs.RestartCount)
		switch {
		case cs.State.Running != nil:
			st.State = "running"
			st.StartedAt = cs.State.Running.StartedAt.Time
			st.Health = "starting"
			if cs.Ready {
				st.Health = "healthy"
			}
		case cs.State.Terminated != nil:
			st.State = "exited"
			st.ExitCode = int(cs.State.Terminated.ExitCode)
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
			// CrashLoopBackOff, ImagePullBackOff, ContainerCreating: the
			// reason says more than "pending".
			switch r := cs.State.Waiting.Reason; r {
			case "CrashLoopBackOff":
				st.State = "restarting"
			case "ContainerCreating":
				st.State = "creating"
			default:
				st.State = r
			}
		}
	}
	if p.DeletionTimestamp != nil {
		st.State = "terminating"
	}
	return st
}

// slots number each service's pods 1, 2, … as the dashboard numbers
// replicas: a pod keeps its number while it lives, and a pod that
// replaces one takes the lowest free number, so a replaced pod's row is
// taken over rather than a new one added.
type slots struct {
	taken map[string]map[int]string // service -> number -> pod UID
	of_   map[string]int            // pod UID -> number
}

func newSlots() *slots { return &slots{taken: map[string]map[int]string{}, of_: map[string]int{}} }

func (s *slots) of(service, id string) int {
	if n, ok := s.of_[id]; ok {
		return n
	}
	if s.taken[service] == nil {
		s.taken[service] = map[int]string{}
	}
	n := 1
	for s.taken[service][n] != "" {
		n++
	}
	s.taken[service][n] = id
	s.of_[id] = n
	return n
}

func (s *slots) free(service, id string) {
	if n, ok := s.of_[id]; ok {
		delete(s.taken[service], n)
		delete(s.of_, id)
	}
}

// hasMetrics says whether the cluster serves the metrics API.
func (c *Cluster) hasMetrics() bool {
	groups, err := c.cs.Discovery().ServerGroups()
	if err != nil {
		return false
	}
	for _, g := range groups.Groups {
		if g.Name == "metrics.k8s.io" {
			return true
		}
	}
	return false
}

// podMetrics is the part of metrics.k8s.io/v1beta1 PodMetricsList read here.
type podMetrics struct {
	Items []struct {
		Metadata struct {
			Name   string            `json:"name"`
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Containers []struct {
			Name  string            `json:"name"`
			Usage map[string]string `json:"usage"`
		} `json:"containers"`
	} `json:"items"`
}

// sampleStats polls the metrics API for the project's pods.
func (c *Cluster) sampleStats(ctx context.Context, project string, every time.Duration, want func(string) bool, sink event.Sink) {
	if every <= 0 {
		every = 2 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		raw, err := c.cs.Discovery().RESTClient().Get().
			AbsPath("/apis/metrics.k8s.io/v1beta1/namespaces", c.namespace, "pods").
			Param("labelSelector", ProjectSelector(project)).Do(ctx).Raw()
		if err == nil {
			stats, err := ParsePodMetrics(raw)
			if err == nil {
				now := time.Now()
				for _, s := range stats {
					if want(s.Service) {
						s.Time = now
						sink.Publish(s)
					}
				}
			}
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// ParsePodMetrics turns a PodMetricsList into one Stats per pod (its
// service container's usage: CPU as a percentage of one core, memory as
// the working set).
func ParsePodMetrics(raw []byte) ([]event.Stats, error) {
	var l podMetrics
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, fmt.Errorf("unable to read the metrics API's answer: %w", err)
	}
	var out []event.Stats
	for _, it := range l.Items {
		for _, ct := range it.Containers {
			if ct.Name != containerName {
				continue
			}
			s := event.Stats{Service: it.Metadata.Labels[model.LabelService], Container: it.Metadata.Name}
			if q, err := resource.ParseQuantity(ct.Usage["cpu"]); err == nil {
				s.CPUPercent = float64(q.MilliValue()) / 10
			}
			if q, err := resource.ParseQuantity(ct.Usage["memory"]); err == nil {
				s.MemBytes = uint64(q.Value())
			}
			out = append(out, s)
		}
	}
	return out, nil
}
