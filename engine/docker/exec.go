package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"devstack/engine"
)

// Exec runs a command in a running container and returns its exit code.
// With Tty the output is one raw stream (to Stdout) and every size from
// Resize is applied; without, stdout and stderr are demultiplexed. Stdin,
// when given, is copied in and then closed, so the command sees its end.
func (r *Runtime) Exec(ctx context.Context, id string, o engine.ExecOptions) (int, error) {
	created, err := r.api.ExecCreate(ctx, id, client.ExecCreateOptions{
		User: o.User, WorkingDir: o.WorkDir, Env: o.Env, Cmd: o.Cmd, TTY: o.Tty, Privileged: o.Privileged,
		AttachStdin: o.Stdin != nil, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return -1, fmt.Errorf("unable to exec %s in container %s: %w", commandLine(o.Cmd), shortID(id), r.engineError(err))
	}
	att, err := r.api.ExecAttach(ctx, created.ID, client.ExecAttachOptions{TTY: o.Tty})
	if err != nil {
		return -1, fmt.Errorf("unable to exec %s in container %s: %w", commandLine(o.Cmd), shortID(id), r.engineError(err))
	}
	defer att.Close()
	done := make(chan struct{})
	defer close(done)
	if o.Tty {
		go forwardResize(ctx, done, o.Resize, func(size engine.TermSize) error {
			_, err := r.api.ExecResize(ctx, created.ID, client.ExecResizeOptions{Width: size.Width, Height: size.Height})
			return err
		})
	}
	if err := pipe(ctx, att.HijackedResponse, o, o.Tty); err != nil {
		return -1, err
	}
	return r.execExitCode(ctx, created.ID)
}

// execExitCode reads the exit code once the engine has recorded it; the
// output can end a moment before the exec is marked finished.
func (r *Runtime) execExitCode(ctx context.Context, execID string) (int, error) {
	deadline := time.Now().Add(10 * time.Second)
	wait := time.Millisecond
	for {
		res, err := r.api.ExecInspect(ctx, execID, client.ExecInspectOptions{})
		if err != nil {
			return -1, r.engineError(err)
		}
		if !res.Running {
			return res.ExitCode, nil
		}
		if time.Now().After(deadline) {
			return -1, errors.New("the command's output ended but the engine still reports it running")
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// forwardResize applies each terminal size until done or ctx ends.
func forwardResize(ctx context.Context, done <-chan struct{}, sizes <-chan engine.TermSize, resize func(engine.TermSize) error) {
	if sizes == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case size, ok := <-sizes:
			if !ok {
				return
			}
			_ = resize(size) // a resize racing the end of the process is harmless
		}
	}
}

// pipe copies stdin in and stdout/stderr out of a hijacked connection
// until the output ends. A reader on Stdin that never returns (a
// terminal) does not keep pipe waiting: only the output is waited for.
func pipe(ctx context.Context, h client.HijackedResponse, o engine.ExecOptions, tty bool) error {
	stdout, stderr := o.Stdout, o.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if o.Stdin != nil {
		go func() {
			_, _ = io.Copy(h.Conn, o.Stdin)
			_ = h.CloseWrite()
		}()
	}
	done := make(chan error, 1)
	go func() {
		var err error
		if tty {
			_, err = io.Copy(stdout, h.Reader)
		} else {
			_, err = stdcopy.StdCopy(stdout, stderr, h.Reader)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("unable to read the command's output: %w", err)
		}
		return nil
	case <-ctx.Done():
		h.Close()
		<-done
		return ctx.Err()
	}
}

// AttachStart attaches to a created container's streams (as `docker
// start -a`), starts it and returns its exit code once it ends.
func (r *Runtime) AttachStart(ctx context.Context, id string, o engine.ExecOptions) (int, error) {
	insp, err := r.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return -1, r.engineError(err)
	}
	tty := insp.Container.Config != nil && insp.Container.Config.Tty
	att, err := r.api.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdin: o.Stdin != nil, Stdout: true, Stderr: true})
	if err != nil {
		return -1, fmt.Errorf("unable to attach to container %s: %w", shortID(id), r.engineError(err))
	}
	defer att.Close()
	// Waiting is asked for before the start, so a quick exit is not missed.
	wait := r.api.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if err := r.StartContainer(ctx, id); err != nil {
		return -1, err
	}
	if o.Started != nil {
		o.Started()
	}
	done := make(chan struct{})
	defer close(done)
	if tty {
		go forwardResize(ctx, done, o.Resize, func(size engine.TermSize) error {
			_, err := r.api.ContainerResize(ctx, id, client.ContainerResizeOptions{Width: size.Width, Height: size.Height})
			return err
		})
	}
	if err := pipe(ctx, att.HijackedResponse, o, tty); err != nil {
		return -1, err
	}
	select {
	case res := <-wait.Result:
		if res.Error != nil && res.Error.Message != "" {
			return int(res.StatusCode), fmt.Errorf("container %s: %s", shortID(id), res.Error.Message)
		}
		return int(res.StatusCode), nil
	case err := <-wait.Error:
		return -1, r.engineError(err)
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

// commandLine shows a command in an error, cut short: a script passed to
// sh -c can be pages long.
func commandLine(cmd []string) string {
	s := fmt.Sprintf("%q", cmd)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}
