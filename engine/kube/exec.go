package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/util/exec"
)

// ExecOptions describe one command run in a pod's container.
type ExecOptions struct {
	Cmd     []string
	WorkDir string
	Env     []string // NAME=value
	Tty     bool
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
	// Resize delivers terminal sizes for a Tty exec.
	Resize remotecommand.TerminalSizeQueue
}

// Exec runs a command in the service container of a pod through the
// cluster's exec API and returns its exit code. The API has no working
// directory or environment of its own: they are set by the container's
// sh (and env) when asked for.
func (c *Cluster) Exec(ctx context.Context, pod string, o ExecOptions) (int, error) {
	if o.Stdin == nil && o.Stdout == nil && o.Stderr == nil {
		// The exec API refuses a command with no stream at all.
		o.Stdout = io.Discard
	}
	cmd := o.Cmd
	if len(o.Env) > 0 {
		cmd = append(append([]string{"env"}, o.Env...), cmd...)
	}
	if o.WorkDir != "" {
		cmd = append([]string{"sh", "-c", `cd "$0" && exec "$@"`, o.WorkDir}, cmd...)
	}
	req := c.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(c.namespace).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: containerName,
			Command:   cmd,
			Stdin:     o.Stdin != nil,
			Stdout:    o.Stdout != nil,
			Stderr:    o.Stderr != nil && !o.Tty,
			TTY:       o.Tty,
		}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(c.cfg, "POST", req.URL())
	if err != nil {
		return -1, fmt.Errorf("unable to exec in pod %s: %w", pod, err)
	}
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{
		Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr, Tty: o.Tty, TerminalSizeQueue: o.Resize,
	})
	if err == nil {
		return 0, nil
	}
	var code exec.CodeExitError
	if errors.As(err, &code) {
		return code.Code, nil
	}
	if ctx.Err() != nil {
		return -1, ctx.Err()
	}
	return -1, fmt.Errorf("unable to exec in pod %s: %w", pod, err)
}

// CopyTo extracts an uncompressed tar stream into dir inside a pod, with
// the container's own tar (the exec API has no archive call).
func (c *Cluster) CopyTo(ctx context.Context, pod, dir string, tar io.Reader) error {
	var stderr strings.Builder
	code, err := c.Exec(ctx, pod, ExecOptions{Cmd: []string{"tar", "-x", "-f", "-", "-C", dir}, Stdin: tar, Stderr: &stderr})
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("tar in pod %s exited %d: %s", pod, code, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// CopyFrom returns a tar stream of p inside a pod.
func (c *Cluster) CopyFrom(ctx context.Context, pod, p string) (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() {
		var stderr strings.Builder
		code, err := c.Exec(ctx, pod, ExecOptions{Cmd: []string{"tar", "-c", "-f", "-", "-C", path.Dir(p), path.Base(p)}, Stdout: pw, Stderr: &stderr})
		if err == nil && code != 0 {
			err = fmt.Errorf("tar in pod %s exited %d: %s", pod, code, strings.TrimSpace(stderr.String()))
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}
