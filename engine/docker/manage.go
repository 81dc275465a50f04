package docker

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"devstack/engine"
	"devstack/engine/model"
)

// PauseContainer freezes a container's processes.
func (r *Runtime) PauseContainer(ctx context.Context, id string) error {
	if _, err := r.api.ContainerPause(ctx, id, client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("unable to pause container %s: %w", shortID(id), r.engineError(err))
	}
	return nil
}

// UnpauseContainer thaws a paused container.
func (r *Runtime) UnpauseContainer(ctx context.Context, id string) error {
	if _, err := r.api.ContainerUnpause(ctx, id, client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("unable to unpause container %s: %w", shortID(id), r.engineError(err))
	}
	return nil
}

// ListContainers lists every compose project's containers in one list
// call: `ls` across ten projects is this one round trip, no inspect.
// The container-number label leaves out the legacy builder's
// intermediate containers (see containerFilter).
func (r *Runtime) ListContainers(ctx context.Context, all bool, labels ...string) ([]model.Container, error) {
	res, err := r.api.ContainerList(ctx, client.ContainerListOptions{All: all, Filters: client.Filters{}.
		Add("label", model.LabelProject).Add("label", model.LabelNumber).Add("label", labels...)})
	if err != nil {
		return nil, r.engineError(err)
	}
	out := make([]model.Container, 0, len(res.Items))
	for _, c := range res.Items {
		m := model.Container{ID: c.ID, Image: c.Image, ImageID: c.ImageID, State: string(c.State), Labels: c.Labels,
			Service: c.Labels[model.LabelService], OneOff: strings.EqualFold(c.Labels[model.LabelOneOff], "true"),
			ConfigHash: c.Labels[model.LabelConfigHash], Created: time.Unix(c.Created, 0)}
		m.Number, _ = strconv.Atoi(c.Labels[model.LabelNumber])
		if len(c.Names) > 0 {
			m.Name = strings.TrimPrefix(c.Names[0], "/")
		}
		out = append(out, m)
	}
	return out, nil
}

// WaitContainer blocks until the container is not running and returns
// its exit code.
func (r *Runtime) WaitContainer(ctx context.Context, id string) (int, error) {
	res := r.api.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case w := <-res.Result:
		if w.Error != nil && w.Error.Message != "" {
			return int(w.StatusCode), fmt.Errorf("container %s: %s", shortID(id), w.Error.Message)
		}
		return int(w.StatusCode), nil
	case err := <-res.Error:
		return -1, fmt.Errorf("unable to wait for container %s: %w", shortID(id), r.engineError(err))
	}
}

// Top lists a container's processes (ps -ef inside its namespace).
func (r *Runtime) Top(ctx context.Context, id string) (model.Processes, error) {
	res, err := r.api.ContainerTop(ctx, id, client.ContainerTopOptions{})
	if err != nil {
		return model.Processes{}, fmt.Errorf("unable to list the processes of container %s: %w", shortID(id), r.engineError(err))
	}
	return model.Processes{Titles: res.Titles, Processes: res.Processes}, nil
}

// ImageOf describes the image with the given ID (a container's
// ImageID); ref, the reference the container was created from, picks
// which of its tags to show.
func (r *Runtime) ImageOf(ctx context.Context, id, ref string) (model.Image, error) {
	res, err := r.api.ImageInspect(ctx, id)
	if err != nil {
		return model.Image{}, fmt.Errorf("unable to inspect image %s: %w", shortID(strings.TrimPrefix(id, "sha256:")), r.engineError(err))
	}
	img := model.Image{ID: res.ID, Size: res.Size, Platform: res.Os + "/" + res.Architecture}
	if res.Variant != "" {
		img.Platform += "/" + res.Variant
	}
	img.Created, _ = time.Parse(time.RFC3339Nano, res.Created)
	tag := ""
	for _, t := range res.RepoTags {
		if t == ref || tag == "" {
			tag = t
		}
	}
	if i := strings.LastIndex(tag, ":"); i > 0 && !strings.Contains(tag[i:], "/") {
		img.Repository, img.Tag = tag[:i], tag[i+1:]
	} else {
		img.Repository = tag
	}
	return img, nil
}

