package docker

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/moby/moby/client"
)

// CopyTo extracts an uncompressed tar stream into dir in the container.
// A compressed stream is refused before anything reaches the engine:
// engines before 29.5.1 unpack it with a decompressor (unpigz, xz) found
// inside the container's filesystem, run as root on the engine's host
// (CVE-2026-41567), so a malicious image would own that host. Compress
// inside the container instead (the sync agent's own gzip runs with the
// container's privileges). Owners and modes are the tar's own
// (CopyUIDGID would replace the owners with the container user's).
func (r *Runtime) CopyTo(ctx context.Context, id, dir string, tar io.Reader) error {
	br := bufio.NewReader(tar)
	head, _ := br.Peek(6)
	if kind := compression(head); kind != "" {
		return fmt.Errorf("unable to copy into %s:%s: the archive is %s-compressed, and the engine would unpack it with a program of the container's, as root on its host: send it uncompressed", shortID(id), dir, kind)
	}
	_, err := r.api.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: dir, Content: br})
	if err != nil {
		return fmt.Errorf("unable to copy into %s:%s: %w", shortID(id), dir, r.engineError(err))
	}
	return nil
}

// compression names the compression the engine would detect at the
// start of an archive (its DecompressStream's magic numbers), "" for none.
func compression(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b, 0x08}):
		return "gzip"
	case bytes.HasPrefix(head, []byte("BZh")):
		return "bzip2"
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return "xz"
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd"
	}
	return ""
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
