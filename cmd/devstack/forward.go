package main

// Ports of a stack on a remote engine are forwarded to this machine's
// loopback over the SSH connection the engine is reached through. Who
// keeps the forwards:
//
//   - an attached command (up without -d, watch, ui) keeps them itself,
//     in its own process, for as long as it runs, and shows them in its
//     output or the dashboard;
//   - after `up -d` (and `start`), a background `devstack forward`
//     process keeps them: it follows the stack's containers until the
//     stack is gone, and `down` stops it;
//   - an attached command takes the forwards over from a background
//     forwarder (stops it; the local ports stay the same, as they are
//     free again) and, when it ends with the stack still running, starts
//     one again.
//
// Whoever keeps them writes a record in the state directory
// (engine/forward.Record) that `ps` and `port` read.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"devstack/engine"
	"devstack/engine/docker"
	"devstack/engine/event"
	"devstack/engine/forward"
	"devstack/engine/model"
	"devstack/engine/state"
)

// engineHostDialer is the part of the Docker runtime forwarding needs.
type engineHostDialer interface {
	DialEngineHost() func(ctx context.Context, network, addr string) (net.Conn, error)
}

// hostDialer returns how to reach the engine's machine, or nil when ports
// are not forwarded there (a local engine, or one reached without SSH).
func hostDialer(rt engine.Runtime) forward.Dialer {
	d, ok := rt.(engineHostDialer)
	if !ok {
		return nil
	}
	dial := d.DialEngineHost()
	if dial == nil {
		return nil
	}
	return dial
}

// forwarding is the forwards an attached command keeps.
type forwarding struct {
	g       *globals
	rt      engine.Runtime
	project *model.Project
	f       *forward.Forwarder
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once
}

