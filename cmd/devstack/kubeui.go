package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"devstack/engine"
	"devstack/engine/event"
	"devstack/engine/kube"
	"devstack/engine/model"
	"devstack/tui"
)

// kubeDashboardOptions are what runKubeDashboard needs besides the project.
type kubeDashboardOptions struct {
	services []string
	quit     tui.QuitBehaviour
	tail     int64 // earlier lines of each pod (<0: all)
	// work runs alongside the dashboard, its events shown there (up
	// applies the project this way); a failure is shown, the dashboard
	// stays open.
	work func(ctx context.Context, sink event.Sink) error
	// forwards are the published ports forwarded to localhost while the
	// dashboard is open.
	forwards []kube.Forward
	sync     bool // live sync into the pods while open
}

// runKubeDashboard is the dashboard on a cluster: the same dashboard as on
// the Docker engine, fed by the cluster's monitor (pods as rows: phase,
// readiness, restarts, node, and CPU/memory where the cluster has a
// metrics API), its logs, sync and forwards. The dashboard reads events
// only; it knows nothing of Kubernetes.
func runKubeDashboard(ctx context.Context, g *globals, p *model.Project, c *kube.Cluster, o kubeDashboardOptions) error {
	if !isTerminal(g.stdout) {
		return errors.New("the dashboard needs a terminal: use `devstack logs -f` (or up --no-tui) to follow the stack in a pipe")
	}
	feed := tui.NewFeed(1024)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	ctrl := &kubeController{g: g, c: c, p: p, feed: feed}
	defer func() {
		// Quitting cancels what runs and waits for it: a scratch rebuild
		// removes its namespace, a failed up rolls back, before devstack exits.
		cancel()
		wg.Wait()
		ctrl.wait()
		feed.Close()
	}()
	feed.Publish(event.Connection{Time: time.Now(), Host: c.Host(), Connected: true})
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := c.Monitor(ctx, p.Name, kube.MonitorOptions{Services: o.services, Logs: true, Tail: o.tail, Stats: true}, feed); err != nil && ctx.Err() == nil {
			feed.Publish(event.Warning{Time: time.Now(), Message: "following the pods stopped: " + err.Error()})
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if o.work != nil {
			if err := o.work(ctx, feed); err != nil {
				if ctx.Err() == nil {
					feed.Publish(event.Warning{Time: time.Now(), Message: err.Error()})
				}
				return
			}
		}
		for _, fw := range o.forwards {
			ready := make(chan net.Addr, 1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.PortForward(ctx, p.Name, fw, ready); err != nil && ctx.Err() == nil {
					feed.Publish(event.Warning{Time: time.Now(), Message: fmt.Sprintf("forwarding %s to service %s stopped: %v", fw, fw.Service, err)})
				}
			}()
		}
		if o.sync && hasWatchRules(p, o.services) {
			if err := runKubeSync(ctx, c, p, o.services, feed); err != nil && ctx.Err() == nil {
				feed.Publish(event.Warning{Time: time.Now(), Message: "live sync stopped: " + err.Error()})
			}
		}
	}()

	services := o.services
	if len(services) == 0 {
		services = p.ServiceNames()
	}
	err := tui.Run(ctx, tui.Options{
		Project:    p.Name,
		Engine:     c.Host(),
		Services:   services,
		Controller: ctrl,
		Quit:       o.quit,
		NoColor:    g.noColor,
	}, feed.Events())
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// kubeController carries out the dashboard's keys on the cluster.
type kubeController struct {
	g    *globals
	c    *kube.Cluster
	p    *model.Project
	feed event.Sink

	scratching atomic.Bool    // a scratch rebuild runs
	running    sync.WaitGroup // the scratch rebuild's goroutine, awaited on quit
}

// wait waits for what the controller started in the background (a
// scratch rebuild, which removes its namespace when its context ends).
func (k *kubeController) wait() { k.running.Wait() }

// Restart replaces the service's pods (the Deployment rolls them).
func (k *kubeController) Restart(ctx context.Context, service string) error {
	return k.c.Restart(ctx, k.p.Name, []string{service})
}

// Rebuild builds and pushes the service's image and applies the project:
// a new digest rolls its Deployment, nothing else moves.
func (k *kubeController) Rebuild(ctx context.Context, service string) error {
	svc, ok := k.p.Service(service)
	if !ok {
		return fmt.Errorf("no service %q in the project", service)
	}
	if svc.Build == nil {
		return fmt.Errorf("%s has no build: section, nothing to rebuild (r restarts it)", service)
	}
	images, err := k.g.kubeImages(ctx, k.p, k.feed, true)
	if err != nil {
		return err
	}
	_, err = k.c.Up(ctx, k.p, kube.UpOptions{Images: images, Synced: syncedTargets(k.p)}, k.feed)
	return err
}

// Stop scales the service's Deployment to 0 (start gives its replicas back).
func (k *kubeController) Stop(ctx context.Context, service string) error {
	return k.c.Stop(ctx, k.p.Name, []string{service}, k.feed)
}

// Start gives a stopped service's Deployment its replicas back.
func (k *kubeController) Start(ctx context.Context, service string) error {
	return k.c.Start(ctx, k.p.Name, []string{service}, k.feed)
}

// Scratch starts a scratch rebuild in a namespace of its own on the
// cluster (removed after); its progress and verdict arrive as scratch
// events, a failure's reason as its finding.
func (k *kubeController) Scratch(ctx context.Context) error {
	if !k.scratching.CompareAndSwap(false, true) {
		return errors.New("a scratch rebuild is already running")
	}
	k.running.Add(1)
	go func() {
		defer k.running.Done()
		defer k.scratching.Store(false)
		images, err := k.g.kubeImages(ctx, k.p, k.feed, true)
		if err == nil {
			_, err = k.c.Scratch(ctx, k.p, kube.ScratchOptions{Images: images, Timeout: k.p.Ext.Scratch.Timeout}, k.feed)
		}
		if err == nil || ctx.Err() != nil {
			return // the verdict was published
		}
		done := event.Scratch{Time: time.Now(), Project: k.p.Name, Phase: "done", Status: "error",
			Findings: []event.Finding{{Category: "unknown", Evidence: err.Error()}}}
		k.feed.Publish(done)
	}()
	return nil
}

// StopStack is quitting with "stop": the project's objects are removed
// (down; its claims, the named volumes' data, stay).
func (k *kubeController) StopStack(ctx context.Context) error {
	return k.c.Down(ctx, k.p.Name, kube.DownOptions{}, k.feed)
}

// Shell opens sh (bash when the image has it) in the pod.
func (k *kubeController) Shell(pod string) tui.ExecCommand {
	return &dashboardShell{where: "pod " + pod, exec: func(ctx context.Context, cmd []string, stdin io.Reader, stdout, stderr io.Writer, sizes chan engine.TermSize) error {
		_, err := k.c.Exec(ctx, pod, kube.ExecOptions{Cmd: cmd, Tty: true, Stdin: stdin, Stdout: stdout, Stderr: stderr, Resize: sizeQueue(sizes)})
		return err
	}}
}
