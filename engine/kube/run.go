package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"

	"devstack/engine/model"
)

// LabelRun marks a one-off pod (run) with the service it runs.
const LabelRun = "devstack.run"

// RunOptions describe a one-off command in a new pod of a service.
type RunOptions struct {
	Cmd        []string // replaces the service's command; none: the service's own
	Entrypoint []string // replaces the entrypoint too, when set
	Env        []string // NAME=value, added to the service's
	WorkDir    string
	Tty        bool
	Stdin      io.Reader
	Stdout     io.Writer
	Stderr     io.Writer
	Resize     remotecommand.TerminalSizeQueue
	// Remove deletes the pod once the command has exited.
	Remove bool
	// Timeout bounds the wait for the pod to start; 0: 5 minutes.
	Timeout time.Duration
}

// Run runs a one-off command in a new pod made from the service's pod
// template as up applied it (image by digest, configs, secrets, claims,
// environment), attached to the local terminal, and returns its exit
// code. The pod carries the project's labels but not the service's, so the
// service's Service does not send it traffic and down removes it.
func (c *Cluster) Run(ctx context.Context, project, service string, o RunOptions) (int, error) {
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Minute
	}
	l, err := c.cs.AppsV1().Deployments(c.namespace).List(ctx, metav1.ListOptions{LabelSelector: ProjectSelector(project) + "," + model.LabelService + "=" + service})
	if err != nil {
		return -1, explain(err, "list", "deployments", "", c.namespace)
	}
	if len(l.Items) == 0 {
		return -1, fmt.Errorf("service %s is not up on the cluster (namespace %s): run up first; run makes its pod from the Deployment up applied", service, c.namespace)
	}
	pod, err := runPod(&l.Items[0], project, service, o)
	if err != nil {
		return -1, err
	}
	api := c.cs.CoreV1().Pods(c.namespace)
	made, err := api.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return -1, explain(err, "create", "pods", pod.Name, c.namespace)
	}
	if o.Remove {
		defer func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			zero := int64(0)
			_ = api.Delete(dctx, made.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		}()
	}
	if err := c.waitStarted(ctx, made.Name, o.Timeout); err != nil {
		return -1, err
	}
	// Without stdin the log, followed from its start, has every line
	// (an attach would miss what was written before it connected); with
	// stdin, attach, and fall back to the log when the command ended first.
	if o.Stdin == nil {
		if err := c.copyLog(ctx, made.Name, o.Stdout); err != nil {
			return -1, err
		}
	} else if err := c.attach(ctx, made.Name, o); err != nil && ctx.Err() == nil {
		if err := c.copyLog(ctx, made.Name, o.Stdout); err != nil {
			return -1, err
		}
	}
	return c.exitCode(ctx, made.Name, o.Timeout)
}

func runPod(d *appsv1.Deployment, project, service string, o RunOptions) (*corev1.Pod, error) {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	spec := *d.Spec.Template.Spec.DeepCopy()
	spec.RestartPolicy = corev1.RestartPolicyNever
	found := false
	for i := range spec.Containers {
		ct := &spec.Containers[i]
		if ct.Name != containerName {
			continue
		}
		found = true
		ct.ReadinessProbe, ct.LivenessProbe, ct.StartupProbe = nil, nil, nil
		if len(o.Entrypoint) > 0 {
			ct.Command = o.Entrypoint
			ct.Args = nil
		}
		if len(o.Cmd) > 0 {
			ct.Args = o.Cmd
		}
		for _, kv := range o.Env {
			k, v, _ := strings.Cut(kv, "=")
			ct.Env = append(ct.Env, corev1.EnvVar{Name: k, Value: v})
		}
		if o.WorkDir != "" {
			ct.WorkingDir = o.WorkDir
		}
		ct.Stdin, ct.StdinOnce, ct.TTY = o.Stdin != nil, o.Stdin != nil, o.Tty
	}
	if !found {
		return nil, fmt.Errorf("deployment %s has no container %q: was it made by devstack up?", d.Name, containerName)
	}
	// The suffix is kept whole and the Deployment's name cut: cutting the
	// front could leave a name that starts with "-", which the API refuses.
	name := withSuffix(d.Name, "-run-"+hex.EncodeToString(b))
	labels := ProjectLabels(project)
	labels[LabelRun] = service
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: d.Namespace, Labels: labels}, Spec: spec}, nil
}

// waitStarted waits until the pod's container runs or has exited; a pod
// that cannot start is explained with its events.
func (c *Cluster) waitStarted(ctx context.Context, pod string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		p, err := c.cs.CoreV1().Pods(c.namespace).Get(ctx, pod, metav1.GetOptions{})
		if err != nil {
			return explain(err, "get", "pods", pod, c.namespace)
		}
		if st := status(p); st != nil {
			if st.State.Running != nil || st.State.Terminated != nil {
				return nil
			}
			if w := st.State.Waiting; w != nil && stuckReasons[w.Reason] {
				return c.diagnose(ctx, p, "cannot start")
			}
		}
		if time.Now().After(deadline) {
			return c.diagnose(ctx, p, fmt.Sprintf("not started after %s", timeout))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond): // one pod, polled until it starts: a watch saves nothing here
		}
	}
}

// attach connects the local streams to the pod's container.
func (c *Cluster) attach(ctx context.Context, pod string, o RunOptions) error {
	req := c.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(c.namespace).Name(pod).SubResource("attach").
		VersionedParams(&corev1.PodAttachOptions{
			Container: containerName,
			Stdin:     o.Stdin != nil,
			Stdout:    o.Stdout != nil,
			Stderr:    o.Stderr != nil && !o.Tty,
			TTY:       o.Tty,
		}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(c.cfg, "POST", req.URL())
	if err != nil {
		return err
	}
	return ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr, Tty: o.Tty, TerminalSizeQueue: o.Resize})
}

func (c *Cluster) copyLog(ctx context.Context, pod string, w io.Writer) error {
	if w == nil {
		return nil
	}
	rc, err := c.cs.CoreV1().Pods(c.namespace).GetLogs(pod, &corev1.PodLogOptions{Container: containerName, Follow: true}).Stream(ctx)
	if err != nil {
		return fmt.Errorf("unable to read the output of pod %s: %w", pod, err)
	}
	defer rc.Close()
	_, err = io.Copy(w, rc)
	return err
}

// exitCode waits for the container to end and returns its exit code.
func (c *Cluster) exitCode(ctx context.Context, pod string, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		p, err := c.cs.CoreV1().Pods(c.namespace).Get(ctx, pod, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return -1, errors.New("pod " + pod + " was removed before its command ended")
		}
		if err != nil {
			return -1, explain(err, "get", "pods", pod, c.namespace)
		}
		if st := status(p); st != nil && st.State.Terminated != nil {
			return int(st.State.Terminated.ExitCode), nil
		}
		if time.Now().After(deadline) {
			return -1, fmt.Errorf("pod %s: the command did not end %s after its output did", pod, timeout)
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(100 * time.Millisecond): // the kubelet reports the exit within its sync period
		}
	}
}
