package docker

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"devstack/engine/model"
)

// version is written in the com.docker.compose.version label, so that
// Docker Compose accepts the resources as its own.
const version = "2.40.0"

// managedBy is the value of model.LabelManagedBy.
const managedBy = "devstack"

// resourceLabels are the labels of a project network or volume: the
// user's, then compose's keys, which win.
func resourceLabels(p *model.Project, user map[string]string, keyLabel, key string) map[string]string {
	labels := map[string]string{}
	for k, v := range user {
		labels[k] = v
	}
	labels[model.LabelProject] = p.Name
	labels[model.LabelVersion] = version
	labels[model.LabelManagedBy] = managedBy
	labels[keyLabel] = key
	return labels
}

// CreateNetwork creates the project network key. An external network
// must exist already; one that exists and belongs to the project is
// kept as it is.
func (r *Runtime) CreateNetwork(ctx context.Context, p *model.Project, key string) error {
	n, ok := p.Networks[key]
	if !ok {
		return fmt.Errorf("network %q is not defined in the compose file", key)
	}
	if n.External {
		if _, err := r.api.NetworkInspect(ctx, n.Name, client.NetworkInspectOptions{}); err != nil {
			if cerrdefs.IsNotFound(err) {
				return fmt.Errorf("network %q is declared external, but the engine has no network %q: create it with `docker network create %s`", key, n.Name, n.Name)
			}
			return r.engineError(err)
		}
		return nil
	}
	if existing, err := r.api.NetworkInspect(ctx, n.Name, client.NetworkInspectOptions{}); err == nil {
		return checkOwner("network", n.Name, p.Name, existing.Network.Labels)
	} else if !cerrdefs.IsNotFound(err) {
		return r.engineError(err)
	}
	opts := client.NetworkCreateOptions{
		Driver: n.Driver, Internal: n.Internal, Attachable: n.Attachable, Options: n.Options,
		Labels: resourceLabels(p, n.Labels, model.LabelNetwork, key),
	}
	if n.EnableIPv6 {
		t := true
		opts.EnableIPv6 = &t
	}
	if len(n.Subnets) > 0 {
		ipam := &network.IPAM{}
		for _, s := range n.Subnets {
			prefix, err := netip.ParsePrefix(s)
			if err != nil {
				return fmt.Errorf("network %q: subnet %q is not a CIDR prefix such as 172.28.0.0/16", key, s)
			}
			ipam.Config = append(ipam.Config, network.IPAMConfig{Subnet: prefix})
		}
		opts.IPAM = ipam
	}
	// Creates of one name are serialised here; other processes are
	// dealt with after the fact, below.
	unlock := r.lockName("network:" + n.Name)
	defer unlock()
	if _, err := r.api.NetworkInspect(ctx, n.Name, client.NetworkInspectOptions{}); err == nil {
		return nil // made while we waited
	}
	if _, err := r.api.NetworkCreate(ctx, n.Name, opts); err != nil {
		return fmt.Errorf("unable to create network %s: %w", n.Name, r.engineError(err))
	}
	return r.dedupeNetwork(ctx, n.Name)
}

// dedupeNetwork keeps the oldest of the networks named name. API 1.41
// creates a second network of a name when two creates race (this client
// cannot send CheckDuplicate), and a name that names two networks breaks
// every later call. Every racer keeps the same one, so they agree.
func (r *Runtime) dedupeNetwork(ctx context.Context, name string) error {
	res, err := r.api.NetworkList(ctx, client.NetworkListOptions{Filters: client.Filters{}.Add("name", name)})
	if err != nil {
		return r.engineError(err)
	}
	var same []network.Summary
	for _, n := range res.Items {
		if n.Name == name { // the filter matches substrings
			same = append(same, n)
		}
	}
	sort.Slice(same, func(i, j int) bool {
		if !same[i].Created.Equal(same[j].Created) {
			return same[i].Created.Before(same[j].Created)
		}
		return same[i].ID < same[j].ID
	})
	for _, dup := range same[min(1, len(same)):] {
		if _, err := r.api.NetworkRemove(ctx, dup.ID, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("network %s was created twice and the copy %s cannot be removed: %w", name, shortID(dup.ID), err)
		}
	}
	return nil
}

