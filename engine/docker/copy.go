package docker

import (
	"context"
	"fmt"
	"io"

	"github.com/moby/moby/client"
)

// CopyTo extracts an uncompressed tar stream into dir in the container.
// The tar must not be compressed: the engine would run a decompressor
// found inside the container. Owners and modes are the tar's own
// (CopyUIDGID would replace the owners with the container user's).
func (r *Runtime) CopyTo(ctx context.Context, id, dir string, tar io.Reader) error {
	_, err := r.api.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: dir, Content: tar})
	if err != nil {
		return fmt.Errorf("unable to copy into %s:%s: %w", shortID(id), dir, r.engineError(err))
	}
	return nil
}

// CopyFrom returns a tar stream of path in the container; the caller
// closes it.
func (r *Runtime) CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, error) {
	res, err := r.api.CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: path})
	if err != nil {
		return nil, fmt.Errorf("unable to copy %s:%s: %w", shortID(id), path, r.engineError(err))
	}
	return res.Content, nil
}
