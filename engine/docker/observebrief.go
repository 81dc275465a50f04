package docker

import (
	"context"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
	"golang.org/x/sync/errgroup"

	"devstack/engine/model"
)

// ObserveBrief takes Observe's snapshot from the engine's lists alone: the
// container list carries state, health (in its status text on API 1.41,
// as a field on newer engines), exit code, ports, mounts and labels. Only
// what the list cannot tell is inspected, in one parallel batch: the
// restart count of containers whose service has a restart policy (no other
// container can have restarted), and which of two containers holding the
// same replica number is newer (the list's creation time is in seconds).
// StartedAt stays unknown; Status has the engine's words. On dag20 this is
// four list calls and one image inspect instead of 20 inspects more.
//
// A container the list says is running is inspected too: the engine
// updates its list a while after a container dies (0.1–0.4 s measured
// here, after the "die" event), and an up that believed a crashed
// container still running would leave it down. Inspecting waits for the
// engine to finish with the container, so its answer is current.
func (r *Runtime) ObserveBrief(ctx context.Context, p *model.Project) (model.Observed, error) {
	var (
		obs model.Observed
		cs  []model.Container
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		obs, _, err = r.lists(gctx, p, false)
		return err
	})
	g.Go(func() error {
		var err error
		cs, err = r.projectContainers(gctx, p, true)
		return err
	})
	if err := g.Wait(); err != nil {
		return obs, err
	}
	obs.Containers = cs
	return obs, nil
}

// ProjectContainers is ObserveBrief's containers alone: one list call, and the
// inspect batch for what it cannot tell. What `ps` costs; its running
// containers are as the list has them (as `docker ps` shows them).
func (r *Runtime) ProjectContainers(ctx context.Context, p *model.Project) ([]model.Container, error) {
	return r.projectContainers(ctx, p, false)
}