// lockName serialises work on one engine object within this process.
func (r *Runtime) lockName(name string) (unlock func()) {
	mu, _ := r.names.LoadOrStore(name, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	return mu.(*sync.Mutex).Unlock
}

// checkOwner refuses to adopt a resource another project made.
func checkOwner(kind, name, project string, labels map[string]string) error {
	if owner := labels[model.LabelProject]; owner != "" && owner != project {
		return fmt.Errorf("%s %s already exists and belongs to project %q: remove it (`docker %s rm %s`) or rename this project", kind, name, owner, kind, name)
	}
	return nil
}

// CreateVolume creates the project volume key. An external volume must
// exist already.
func (r *Runtime) CreateVolume(ctx context.Context, p *model.Project, key string) error {
	v, ok := p.Volumes[key]
	if !ok {
		return fmt.Errorf("volume %q is not defined in the compose file", key)
	}
	existing, err := r.api.VolumeInspect(ctx, v.Name, client.VolumeInspectOptions{})
	switch {
	case err == nil && !v.External:
		return checkOwner("volume", v.Name, p.Name, existing.Volume.Labels)
	case err == nil:
		return nil
	case !cerrdefs.IsNotFound(err):
		return r.engineError(err)
	case v.External:
		return fmt.Errorf("volume %q is declared external, but the engine has no volume %q: create it with `docker volume create %s`", key, v.Name, v.Name)
	}
	_, err = r.api.VolumeCreate(ctx, client.VolumeCreateOptions{Name: v.Name, Driver: v.Driver, DriverOpts: v.Options,
		Labels: resourceLabels(p, v.Labels, model.LabelVolume, key)})
	if err != nil {
		return fmt.Errorf("unable to create volume %s: %w", v.Name, r.engineError(err))
	}
	return nil
}

// RemoveNetwork removes a network; a missing one is no error.
func (r *Runtime) RemoveNetwork(ctx context.Context, name string) error {
	_, err := r.api.NetworkRemove(ctx, name, client.NetworkRemoveOptions{})
	if err == nil || cerrdefs.IsNotFound(err) {
		return nil
	}
	if strings.Contains(err.Error(), "has active endpoints") {
		return fmt.Errorf("unable to remove network %s: %w; %s", name, err, r.heldBy(ctx, name))
	}
	return fmt.Errorf("unable to remove network %s: %w", name, r.engineError(err))
}

// heldBy says what keeps a network from being removed, and what to do: the
// containers still attached to it (another project's or the user's own,
// never removed by down), or, when none is, the engine's own leak. Docker
// 20.10 can keep counting the endpoint of a container removed while it
// still cleaned up after its exit (seen with 200 containers at load 40,
// with Compose, devstack and plain API calls alike) until it restarts.
func (r *Runtime) heldBy(ctx context.Context, name string) string {
	n, err := r.api.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err != nil {
		return "the engine says containers are still attached to it"
	}
	var names []string
	for _, c := range n.Network.Containers {
		names = append(names, c.Name)
	}
	if len(names) > 0 {
		slices.Sort(names)
		return fmt.Sprintf("containers that are not the project's are attached to it (%s): disconnect them with `docker network disconnect %s NAME`, then run down again",
			strings.Join(names, ", "), name)
	}
	return "no container is attached to it: the engine still counts an endpoint of a container already removed (a Docker engine defect under load), " +
		"which goes when the engine restarts (`sudo systemctl restart docker`); until then the next up uses the network as it is"
}

// RemoveVolume removes a volume; a missing one is no error.
func (r *Runtime) RemoveVolume(ctx context.Context, name string) error {
	_, err := r.api.VolumeRemove(ctx, name, client.VolumeRemoveOptions{})
	if err == nil || cerrdefs.IsNotFound(err) {
		return nil
	}
	return fmt.Errorf("unable to remove volume %s: %w", name, r.engineError(err))
}