// StatsOnce takes one sample, the engine comparing two a second apart
// for the CPU share (as `docker stats --no-stream`).
func (r *Runtime) StatsOnce(ctx context.Context, id string) (model.Usage, error) {
	res, err := r.api.ContainerStats(ctx, id, client.ContainerStatsOptions{Stream: false})
	if err != nil {
		return model.Usage{}, fmt.Errorf("unable to read the usage of container %s: %w", shortID(id), r.engineError(err))
	}
	defer res.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		return model.Usage{}, fmt.Errorf("unable to read the usage of container %s: %w", shortID(id), err)
	}
	return usage(&s), nil
}

func usage(s *container.StatsResponse) model.Usage {
	cpu, mem, limit := statsSample(s)
	u := model.Usage{CPUPercent: cpu, Memory: mem, Limit: limit, PIDs: s.PidsStats.Current}
	for _, n := range s.Networks {
		u.NetRx += n.RxBytes
		u.NetTx += n.TxBytes
	}
	return u
}

// Attach connects the standard streams to a running container's main
// process until it ends or the detach keys are typed (the engine itself
// watches for them, on a terminal's stdin); detached reports the latter.
func (r *Runtime) Attach(ctx context.Context, id string, o engine.AttachOptions) (detached bool, err error) {
	insp, err := r.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return false, r.engineError(err)
	}
	tty := insp.Container.Config != nil && insp.Container.Config.Tty
	att, err := r.api.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdin: o.Stdin != nil, Stdout: true, Stderr: true, DetachKeys: o.DetachKeys})
	if err != nil {
		return false, fmt.Errorf("unable to attach to container %s: %w", shortID(id), r.engineError(err))
	}
	defer att.Close()
	done := make(chan struct{})
	defer close(done)
	if tty {
		go forwardResize(ctx, done, o.Resize, func(size engine.TermSize) error {
			_, err := r.api.ContainerResize(ctx, id, client.ContainerResizeOptions{Width: size.Width, Height: size.Height})
			return err
		})
	}
	if err := pipe(ctx, att.HijackedResponse, engine.ExecOptions{Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr}, tty); err != nil {
		return false, err
	}
	// The stream ended: the process exited, or the engine let go of us
	// because the detach keys came; only in the latter does it still run.
	now, err := r.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return false, nil
	}
	return now.Container.State != nil && now.Container.State.Running, nil
}

// StatPath describes a path inside a container; a missing one is
// reported with Exists false, not as an error.
func (r *Runtime) StatPath(ctx context.Context, id, p string) (engine.PathInfo, error) {
	res, err := r.api.ContainerStatPath(ctx, id, client.ContainerStatPathOptions{Path: p})
	if cerrdefs.IsNotFound(err) {
		return engine.PathInfo{}, nil
	}
	if err != nil {
		return engine.PathInfo{}, fmt.Errorf("unable to look at %s in container %s: %w", p, shortID(id), r.engineError(err))
	}
	return engine.PathInfo{Exists: true, Dir: res.Stat.Mode.IsDir(), LinkTarget: res.Stat.LinkTarget}, nil
}

// CopyInto is CopyTo with docker cp's -a: ContainerOwner asks the engine
// for the same CopyUIDGID docker cp -a asks for.
func (r *Runtime) CopyInto(ctx context.Context, id, dir string, tar io.Reader, o engine.CopyIntoOptions) error {
	if !o.ContainerOwner {
		return r.CopyTo(ctx, id, dir, tar)
	}
	br := bufio.NewReader(tar)
	head, _ := br.Peek(6)
	if kind := compression(head); kind != "" {
		return fmt.Errorf("unable to copy into %s:%s: the archive is %s-compressed: send it uncompressed", shortID(id), dir, kind)
	}
	if _, err := r.api.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: dir, Content: br, CopyUIDGID: true}); err != nil {
		return fmt.Errorf("unable to copy into %s:%s: %w", shortID(id), dir, r.engineError(err))
	}
	return nil
}