// projectContainers lists the project's containers, inspecting those the
// list cannot tell enough about, and with confirmRunning those it says are
// running.
func (r *Runtime) projectContainers(ctx context.Context, p *model.Project, confirmRunning bool) ([]model.Container, error) {
	res, err := r.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: containerFilter(p.Name)})
	if err != nil {
		return nil, r.engineError(err)
	}
	cs := make([]model.Container, len(res.Items))
	for i, s := range res.Items {
		cs[i] = fromSummary(s)
	}
	var batch []int
	for i, c := range cs {
		if needsInspect(p, cs, c) || confirmRunning && (c.State == model.StateRunning || c.State == model.StateRestarting) {
			batch = append(batch, i)
		}
	}
	gone := make([]bool, len(cs))
	if len(batch) > 0 {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(inspectParallel)
		for _, i := range batch {
			g.Go(func() error {
				c, err := r.InspectContainer(gctx, cs[i].ID)
				if cerrdefs.IsNotFound(err) {
					gone[i] = true // removed while we looked
					return nil
				}
				if err == nil {
					cs[i] = c
				}
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, r.engineError(err)
		}
	}
	var out []model.Container
	for i, c := range cs {
		if !gone[i] {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// needsInspect says whether the list leaves out something about c that
// callers rely on.
func needsInspect(p *model.Project, all []model.Container, c model.Container) bool {
	if svc, ok := p.Service(c.Service); ok && !c.OneOff {
		switch svc.Restart {
		case "", "no":
		default:
			return true // its restart count
		}
	}
	for _, o := range all {
		if o.ID != c.ID && o.Service == c.Service && o.Number == c.Number && o.OneOff == c.OneOff {
			return true // which is newer
		}
	}
	return false
}

// fromSummary reads one entry of the container list.
func fromSummary(c container.Summary) model.Container {
	out := model.Container{ID: c.ID, Name: summaryName(c.Names), Image: c.Image, ImageID: c.ImageID,
		State: string(c.State), Status: c.Status, Created: time.Unix(c.Created, 0), Labels: c.Labels}
	l := c.Labels
	out.Service = l[model.LabelService]
	out.Number, _ = strconv.Atoi(l[model.LabelNumber])
	out.OneOff = strings.EqualFold(l[model.LabelOneOff], "true")
	out.ConfigHash = l[model.LabelConfigHash]
	if c.Health != nil {
		out.Health = string(c.Health.Status)
		if out.Health == string(container.NoHealthcheck) {
			out.Health = model.HealthNone
		}
	} else {
		out.Health = healthFromStatus(c.Status)
	}
	out.ExitCode = exitFromStatus(c.Status)
	out.Ports = summaryPorts(c.Ports)
	for _, m := range c.Mounts {
		if m.Type == mount.TypeVolume && m.Name != "" {
			out.Volumes = append(out.Volumes, m.Name)
		}
	}
	sort.Strings(out.Volumes) // the list and an inspect order mounts differently
	out.Command = c.Command
	if c.NetworkSettings != nil {
		for n := range c.NetworkSettings.Networks {
			out.Networks = append(out.Networks, n)
		}
		sort.Strings(out.Networks)
	}
	return out
}

// summaryName is the container's own name among those the list gives
// (legacy links add "/other/alias" names).
func summaryName(names []string) string {
	for _, n := range names {
		if n = strings.TrimPrefix(n, "/"); !strings.Contains(n, "/") {
			return n
		}
	}
	if len(names) > 0 {
		return strings.TrimPrefix(names[0], "/")
	}
	return ""
}

// healthFromStatus reads the health the engine appends to a running
// container's status: "Up 3 minutes (healthy)", "(health: starting)".
func healthFromStatus(status string) string {
	switch {
	case !strings.HasPrefix(status, "Up "):
		return model.HealthNone
	case strings.HasSuffix(status, "(health: starting)"):
		return model.HealthStarting
	case strings.HasSuffix(status, "(healthy)"):
		return model.HealthHealthy
	case strings.HasSuffix(status, "(unhealthy)"):
		return model.HealthUnhealthy
	}
	return model.HealthNone
}

// exitFromStatus reads "Exited (137) 2 hours ago" or "Restarting (1) 3
// seconds ago"; 0 otherwise.
func exitFromStatus(status string) int {
	for _, prefix := range []string{"Exited (", "Restarting ("} {
		if rest, ok := strings.CutPrefix(status, prefix); ok {
			if code, _, ok := strings.Cut(rest, ")"); ok {
				n, _ := strconv.Atoi(code)
				return n
			}
		}
	}
	return 0
}

// summaryPorts lists the list's port entries as publishedPorts does an
// inspect's bindings.
func summaryPorts(ps []container.PortSummary) []model.PublishedPort {
	var out []model.PublishedPort
	seen := map[model.PublishedPort]bool{}
	type key struct {
		port  uint16
		proto string
	}
	v4any := map[key]bool{} // host ports bound on every IPv4 address
	for _, p := range ps {
		if p.PublicPort != 0 && (!p.IP.IsValid() || p.IP == netip.IPv4Unspecified()) {
			v4any[key{p.PublicPort, p.Type}] = true
		}
	}
	for _, p := range ps {
		if p.PublicPort != 0 && p.IP.IsValid() && p.IP.Is6() && p.IP.IsUnspecified() && v4any[key{p.PublicPort, p.Type}] {
			continue // the IPv6 twin of a 0.0.0.0 binding; a [::] binding alone is listed
		}
		ip := ""
		if p.IP.IsValid() && p.IP != netip.IPv4Unspecified() {
			ip = p.IP.String()
		}
		pp := model.PublishedPort{HostIP: ip, HostPort: p.PublicPort, Target: p.PrivatePort, Protocol: p.Type}
		if !seen[pp] {
			seen[pp] = true
			out = append(out, pp)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Target != b.Target {
			return a.Target < b.Target
		}
		if a.Protocol != b.Protocol {
			return a.Protocol < b.Protocol
		}
		return a.HostPort < b.HostPort
	})
	return out
}
