package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"devstack/engine/event"
	"devstack/engine/kube"
	"devstack/engine/model"
	devsync "devstack/sync"
)

// kubeSyncEngine adapts a cluster to what live sync needs: a pod's
// container is reached through the cluster's exec API, so sync's long-
// lived exec transport (batches on one stdin) works as it does on a
// Docker engine.
type kubeSyncEngine struct {
	c *kube.Cluster
	p *model.Project
}

func (a *kubeSyncEngine) Containers(ctx context.Context, service string) ([]devsync.Container, error) {
	pods, err := a.c.RunningPods(ctx, a.p.Name, service)
	if err != nil {
		return nil, err
	}
	user := ""
	if svc, ok := a.p.Service(service); ok {
		user = svc.User
	}
	var out []devsync.Container
	for _, p := range pods {
		c := devsync.Container{ID: p.Name, Name: p.Name, User: user}
		for _, st := range p.Status.ContainerStatuses {
			if st.State.Running != nil {
				c.Started = st.State.Running.StartedAt.Time
			}
		}
		out = append(out, c)
	}
	return out, nil
}

func (a *kubeSyncEngine) CopyTo(ctx context.Context, id, dir string, tar io.Reader) error {
	return a.c.CopyTo(ctx, id, dir, tar)
}

func (a *kubeSyncEngine) CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, error) {
	return a.c.CopyFrom(ctx, id, path)
}

// Exec runs as the container's user: the cluster's exec API cannot pick
// another, so the user sync asks for is left to the container.
func (a *kubeSyncEngine) Exec(ctx context.Context, id string, x devsync.ExecSpec) (int, error) {
	return a.c.Exec(ctx, id, kube.ExecOptions{Cmd: x.Cmd, WorkDir: x.WorkDir, Env: x.Env, Stdin: x.Stdin, Stdout: x.Stdout, Stderr: x.Stderr})
}

func (a *kubeSyncEngine) Rebuild(ctx context.Context, service string) error {
	return fmt.Errorf("service %s: rebuild on change is not done on a Kubernetes runtime yet: run up again", service)
}

func (a *kubeSyncEngine) Restart(ctx context.Context, service string) error {
	return a.c.Restart(ctx, a.p.Name, []string{service})
}

var _ devsync.Engine = (*kubeSyncEngine)(nil)

// runKubeSync runs live sync into the project's pods, following pods as
// the cluster replaces them.
func runKubeSync(ctx context.Context, c *kube.Cluster, p *model.Project, services []string, out event.Sink) error {
	sy, err := devsync.New(devsync.Options{Project: p, Services: services, Engine: &kubeSyncEngine{c: c, p: p}, Sink: out})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	followDone := make(chan error, 1)
	go func() {
		followDone <- c.OnStarted(ctx, p.Name, func(service, pod string) { sy.ContainerStarted(service, pod) })
	}()
	err = sy.Run(ctx)
	cancel()
	if ferr := <-followDone; ferr != nil && !errors.Is(ferr, context.Canceled) && err == nil {
		err = ferr
	}
	return err
}
