package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"devstack/engine/event"
)

// defaultPullStall is how long a pull may go without a word from the
// engine before it is given up. A layer download reports progress many
// times a second, so a minute of silence is a stalled registry.
const defaultPullStall = 60 * time.Second

var errPullStalled = errors.New("the engine reported no progress")

// Pull pulls an image, publishing progress, and fails clearly when no
// registry can be reached. It never hangs: ctx bounds it, and so does a
// stall timer reset by every message of the engine.
func (r *Runtime) Pull(ctx context.Context, ref string, sink event.Sink) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(r.pullStall, func() { cancel(errPullStalled) })
	defer stall.Stop()

	// The engine's executor reports the pull's start and end; here go
	// the registry's own steps ("abc123: Pull complete").
	publish := func(detail string) {
		sink.Publish(event.Progress{Time: time.Now(), Kind: event.KindImage, Name: ref, Action: event.Pulling, Detail: detail})
	}
	auth, err := pullAuth(ref)
	if err != nil {
		return fmt.Errorf("unable to pull %s: registry credentials: %w", ref, err)
	}
	res, err := r.api.ImagePull(ctx, ref, client.ImagePullOptions{RegistryAuth: auth})
	if err == nil {
		defer res.Close()
		for m, merr := range res.JSONMessages(ctx) {
			stall.Reset(r.pullStall)
			if merr != nil {
				err = merr
				break
			}
			if m.Error != nil {
				err = errors.New(m.Error.Message)
				break
			}
			if m.Status != "" && (m.Progress == nil || m.Progress.Total == 0) {
				detail := m.Status
				if m.ID != "" {
					detail = m.ID + ": " + detail
				}
				publish(detail)
			}
		}
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		if errors.Is(context.Cause(ctx), errPullStalled) {
			err = fmt.Errorf("%w for %s", errPullStalled, r.pullStall)
		}
		if client.IsErrConnectionFailed(err) {
			return r.unreachable(err)
		}
		return pullError(ref, err)
	}
	return nil
}

// pullError says why a pull failed in words a user can act on.
func pullError(ref string, err error) error {
	if why := pullReason(ref, err); why != "" {
		return fmt.Errorf("unable to pull %s: %s", ref, why)
	}
	return fmt.Errorf("unable to pull %s: %w", ref, err)
}

// pullReason explains a failed pull of ref, or returns "" when the
// engine's message is not one it recognises.
func pullReason(ref string, err error) string {
	msg := err.Error()
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(msg, s) {
				return true
			}
		}
		return false
	}
	switch {
	case errors.Is(err, errPullStalled):
		return fmt.Sprintf("no registry could be reached: the registry stopped answering (%v); check the network, or build the image locally", err)
	case has("no such host", "dial tcp", "connection refused", "i/o timeout", "network is unreachable",
		"TLS handshake timeout", "Client.Timeout", "connection reset", "server misbehaving"):
		return fmt.Sprintf("no registry could be reached (the engine said: %v); "+
			"check the engine's network and proxy, or build the image locally (a build: section, or `docker build -t %s`) or load it with `docker load`",
			err, ref)
	case has("manifest unknown", "not found", "pull access denied", "repository does not exist"):
		return fmt.Sprintf("the registry does not have it, or needs a login (the engine said: %v); check the name and tag, or `docker login`", err)
	case has("unauthorized", "authentication required", "denied", "no basic auth credentials"):
		return fmt.Sprintf("the registry refused access (the engine said: %v); `docker login` first", err)
	}
	return ""
}
