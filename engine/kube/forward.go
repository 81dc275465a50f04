package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"devstack/engine/model"
)

// Forward is one published port forwarded to localhost.
type Forward struct {
	Service string
	Local   string // host:port listened on
	Port    uint32 // the container port
}

func (f Forward) String() string { return fmt.Sprintf("%s->%d/tcp", f.Local, f.Port) }

// Forwards lists the published TCP ports of the project's services as
// forwards to localhost (the compose host IP, 127.0.0.1 when none).
func Forwards(p *model.Project) ([]Forward, error) {
	var out []Forward
	for _, svc := range p.Services {
		for _, pt := range svc.Ports {
			if pt.Published == "" || (pt.Protocol != "" && pt.Protocol != "tcp") {
				continue
			}
			if strings.Contains(pt.Published, "-") {
				return nil, fmt.Errorf("service %s: ports: range %s cannot be forwarded: publish single ports", svc.Name, pt.Published)
			}
			host := pt.HostIP
			if host == "" || host == "0.0.0.0" {
				host = "127.0.0.1"
			}
			out = append(out, Forward{Service: svc.Name, Local: net.JoinHostPort(host, pt.Published), Port: pt.Target})
		}
	}
	return out, nil
}

// PortForward listens on f.Local and carries every connection to a
// running pod of the service through the API's port-forward, choosing
// the pod per connection: a replaced pod is followed without a restart.
// It returns when ctx ends; the listener's address is sent on ready.
func (c *Cluster) PortForward(ctx context.Context, project string, f Forward, ready chan<- net.Addr) error {
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", f.Local)
	if err != nil {
		return fmt.Errorf("service %s: unable to forward %s: %w", f.Service, f.Local, err)
	}
	if ready != nil {
		ready <- l.Addr()
	}
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("service %s: forward %s: %w", f.Service, f.Local, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			_ = c.forwardConn(ctx, project, f, conn)
		}()
	}
}

var requestID atomic.Int64

func (c *Cluster) forwardConn(ctx context.Context, project string, f Forward, conn net.Conn) error {
	pod, err := c.runningPod(ctx, project, f.Service)
	if err != nil {
		return err
	}
	rt, upgrader, err := spdy.RoundTripperFor(c.cfg)
	if err != nil {
		return err
	}
	u := c.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(c.namespace).Name(pod).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)
	sc, _, err := dialer.Dial(portforward.PortForwardProtocolV1Name)
	if err != nil {
		return fmt.Errorf("unable to forward to pod %s: %w", pod, err)
	}
	defer sc.Close()
	id := strconv.FormatInt(requestID.Add(1), 10)
	h := http.Header{}
	h.Set(corev1.StreamType, corev1.StreamTypeError)
	h.Set(corev1.PortHeader, strconv.Itoa(int(f.Port)))
	h.Set(corev1.PortForwardRequestIDHeader, id)
	errStream, err := sc.CreateStream(h)
	if err != nil {
		return err
	}
	errStream.Close() // nothing to send on it
	h.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err := sc.CreateStream(h)
	if err != nil {
		return err
	}
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(data, conn)
		data.Close()
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(conn, data)
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		done <- struct{}{}
	}()
	remoteErr := make(chan error, 1)
	go func() {
		msg, _ := io.ReadAll(errStream)
		if len(msg) > 0 {
			remoteErr <- errors.New(string(msg))
		}
		close(remoteErr)
	}()
	select {
	case <-done:
		<-done
	case <-ctx.Done():
	}
	if err, ok := <-remoteErr; ok && err != nil {
		return fmt.Errorf("forward to pod %s: %w", pod, err)
	}
	return nil
}

// runningPod picks a running, Ready (or, failing that, running) pod of a service.
func (c *Cluster) runningPod(ctx context.Context, project, service string) (string, error) {
	pods, err := c.Pods(ctx, project, service)
	if err != nil {
		return "", err
	}
	fallback := ""
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			continue
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				return p.Name, nil
			}
		}
		if fallback == "" {
			fallback = p.Name
		}
	}
	if fallback == "" {
		return "", fmt.Errorf("service %s has no running pod", service)
	}
	return fallback, nil
}

// RunningPods lists the running pods of a service (live sync's containers).
func (c *Cluster) RunningPods(ctx context.Context, project, service string) ([]corev1.Pod, error) {
	pods, err := c.Pods(ctx, project, service)
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			if st := status(&p); st != nil && st.State.Running != nil {
				out = append(out, p)
			}
		}
	}
	return out, nil
}
