package docker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"devstack/engine/event"
)

// Push tags a local image as ref and pushes it with the registry's
// credentials (as for pulls), returning the digest the registry gave it:
// a cluster then runs exactly the image that was built.
func (r *Runtime) Push(ctx context.Context, image, ref string, sink event.Sink) (string, error) {
	if _, err := r.api.ImageTag(ctx, client.ImageTagOptions{Source: image, Target: ref}); err != nil {
		return "", fmt.Errorf("unable to tag %s as %s: %w", image, ref, err)
	}
	auth, err := pullAuth(ref)
	if err != nil {
		return "", fmt.Errorf("unable to push %s: registry credentials: %w", ref, err)
	}
	if auth == "" {
		// The engine refuses a push without the header ("missing
		// X-Registry-Auth"); the docker CLI sends an empty login.
		auth = base64.URLEncoding.EncodeToString([]byte("{}"))
	}
	res, err := r.api.ImagePush(ctx, ref, client.ImagePushOptions{RegistryAuth: auth})
	if err != nil {
		return "", fmt.Errorf("unable to push %s: %w", ref, err)
	}
	defer res.Close()
	digest := ""
	for m, merr := range res.JSONMessages(ctx) {
		if merr != nil {
			return "", fmt.Errorf("unable to push %s: %w", ref, merr)
		}
		if m.Error != nil {
			return "", fmt.Errorf("the registry refused %s: %s", ref, m.Error.Message)
		}
		if m.Aux != nil {
			var aux struct{ Digest string }
			if json.Unmarshal(*m.Aux, &aux) == nil && aux.Digest != "" {
				digest = aux.Digest
			}
		}
		if m.Status != "" && m.ID != "" && (m.Progress == nil || m.Progress.Total == 0) {
			sink.Publish(event.Progress{Time: time.Now(), Kind: event.KindImage, Name: ref, Action: "pushing", Detail: m.ID + ": " + m.Status})
		}
	}
	if !strings.HasPrefix(digest, "sha256:") {
		return "", errors.New("the registry gave no digest for " + ref)
	}
	return digest, nil
}

// PushedDigest returns the digest under which image was last pushed to
// repo (the engine remembers it in RepoDigests), so that an unchanged
// image is not pushed again; "" when it never was.
func (r *Runtime) PushedDigest(ctx context.Context, image, repo string) (string, error) {
	res, err := r.api.ImageInspect(ctx, image)
	if err != nil {
		return "", fmt.Errorf("unable to inspect image %s: %w", image, err)
	}
	for _, d := range res.RepoDigests {
		if name, digest, ok := strings.Cut(d, "@"); ok && name == repo {
			return digest, nil
		}
	}
	return "", nil
}
