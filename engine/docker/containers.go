package docker

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"devstack/engine"
	"devstack/engine/model"
)

// CreateContainer creates replica number of svc as compose would: its
// labels, config hash and networks; then it copies the secrets and
// configs in. Whatever fails after the engine made the container
// removes it again, so no half-made container is left behind.
func (r *Runtime) CreateContainer(ctx context.Context, p *model.Project, svc *model.Service, number int, o engine.CreateOptions) (string, error) {
	rf, err := r.resolveRefs(ctx, p, svc)
	if err != nil {
		return "", fmt.Errorf("service %q: %w", svc.Name, err)
	}
	s, err := containerSpec(p, svc, number, o, rf)
	if err != nil {
		return "", fmt.Errorf("service %q: %w", svc.Name, err)
	}
	if h, ok := svc.RefHash(rf.ids); ok {
		// Compose hashes the service with its references resolved.
		s.config.Labels[model.LabelConfigHash] = h
	}
	var imageID string
	var imageVolumes []string
	if o.Image != nil {
		// Seen by the observation the plan came from: Compose, too,
		// inspects each image once per up, not once per container.
		imageID, imageVolumes = o.Image.ID, slices.Clone(o.Image.Volumes)
	} else if imageID, imageVolumes, err = r.imageVolumes(ctx, svc.Image); err != nil {
		return "", fmt.Errorf("service %q: %w", svc.Name, err)
	}
	if imageID != "" {
		// Compose records the image's ID here and recreates a container
		// whose label differs: the same value keeps both tools agreeing.
		s.config.Labels[model.LabelImage] = imageID
	}
	var old []container.MountPoint
	if o.Replace != "" && o.InheritVolumes {
		res, err := r.api.ContainerInspect(ctx, o.Replace, client.ContainerInspectOptions{})
		switch {
		case err == nil:
			old = res.Container.Mounts
		case !cerrdefs.IsNotFound(err): // gone already: nothing left to carry over
			return "", fmt.Errorf("unable to read the volumes of container %s, which %s replaces: %w", shortID(o.Replace), s.name, r.engineError(err))
		}
	}
	var shared []string
	if len(imageVolumes) > 0 {
		if shared, err = r.sharedTargets(ctx, rf.sharers); err != nil {
			return "", fmt.Errorf("service %q: %w", svc.Name, err)
		}
	}
	anonymousVolumes(s.host, p, imageVolumes, shared, old)
	var id string
	var warnings []string
	switch {
	case s.mac != "":
		id, warnings, err = r.createWithMac(ctx, s)
	case r.ssh != nil:
		id, warnings, err = r.createCompact(ctx, s)
	default:
		var res client.ContainerCreateResult
		res, err = r.api.ContainerCreate(ctx, client.ContainerCreateOptions{
			Config: s.config, HostConfig: s.host, NetworkingConfig: s.network, Platform: s.platform, Name: s.name,
		})
		id, warnings = res.ID, res.Warnings
	}
	if err != nil {
		return "", fmt.Errorf("unable to create container %s: %w", s.name, r.engineError(err))
	}
	if o.Warn != nil {
		// What the engine dropped is said, as Compose says it.
		for _, w := range warnings {
			o.Warn("the engine: " + w)
		}
		if svc.UseAPISocket && r.Remote() {
			o.Warn(fmt.Sprintf("use_api_socket mounts the socket of the engine at %s (%s on that machine), not this machine's", r.host, rf.socket))
		}
	}
	// A replacement's volumes may be the old container's: its undoing
	// leaves every volume alone (fresh ones are labelled for down -v).
	undo := func() { _ = r.RemoveContainer(context.WithoutCancel(ctx), id, o.Replace == "") }
	for _, n := range s.extra {
		if _, err := r.api.NetworkConnect(ctx, n.name, client.NetworkConnectOptions{Container: id, EndpointConfig: n.settings}); err != nil {
			undo()
			return "", fmt.Errorf("unable to connect %s to network %s: %w", s.name, n.name, r.engineError(err))
		}
	}
	if err := r.injectFiles(ctx, p, svc, id); err != nil {
		undo()
		return "", fmt.Errorf("service %q: %w", svc.Name, err)
	}
	return id, nil
}

