package docker

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"devstack/engine"
)

// RemoveImage removes an image reference, as `docker rmi` without
// --force: a reference another tag shares only loses this tag, and an
// image a container still uses is refused. Its untagged parent layers go
// with it. A missing reference is no error. Scratch rebuilds use it to
// remove the images they built.
func (r *Runtime) RemoveImage(ctx context.Context, ref string) error {
	_, err := r.api.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true})
	if err == nil || cerrdefs.IsNotFound(err) {
		return nil
	}
	if cerrdefs.IsConflict(err) {
		return fmt.Errorf("unable to remove image %s: %w: %w", ref, engine.ErrInUse, r.engineError(err))
	}
	return fmt.Errorf("unable to remove image %s: %w", ref, r.engineError(err))
}
