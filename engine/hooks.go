package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"devstack/engine/event"
	"devstack/engine/model"
)

// runHooks runs a service's post_start or pre_stop hooks in a container,
// one after the other, as Compose does: each is an exec with the hook's
// user, privileges, working directory and environment. Its output is
// published as the container's log lines (prefixed "name ->", Compose's
// way of telling them from the service's own) and, when a hook fails, is
// part of the error, which stops the operation: a failed post_start
// fails the start, a failed pre_stop keeps the container from stopping.
func (e *Engine) runHooks(ctx context.Context, kind string, hooks []model.Hook, svc *model.Service, name, id string, replica int) error {
	for _, h := range hooks {
		var out bytes.Buffer
		code, err := e.rt.Exec(ctx, id, ExecOptions{Cmd: h.Command, User: h.User, Privileged: h.Privileged,
			WorkDir: h.WorkingDir, Env: hookEnv(h.Environment), Stdout: &out, Stderr: &out})
		text := strings.TrimRight(out.String(), "\n")
		if text != "" {
			for _, line := range strings.Split(text, "\n") {
				e.sink.Publish(event.Log{Time: e.now(), Service: svc.Name, Container: name + " ->", Replica: replica, Stream: "stdout", Line: line})
			}
		}
		switch {
		case err != nil:
			return fmt.Errorf("service %q: container %s: %s hook %s: %w", svc.Name, name, kind, quoteCommand(h.Command), err)
		case code != 0:
			msg := fmt.Sprintf("service %q: container %s: %s hook %s exited with status %d", svc.Name, name, kind, quoteCommand(h.Command), code)
			if text != "" {
				msg += "; its output:\n" + tail(text, 20)
			}
			return fmt.Errorf("%s", msg)
		}
	}
	return nil
}

// PostStart runs the service's post_start hooks in a container that
// has just started outside a plan: a one-off `run` container, as Compose
// runs them for it. A container that exited before a hook could run is
// ErrNotRunning.
func (e *Engine) PostStart(ctx context.Context, svc *model.Service, name, id string) error {
	err := e.runHooks(ctx, "post_start", svc.PostStart, svc, name, id, 0)
	if err != nil && strings.Contains(err.Error(), "is not running") {
		return fmt.Errorf("%w: %w", ErrNotRunning, err)
	}
	return err
}

// ErrNotRunning is wrapped by PostStart's error when the container was
// no longer running for its hook.
var ErrNotRunning = errors.New("the container is not running")

func hookEnv(env map[string]*string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		if v == nil {
			out = append(out, k)
		} else {
			out = append(out, k+"="+*v)
		}
	}
	sort.Strings(out)
	return out
}

func quoteCommand(cmd []string) string {
	q := make([]string, len(cmd))
	for i, c := range cmd {
		q[i] = fmt.Sprintf("%q", c)
	}
	return "[" + strings.Join(q, " ") + "]"
}

// tail keeps the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
