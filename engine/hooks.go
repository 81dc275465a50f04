package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"devstack/engine/event"
	"devstack/engine/model"
	"devstack/engine/plan"
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
		text := e.publishOutput(svc.Name, name+" ->", replica, &out)
		what := fmt.Sprintf("service %q: container %s: %s hook %s", svc.Name, name, kind, quoteCommand(h.Command))
		if err := stepFailed(what, code, err, text); err != nil {
			return err
		}
	}
	return nil
}

// publishOutput publishes a hook's or step's output as log lines of
// container and returns it without its last line end.
func (e *Engine) publishOutput(service, container string, replica int, out *bytes.Buffer) string {
	text := strings.TrimRight(out.String(), "\n")
	if text != "" {
		for _, line := range strings.Split(text, "\n") {
			e.sink.Publish(event.Log{Time: e.now(), Service: service, Container: container, Replica: replica, Stream: "stdout", Line: line})
		}
	}
	return text
}

// stepFailed is the error of a hook or step, what, that could not run
// (err) or exited with a non-zero code, with the end of its output; nil
// when it succeeded.
func stepFailed(what string, code int, err error, text string) error {
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	case code != 0:
		msg := fmt.Sprintf("%s exited with status %d", what, code)
		if text != "" {
			msg += "; its output:\n" + tail(text, 20)
		}
		return errors.New(msg)
	}
	return nil
}

// PostStart runs the service's post_start hooks in a container that
// has just started outside a plan: a one-off `run` container, as Compose
// runs them for it. A container that exited before a hook could run is
// ErrNotRunning.
func (e *Engine) PostStart(ctx context.Context, svc *model.Service, name, id string) error {
	err := e.runHooks(ctx, "post_start", svc.PostStart, svc, name, id, 0)
	if notRunning(err) {
		return fmt.Errorf("%w: %w", ErrNotRunning, err)
	}
	return err
}

// preStop runs the service's pre_stop hooks before a stop or restart
// op. A container already stopped has nothing for them to act on: that
// is not an error.
func (a *applier) preStop(ctx context.Context, o *plan.Op, svc *model.Service) error {
	if svc == nil {
		return nil
	}
	if err := a.e.runHooks(ctx, "pre_stop", svc.PreStop, svc, o.Name, a.id(o), o.Number); !notRunning(err) {
		return err
	}
	return nil
}

// notRunning tells a hook's error that the engine refused its exec
// because the container is not running (its message, the one mark the
// engine gives it).
func notRunning(err error) bool {
	return err != nil && strings.Contains(err.Error(), "is not running")
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

// preStartGate runs a service's pre_start steps once for all its
// containers starting in one apply.
type preStartGate struct {
	once sync.Once
	err  error
}

// preStart runs the service's pre_start steps before the start of a
// container this apply created, once for the service (its other
// replicas wait for them), and only when none of its containers is
// running already (as Compose: a first up, a recreate, not a scale-up or
// the start of a stopped container).
func (a *applier) preStart(ctx context.Context, o *plan.Op, svc *model.Service) error {
	if svc == nil || len(svc.PreStart) == 0 {
		return nil
	}
	a.mu.Lock()
	_, created := a.ids[o.Name]
	g := a.preStarts[svc.Name]
	if g == nil {
		g = &preStartGate{}
		a.preStarts[svc.Name] = g
	}
	a.mu.Unlock()
	if !created && o.Replaces == nil {
		return nil
	}
	g.once.Do(func() { g.err = a.e.runPreStart(ctx, a.p, svc, a.id(o)) })
	return g.err
}

// runPreStart runs each pre_start step in its own container, in order,
// to completion: the service's container as it is made, with the step's
// image, command, entrypoint, user, working directory, privileges and
// environment (over the service's), the volumes of the container about
// to start (volumes_from), its secrets and configs and the service's
// networks, no ports. Its output is published as log lines of the step's
// container; a step that fails stops the service's start with that
// output.
//
// A step's container is removed without the engine's RemoveVolumes,
// which takes the anonymous volumes a container got through volumes_from
// as its own: the service's data would then survive only while another
// container still held it. The volumes the step made itself (its
// image's VOLUMEs where the service mounts nothing) are removed by name,
// as those the service's container does not mount.
func (e *Engine) runPreStart(ctx context.Context, p *model.Project, svc *model.Service, id string) error {
	cs, err := e.rt.ListContainers(ctx, false, model.LabelProject+"="+p.Name, model.LabelService+"="+svc.Name)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if !c.OneOff && c.ID != id && c.State == model.StateRunning {
			return nil // a replica runs: the steps have done their work
		}
	}
	target, err := e.rt.InspectContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("service %q: pre_start: %w", svc.Name, err)
	}
	for i, st := range svc.PreStart {
		one := *svc
		if st.Image != "" {
			one.Image = st.Image
		}
		if st.Command != nil {
			one.Command = st.Command
		}
		if st.Entrypoint != nil {
			one.Entrypoint = st.Entrypoint
		}
		if st.User != "" {
			one.User = st.User
		}
		if st.WorkingDir != "" {
			one.WorkingDir = st.WorkingDir
		}
		if len(st.Environment) > 0 {
			env := maps.Clone(svc.Environment)
			if env == nil {
				env = map[string]*string{}
			}
			maps.Copy(env, st.Environment)
			one.Environment = env
		}
		one.Privileged = svc.Privileged || st.Privileged
		// The container's volumes come through volumes_from (tmpfs
		// mounts do not); secrets and configs are copied in as for it.
		one.Ports, one.Volumes, one.Tmpfs = nil, nil, nil
		one.VolumesFrom = []string{"container:" + id}
		one.Healthcheck, one.Restart, one.ContainerName = nil, "no", ""
		one.PostStart, one.PreStop, one.PreStart = nil, nil, nil
		one.Tty, one.StdinOpen, one.Replicas = false, false, 1
		name := fmt.Sprintf("%s-%s-pre_start-%d", p.Name, svc.Name, i+1)
		// One a killed run left behind: which of its volumes it made
		// itself is no longer known, so all stay (labelled with the
		// project, down -v removes them).
		_ = e.rt.RemoveContainer(ctx, name, false)
		cid, err := e.rt.CreateContainer(ctx, p, &one, 1, CreateOptions{Name: name, OneOff: true})
		if err != nil {
			return fmt.Errorf("service %q: pre_start step %d: %w", svc.Name, i+1, err)
		}
		var out bytes.Buffer
		code, err := e.rt.AttachStart(ctx, cid, ExecOptions{Stdout: &out, Stderr: &out})
		e.removeStep(context.WithoutCancel(ctx), cid, target.Volumes)
		text := e.publishOutput(svc.Name, name, 0, &out)
		switch {
		case err != nil:
			return fmt.Errorf("service %q: pre_start step %d: %w", svc.Name, i+1, err)
		case code != 0:
			return stepFailed(fmt.Sprintf("service %q: pre_start step %d %s", svc.Name, i+1, quoteCommand(one.Command)), code, nil, text)
		}
	}
	return nil
}

// removeStep removes a pre_start step's container, then the volumes it
// mounted that are not among keep (the service container's): those the
// step made itself.
func (e *Engine) removeStep(ctx context.Context, id string, keep []string) {
	c, err := e.rt.InspectContainer(ctx, id)
	if rmErr := e.rt.RemoveContainer(ctx, id, false); err != nil || rmErr != nil {
		return
	}
	for _, v := range c.Volumes {
		if !slices.Contains(keep, v) {
			_ = e.rt.RemoveVolume(ctx, v)
		}
	}
}
