// Package docker implements engine.Runtime over the Docker Engine API with
// the moby client. It is the only package that speaks moby: the rest of
// devstack sees model types and events.
//
// Compose's container commands (`pause`, `unpause`, `kill`, `rm`, `create`, `scale`) are plans too
// (`plan.ForContainers`, `plan.Up` with `NoStart`/`NoDeps`), so `--dry-run` prints each plan instead of running it
// (`Engine.DryRun`); `ls` and `cp` find containers with one list call, without inspecting each.
//
// # Builds
//
// `engine/docker` builds with the engine's BuildKit: `ImageBuild` with `Version: BuilderBuildKit`, `RemoteContext:
// client-session` and the id of a session opened by `engine/docker/buildkit` through the moby client's
// `DialHijack("/session")`, which uses the client's own dialer (so an ssh:// engine's session rides the one SSH
// connection). The session serves the context and Dockerfile directories (BuildKit filters by `.dockerignore` and
// transfers only changes; the session's shared key is derived from the context path so the engine recognises it),
// build secrets, SSH agents or keys, and registry credentials. The response stream's `moby.buildkit.trace` aux
// messages (protobuf `StatusResponse`) are folded into steps and published as `event.BuildStep`s (started, output
// lines, done/cached/failed with duration and tail); `moby.image.id` carries the result. A cancelled build is
// cancelled on the engine (`BuildCancel`). What the API cannot carry (named contexts on the built-in frontend,
// cache exports other than inline, entitlements) is emulated (contexts become stages) or refused with the field
// named; see the comment at the top of `engine/docker/buildkit.go`. A build whose inputs (build section, Dockerfile, context after `.dockerignore`, local base image IDs, engine) match
// the digest recorded in the state directory for the image its tags still point at is not sent at all
// (`buildskip.go`; `engine/docker/buildinputs` walks and digests contexts, re-reading only files whose stat moved).
// The legacy builder (tar context, `Step N/M`
// lines) remains for engines without BuildKit and `DOCKER_BUILDKIT=0`.
package docker