// startForwarding forwards the stack's ports while an attached command
// runs; it returns nil when there is nothing to forward (local engine,
// --no-forward, or another attached devstack keeps them: then its
// forwards are published to sink, so they show all the same).
func (g *globals) startForwarding(ctx context.Context, p *model.Project, rt engine.Runtime, sink event.Sink, off bool) *forwarding {
	dial := hostDialer(rt)
	if dial == nil || off {
		return nil
	}
	host := rt.Host()
	if _, err := forward.StopBackground(host, p.Name, 5*time.Second); err != nil {
		sink.Publish(event.Warning{Time: time.Now(), Message: "ports not forwarded: " + err.Error()})
		return nil
	}
	if r, ok, _ := forward.ReadRecord(host, p.Name); ok && r.PID != os.Getpid() {
		sink.Publish(event.Warning{Time: time.Now(), Message: fmt.Sprintf("ports are forwarded by another devstack (pid %d), attached to this stack", r.PID)})
		for _, f := range r.Forwards {
			sink.Publish(f)
		}
		return nil
	}
	f := forward.New(dial, sink)
	f.OnChange = func(all []event.Forward) {
		if err := forward.WriteRecord(forward.Record{PID: os.Getpid(), Host: host, Project: p.Name, Forwards: all}); err != nil {
			sink.Publish(event.Warning{Time: time.Now(), Message: "unable to record the forwarded ports (ps and port will not show them): " + err.Error()})
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	fw := &forwarding{g: g, rt: rt, project: p, f: f, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(fw.done)
		_ = forward.Follow(ctx, rt, p, f, forward.FollowOptions{})
	}()
	return fw
}

// stop ends the forwards; handBack starts a background forwarder when
// the stack still runs (watch and ui leave it running).
func (fw *forwarding) stop(handBack bool) {
	if fw == nil {
		return
	}
	fw.once.Do(func() {
		fw.cancel()
		<-fw.done
		fw.f.Close()
		forward.RemoveRecord(fw.rt.Host(), fw.project.Name, os.Getpid())
		if !handBack {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cs, err := engine.New(fw.rt, nil).Containers(ctx, fw.project, nil, false)
		if err != nil || len(cs) == 0 {
			return
		}
		if _, err := fw.g.spawnForwarder(ctx, fw.rt.Host(), fw.project.Name, fw.project); err != nil {
			fmt.Fprintln(fw.g.stderr, "warning: ports are no longer forwarded:", err)
		}
	})
}

// ensureForwarder starts a background forwarder after a detached command
// (up -d, start) unless one (or an attached devstack) keeps the forwards
// already, and says where the ports landed.
func (g *globals) ensureForwarder(ctx context.Context, p *model.Project, rt engine.Runtime, sink event.Sink, off bool) {
	if hostDialer(rt) == nil || off {
		return
	}
	r, ok, err := forward.ReadRecord(rt.Host(), p.Name)
	if err == nil && !ok {
		r, err = g.spawnForwarder(ctx, rt.Host(), p.Name, p)
	}
	if err != nil {
		sink.Publish(event.Warning{Time: time.Now(), Message: "ports not forwarded: " + err.Error()})
		return
	}
	for _, f := range r.Forwards {
		sink.Publish(f)
	}
}

// spawnForwarder starts `devstack forward` in the background (its own
// session, output to a log in the state directory) and waits until it
// has bound its ports.
func (g *globals) spawnForwarder(ctx context.Context, host, project string, p *model.Project) (forward.Record, error) {
	exe, err := os.Executable()
	if err != nil {
		return forward.Record{}, fmt.Errorf("unable to start the background forwarder: %w", err)
	}
	recPath, err := forward.RecordPath(host, project)
	if err != nil {
		return forward.Record{}, err
	}
	if err := state.MkdirAll(filepath.Dir(recPath)); err != nil {
		return forward.Record{}, err
	}
	logPath := strings.TrimSuffix(recPath, ".json") + ".log"
	logf, err := state.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return forward.Record{}, fmt.Errorf("unable to start the background forwarder: %w", err)
	}
	defer logf.Close()
	// argv[0] stays as this process was called (a test binary dispatches
	// on it); the project is found by name, from its containers' labels.
	args := []string{os.Args[0], "--host", host, "--project-name", project, "--progress", "plain"}
	if p != nil {
		// The compose files, for the bind mounts it syncs (without them
		// it forwards only, the project read from its containers).
		for _, f := range p.ConfigFiles {
			args = append(args, "--file", f)
		}
		if p.WorkingDir != "" {
			args = append(args, "--project-directory", p.WorkingDir)
		}
		for _, pr := range g.profiles {
			args = append(args, "--profile", pr)
		}
		for _, e := range g.envFiles {
			if abs, err := filepath.Abs(e); err == nil {
				args = append(args, "--env-file", abs)
			}
		}
	}
	if g.noRemoteSync {
		args = append(args, "--no-remote-sync")
	}
	cmd := &exec.Cmd{Path: exe, Args: append(args, "forward", "--background"),
		Dir: "/", Stdout: logf, Stderr: logf, SysProcAttr: detached()}
	cmd.Env = withoutEnv(os.Environ(), "COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "DOCKER_HOST", "DOCKER_CONTEXT")
	if err := cmd.Start(); err != nil {
		return forward.Record{}, fmt.Errorf("unable to start the background forwarder: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if r, ok, _ := forward.ReadRecord(host, project); ok && r.PID == cmd.Process.Pid {
			return r, nil
		}
		select {
		case <-exited:
			b, _ := state.ReadFile(logPath)
			return forward.Record{}, fmt.Errorf("the background forwarder ended at once: %s", strings.TrimSpace(lastLines(string(b), 3)))
		case <-ctx.Done():
			return forward.Record{}, ctx.Err()
		case <-time.After(20 * time.Millisecond): // polling for its record, bounded
		}
		if time.Now().After(deadline) {
			return forward.Record{}, fmt.Errorf("the background forwarder (pid %d) did not start forwarding within 20s: see %s", cmd.Process.Pid, logPath)
		}
	}
}

func withoutEnv(env []string, names ...string) []string {
	var out []string
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "; ")
}

func newForwardCmd(g *globals) *cobra.Command {
	var stop, background bool
	cmd := &cobra.Command{
		Use:   "forward",
		Short: "Forward the stack's published ports from a remote engine to 127.0.0.1 here and sync its bind mounts, until the stack is down (up -d starts this in the background)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if stop {
				rt, err := g.runtime(ctx)
				if err != nil {
					return err
				}
				defer rt.Close()
				name := g.nameWithoutFile()
				if name == "" {
					p, err := g.project(ctx, nil)
					if err != nil {
						return err
					}
					name = p.Name
				}
				stopped, err := forward.StopBackground(rt.Host(), name, 5*time.Second)
				if err == nil && !stopped {
					fmt.Fprintln(g.stderr, "no background forwarder runs for", name)
				}
				return err
			}
			var p *model.Project
			var rt *docker.Runtime
			var err error
			p, rt, err = g.existing(ctx)
			if err != nil && background && len(g.files) > 0 {
				// The compose file no longer loads: forward all the same,
				// the project read from its containers' labels.
				fmt.Fprintln(g.stderr, "warning: bind mounts not synced:", err)
				g.files, g.projectDir = nil, ""
				p, rt, err = g.existing(ctx)
			}
			if err != nil {
				return err
			}
			defer rt.Close()
			dial := hostDialer(rt)
			if dial == nil {
				return fmt.Errorf("the engine at %s is on this machine: its published ports are here already, nothing to forward", rt.Host())
			}
			out := g.renderer()
			defer out.Close()
			ctx, stopSignals := signalContext(ctx, nil)
			defer stopSignals()
			if _, err := forward.StopBackground(rt.Host(), p.Name, 5*time.Second); err != nil {
				return err
			}
			if r, ok, _ := forward.ReadRecord(rt.Host(), p.Name); ok && r.PID != os.Getpid() {
				return fmt.Errorf("the ports of %s are forwarded by devstack process %d already", p.Name, r.PID)
			}
			// Other commands on this engine (ps, logs, exec, ...) go
			// through this process's SSH connection while it runs.
			go func() {
				if err := rt.Share(ctx); err != nil {
					out.Publish(event.Warning{Time: time.Now(), Message: err.Error() + "; other commands dial their own"})
				}
			}()
			f := forward.New(dial, out)
			var recErr error
			f.OnChange = func(all []event.Forward) {
				recErr = forward.WriteRecord(forward.Record{PID: os.Getpid(), Background: true, Host: rt.Host(), Project: p.Name, Forwards: all})
				if recErr != nil {
					out.Publish(event.Warning{Time: time.Now(), Message: "unable to record the forwarded ports: " + recErr.Error()})
				}
			}
			defer forward.RemoveRecord(rt.Host(), p.Name, os.Getpid())
			defer f.Close()
			ready := func() {
				// A stack without a published port still gets its record,
				// so that whoever waits for this process sees it start.
				if len(f.List()) == 0 {
					f.OnChange(nil)
				}
			}
			// The bind mounts synced into volumes are kept in line too,
			// while no attached command does it.
			if sp := boundSyncs(p); sp != nil {
				sctx, stopSync := context.WithCancel(ctx)
				syncDone := make(chan struct{})
				go func() {
					defer close(syncDone)
					if err := runSync(sctx, engine.New(rt, out), sp, nil, ""); err != nil && sctx.Err() == nil {
						out.Publish(event.Warning{Time: time.Now(), Message: "bind mounts no longer synced: " + err.Error()})
					}
				}()
				defer func() { stopSync(); <-syncDone }()
			}
			err = forward.Follow(ctx, rt, p, f, forward.FollowOptions{UntilDown: true, Ready: ready})
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&stop, "stop", false, "stop the background forwarder instead")
	cmd.Flags().BoolVar(&background, "background", false, "")
	_ = cmd.Flags().MarkHidden("background")
	return cmd
}
