package docker

import (
	"context"
	"sort"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"devstack/engine/model"
)

// VolumeInfo describes one engine volume by name; Found is false when the
// engine has none of that name.
func (r *Runtime) VolumeInfo(ctx context.Context, name string) (model.VolumeInfo, error) {
	res, err := r.api.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return model.VolumeInfo{Name: name}, nil
	}
	if err != nil {
		return model.VolumeInfo{}, r.engineError(err)
	}
	v := res.Volume
	return model.VolumeInfo{Name: v.Name, Found: true, Driver: v.Driver, Mountpoint: v.Mountpoint, Labels: v.Labels}, nil
}

// VolumeUsers lists every container on the engine that mounts the
// volume, whatever its project and state, sorted by name.
func (r *Runtime) VolumeUsers(ctx context.Context, name string) ([]model.Container, error) {
	res, err := r.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("volume", name)})
	if err != nil {
		return nil, r.engineError(err)
	}
	var out []model.Container
	for _, c := range res.Items {
		mc := model.Container{ID: c.ID, State: string(c.State), Labels: c.Labels, Image: c.Image}
		if len(c.Names) > 0 {
			mc.Name = strings.TrimPrefix(c.Names[0], "/")
		}
		mc.Service = c.Labels[model.LabelService]
		for _, m := range c.Mounts {
			if m.Name != "" {
				mc.Volumes = append(mc.Volumes, m.Name)
			}
		}
		out = append(out, mc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// NetworkLabels says whether the engine has a network of that name, and
// its labels.
func (r *Runtime) NetworkLabels(ctx context.Context, name string) (bool, map[string]string, error) {
	res, err := r.api.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return false, nil, nil
	}
	if err != nil {
		return false, nil, r.engineError(err)
	}
	return true, res.Network.Labels, nil
}
