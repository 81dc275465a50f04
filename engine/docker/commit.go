package docker

import (
	"context"
	"fmt"
	"io"

	"github.com/moby/moby/client"
)

// CommitContainer commits a container's filesystem changes as an image
// tagged ref (the container is paused meanwhile, so the image is whole).
func (r *Runtime) CommitContainer(ctx context.Context, id, ref string) (string, error) {
	res, err := r.api.ContainerCommit(ctx, id, client.ContainerCommitOptions{Reference: ref, Comment: "devstack snapshot"})
	if err != nil {
		return "", fmt.Errorf("unable to commit container %s: %w", shortID(id), r.engineError(err))
	}
	return res.ID, nil
}

// SaveImage streams an image in `docker save` format; the caller closes it.
func (r *Runtime) SaveImage(ctx context.Context, ref string) (io.ReadCloser, error) {
	res, err := r.api.ImageSave(ctx, []string{ref})
	if err != nil {
		return nil, fmt.Errorf("unable to save image %s: %w", ref, r.engineError(err))
	}
	return res, nil
}

// LoadImage loads images in `docker save` format.
func (r *Runtime) LoadImage(ctx context.Context, in io.Reader) error {
	res, err := r.api.ImageLoad(ctx, in, client.ImageLoadWithQuiet(true))
	if err != nil {
		return fmt.Errorf("unable to load an image: %w", r.engineError(err))
	}
	defer res.Close()
	_, err = io.Copy(io.Discard, res)
	return err
}