// sharedTargets lists where the containers a container takes volumes
// from (volumes_from, resolved: IDs or names) mount something: the
// targets it gets from them.
func (r *Runtime) sharedTargets(ctx context.Context, sharers []string) ([]string, error) {
	var out []string
	for _, c := range sharers {
		res, err := r.api.ContainerInspect(ctx, c, client.ContainerInspectOptions{})
		if err != nil {
			return nil, fmt.Errorf("unable to read the mounts of container %s (volumes_from): %w", c, r.engineError(err))
		}
		for _, m := range res.Container.Mounts {
			out = append(out, m.Destination)
		}
	}
	return out, nil
}

// imageVolumes returns the ID and VOLUMEs of an image; none when it is
// missing (the create that follows then says so).
func (r *Runtime) imageVolumes(ctx context.Context, ref string) (id string, volumes []string, err error) {
	res, err := r.api.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("unable to inspect image %s: %w", ref, r.engineError(err))
	}
	return res.ID, imageVolumeList(res.Config), nil
}

// imageVolumeList lists an image's VOLUMEs, sorted.
func imageVolumeList(c *dockerspec.DockerOCIImageConfig) []string {
	if c == nil {
		return nil
	}
	out := make([]string, 0, len(c.Volumes))
	for v := range c.Volumes {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// RenameContainer gives a container a new name.
func (r *Runtime) RenameContainer(ctx context.Context, id, name string) error {
	if _, err := r.api.ContainerRename(ctx, id, client.ContainerRenameOptions{NewName: name}); err != nil {
		return fmt.Errorf("unable to rename container %s to %s: %w", shortID(id), name, r.engineError(err))
	}
	return nil
}

// StartContainer starts a created or stopped container.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	if _, err := r.api.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("unable to start container %s: %w", shortID(id), r.engineError(err))
	}
	return nil
}

// seconds rounds a grace period up to whole seconds (the API's unit), so
// that a short one is not cut to an immediate kill.
func seconds(d *time.Duration) *int {
	if d == nil {
		return nil
	}
	s := int((*d + time.Second - 1) / time.Second)
	return &s
}

// StopContainer stops with the given grace period; a missing container
// is already stopped.
func (r *Runtime) StopContainer(ctx context.Context, id string, timeout *time.Duration) error {
	_, err := r.api.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: seconds(timeout)})
	if err == nil || cerrdefs.IsNotFound(err) {
		return nil
	}
	return fmt.Errorf("unable to stop container %s: %w", shortID(id), r.engineError(err))
}

// KillContainer sends a signal ("" means SIGKILL).
func (r *Runtime) KillContainer(ctx context.Context, id, signal string) error {
	if _, err := r.api.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: signal}); err != nil {
		return fmt.Errorf("unable to kill container %s: %w", shortID(id), r.engineError(err))
	}
	return nil
}

// RestartContainer stops and starts a container.
func (r *Runtime) RestartContainer(ctx context.Context, id string, timeout *time.Duration) error {
	if _, err := r.api.ContainerRestart(ctx, id, client.ContainerRestartOptions{Timeout: seconds(timeout)}); err != nil {
		return fmt.Errorf("unable to restart container %s: %w", shortID(id), r.engineError(err))
	}
	return nil
}

// RemoveContainer force-removes a container, with its anonymous volumes
// if volumes is set; a missing one, or one already being removed, is no
// error.
func (r *Runtime) RemoveContainer(ctx context.Context, id string, volumes bool) error {
	_, err := r.api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: volumes})
	if err == nil || cerrdefs.IsNotFound(err) {
		return nil
	}
	if strings.Contains(err.Error(), "is already in progress") {
		// Someone else's removal (a run cut short left it going): the
		// name is free only once it ends, and a create may be next.
		return r.waitGone(ctx, id)
	}
	return fmt.Errorf("unable to remove container %s: %w", shortID(id), r.engineError(err))
}

// removalWait bounds the wait for a removal already under way.
const removalWait = time.Minute

// waitGone polls until the engine no longer knows the container.
func (r *Runtime) waitGone(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, removalWait)
	defer cancel()
	for {
		_, err := r.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("container %s is still being removed after %s: %w", shortID(id), removalWait, ctx.Err())
		case <-time.After(50 * time.Millisecond): // polling with a deadline
		}
	}
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
