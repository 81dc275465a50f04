package docker

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/client"

	"devstack/engine/model"
)

// TagDigests says what an image tag means on this engine and in its
// registry now: the digests the engine's image of that tag was pulled or
// pushed under, and the digest the registry resolves the tag to (asked
// through the engine, with the credentials `docker login` keeps, so it
// works on a remote engine and with the engine's own registry settings).
// Pinned is the reference that pulls the registry's image without moving
// the tag. A registry that cannot be asked is an error.
func (r *Runtime) TagDigests(ctx context.Context, ref string) (model.TagDigests, error) {
	out := model.TagDigests{Ref: ref}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return out, fmt.Errorf("image %q: %w", ref, err)
	}
	if _, ok := named.(reference.Digested); ok {
		return out, fmt.Errorf("image %q is pinned by digest already", ref)
	}
	repo := reference.TrimNamed(named)
	if img, err := r.api.ImageInspect(ctx, ref); err == nil {
		out.ImageID = img.ID
		for _, d := range img.RepoDigests {
			if n, err := reference.ParseNormalizedNamed(d); err == nil && n.Name() == repo.Name() {
				if dg, ok := n.(reference.Digested); ok {
					out.Local = append(out.Local, dg.Digest().String())
				}
			}
		}
	} else if !cerrdefs.IsNotFound(err) {
		return out, r.engineError(err)
	}
	auth, err := pullAuth(ref)
	if err != nil {
		return out, err
	}
	res, err := r.api.DistributionInspect(ctx, ref, client.DistributionInspectOptions{EncodedRegistryAuth: auth})
	if err != nil {
		return out, fmt.Errorf("unable to ask the registry what %s is now: %w", ref, r.engineError(err))
	}
	out.Registry = res.Descriptor.Digest.String()
	out.Pinned = reference.FamiliarString(repo) + "@" + out.Registry
	return out, nil
}
