package docker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/client"

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
func (r *Runtime) ListContainers(ctx context.Context, all bool) ([]model.Container, error) {
	res, err := r.api.ContainerList(ctx, client.ContainerListOptions{All: all, Filters: client.Filters{}.
		Add("label", model.LabelProject).Add("label", model.LabelNumber)})
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
