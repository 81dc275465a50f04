package docker

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"devstack/engine/model"
)

func projectFilter(project string) client.Filters {
	return client.Filters{}.Add("label", model.LabelProject+"="+project)
}

// Observe takes one snapshot of the project on the engine. The list calls
// run in parallel, and so do the container inspects (health, restarts and
// start time are only in inspect on this API version).
func (r *Runtime) Observe(ctx context.Context, p *model.Project) (model.Observed, error) {
	obs := model.Observed{Networks: map[string]string{}, Volumes: map[string]string{}, Images: map[string]string{}}
	var (
		wg         sync.WaitGroup
		mu         sync.Mutex
		firstErr   error
		containers []container.Summary
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	wg.Add(4)
	go func() {
		defer wg.Done()
		res, err := r.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: projectFilter(p.Name)})
		if err != nil {
			fail(err)
			return
		}
		containers = res.Items
	}()
	go func() {
		defer wg.Done()
		res, err := r.api.NetworkList(ctx, client.NetworkListOptions{Filters: projectFilter(p.Name)})
		if err != nil {
			fail(err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, n := range res.Items {
			key := n.Labels[model.LabelNetwork]
			if key == "" {
				key = strings.TrimPrefix(n.Name, p.Name+"_")
			}
			obs.Networks[key] = n.Name
		}
	}()
	go func() {
		defer wg.Done()
		res, err := r.api.VolumeList(ctx, client.VolumeListOptions{Filters: projectFilter(p.Name)})
		if err != nil {
			fail(err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, v := range res.Items {
			key := v.Labels[model.LabelVolume]
			if key == "" {
				continue // an anonymous volume of a container
			}
			obs.Volumes[key] = v.Name
		}
	}()
	go func() {
		defer wg.Done()
		res, err := r.api.ImageList(ctx, client.ImageListOptions{})
		if err != nil {
			fail(err)
			return
		}
		want := map[string]bool{}
		for _, s := range p.Services {
			want[s.Image] = true
			if !strings.Contains(lastSegment(s.Image), ":") {
				want[s.Image+":latest"] = true
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for _, img := range res.Items {
			for _, tag := range img.RepoTags {
				if want[tag] {
					obs.Images[strings.TrimSuffix(tag, ":latest")] = img.ID
					obs.Images[tag] = img.ID
				}
			}
		}
	}()
	wg.Wait()
	if firstErr != nil {
		return obs, r.engineError(firstErr)
	}
	obs.Containers = make([]model.Container, len(containers))
	errs := make([]error, len(containers))
	for i, c := range containers {
		wg.Add(1)
		go func(i int, id string) {
			defer wg.Done()
			obs.Containers[i], errs[i] = r.InspectContainer(ctx, id)
		}(i, c.ID)
	}
	wg.Wait()
	out := obs.Containers[:0]
	for i, c := range obs.Containers {
		if errs[i] != nil {
			if cerrdefs.IsNotFound(errs[i]) {
				continue // removed while we looked
			}
			return obs, r.engineError(errs[i])
		}
		out = append(out, c)
	}
	obs.Containers = out
	sort.Slice(obs.Containers, func(i, j int) bool { return obs.Containers[i].Name < obs.Containers[j].Name })
	return obs, nil
}

func lastSegment(ref string) string {
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

// engineError adds where the engine was when a call fails for lack of it.
func (r *Runtime) engineError(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "connect:") || strings.Contains(msg, "Cannot connect") || strings.Contains(msg, "no such host") {
		return fmt.Errorf("the Docker engine at %s (%s) does not answer: %w", r.host, r.where, err)
	}
	return err
}

// InspectContainer returns one container's state.
func (r *Runtime) InspectContainer(ctx context.Context, id string) (model.Container, error) {
	res, err := r.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return model.Container{}, err
	}
	return fromInspect(res.Container), nil
}

func fromInspect(c container.InspectResponse) model.Container {
	out := model.Container{ID: c.ID, Name: strings.TrimPrefix(c.Name, "/"), ImageID: c.Image, Restarts: c.RestartCount}
	if c.Config != nil {
		l := c.Config.Labels
		out.Labels = l
		out.Service = l[model.LabelService]
		out.Number, _ = strconv.Atoi(l[model.LabelNumber])
		out.OneOff = strings.EqualFold(l[model.LabelOneOff], "true")
		out.ConfigHash = l[model.LabelConfigHash]
		out.Image = c.Config.Image
	}
	out.Created, _ = time.Parse(time.RFC3339Nano, c.Created)
	if s := c.State; s != nil {
		out.State = string(s.Status)
		out.ExitCode = s.ExitCode
		out.StartedAt, _ = time.Parse(time.RFC3339Nano, s.StartedAt)
		if s.Health != nil {
			out.Health = string(s.Health.Status)
		}
	}
	if c.NetworkSettings != nil {
		out.Ports = publishedPorts(c.NetworkSettings.Ports)
	}
	return out
}

func publishedPorts(pm network.PortMap) []model.PublishedPort {
	var out []model.PublishedPort
	for port, bindings := range pm {
		if len(bindings) == 0 {
			out = append(out, model.PublishedPort{Target: port.Num(), Protocol: string(port.Proto())})
		}
		for _, b := range bindings {
			hp, _ := strconv.Atoi(b.HostPort)
			ip := ""
			if b.HostIP.IsValid() && b.HostIP != netip.IPv4Unspecified() {
				ip = b.HostIP.String()
			}
			if b.HostIP.IsValid() && b.HostIP.Is6() && b.HostIP.IsUnspecified() {
				continue // the IPv6 twin of a 0.0.0.0 binding
			}
			out = append(out, model.PublishedPort{HostIP: ip, HostPort: uint16(hp), Target: port.Num(), Protocol: string(port.Proto())})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Target != out[j].Target {
			return out[i].Target < out[j].Target
		}
		return out[i].Protocol < out[j].Protocol
	})
	return out
}

// CreateNetwork creates the project network key.
func (r *Runtime) CreateNetwork(ctx context.Context, p *model.Project, key string) error {
	n, ok := p.Networks[key]
	if !ok {
		return fmt.Errorf("network %q is not defined in the compose file", key)
	}
	if n.External {
		if _, err := r.api.NetworkInspect(ctx, n.Name, client.NetworkInspectOptions{}); err != nil {
			return fmt.Errorf("external network %q does not exist: create it with `docker network create %s`", n.Name, n.Name)
		}
		return nil
	}
	labels := projectLabels(p)
	for k, v := range n.Labels {
		labels[k] = v
	}
	labels[model.LabelNetwork] = key
	opts := client.NetworkCreateOptions{Driver: n.Driver, Internal: n.Internal, Attachable: n.Attachable, Options: n.Options, Labels: labels}
	if n.EnableIPv6 {
		t := true
		opts.EnableIPv6 = &t
	}
	if len(n.Subnets) > 0 {
		ipam := &network.IPAM{}
		for _, s := range n.Subnets {
			prefix, err := netip.ParsePrefix(s)
			if err != nil {
				return fmt.Errorf("network %q: subnet %q: %w", key, s, err)
			}
			ipam.Config = append(ipam.Config, network.IPAMConfig{Subnet: prefix})
		}
		opts.IPAM = ipam
	}
	_, err := r.api.NetworkCreate(ctx, n.Name, opts)
	if err != nil && strings.Contains(err.Error(), "already exists") {
		return nil
	}
	return err
}

// CreateVolume creates the project volume key.
func (r *Runtime) CreateVolume(ctx context.Context, p *model.Project, key string) error {
	v, ok := p.Volumes[key]
	if !ok {
		return fmt.Errorf("volume %q is not defined in the compose file", key)
	}
	if v.External {
		if _, err := r.api.VolumeInspect(ctx, v.Name, client.VolumeInspectOptions{}); err != nil {
			return fmt.Errorf("external volume %q does not exist: create it with `docker volume create %s`", v.Name, v.Name)
		}
		return nil
	}
	labels := projectLabels(p)
	for k, val := range v.Labels {
		labels[k] = val
	}
	labels[model.LabelVolume] = key
	_, err := r.api.VolumeCreate(ctx, client.VolumeCreateOptions{Name: v.Name, Driver: v.Driver, DriverOpts: v.Options, Labels: labels})
	return err
}

// RemoveNetwork removes a network; a missing one is no error.
func (r *Runtime) RemoveNetwork(ctx context.Context, name string) error {
	_, err := r.api.NetworkRemove(ctx, name, client.NetworkRemoveOptions{})
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// RemoveVolume removes a volume; a missing one is no error.
func (r *Runtime) RemoveVolume(ctx context.Context, name string) error {
	_, err := r.api.VolumeRemove(ctx, name, client.VolumeRemoveOptions{})
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	return err
}
