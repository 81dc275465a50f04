package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"devstack/engine/event"
	"devstack/engine/model"
)

// LabelScratch marks a namespace a scratch rebuild made.
const LabelScratch = "devstack.scratch"

// ScratchOptions tune Scratch.
type ScratchOptions struct {
	// Images are the references the pods run (built with no cache and
	// pushed by the caller, as for up).
	Images map[string]string
	// Timeout bounds the stack's coming up; 0: 10 minutes.
	Timeout time.Duration
	// Keep leaves the scratch namespace in place to look at it.
	Keep bool
}

// ScratchResult is how a scratch rebuild on the cluster went.
type ScratchResult struct {
	Namespace string        // where it ran (removed unless Keep)
	Passed    bool          // every Deployment rolled out and Ready
	Failure   string        // why not: the pod that did not come up, its events and last lines
	Took      time.Duration // from the first object applied to the verdict
}

// Scratch rebuilds the project from scratch beside the user's stack: the
// same project in a namespace of its own on the same cluster, so its
// claims start empty and nothing of the user's namespace (objects, volume
// data) is seen; no live sync fills its synced paths. It waits for every
// Deployment to roll out and be Ready, then removes the namespace and
// waits until it is gone (also when ctx is cancelled), unless o.Keep.
func (c *Cluster) Scratch(ctx context.Context, p *model.Project, o ScratchOptions, sink event.Sink) (res *ScratchResult, err error) {
	if sink == nil {
		sink = event.Discard
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Minute
	}
	ns, err := scratchNamespace(c.namespace)
	if err != nil {
		return nil, err
	}
	sc := *c
	sc.namespace = ns
	res = &ScratchResult{Namespace: ns}
	sink.Publish(event.Scratch{Time: time.Now(), Project: p.Name, Phase: "started"})

	obj := nsObject(ns, p.Name)
	obj.Labels[LabelScratch] = "true"
	obj.Annotations["devstack.scratch.of"] = c.namespace
	if _, err := c.cs.CoreV1().Namespaces().Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		return nil, explain(err, "create", "namespaces", ns, ns)
	}
	defer func() {
		if o.Keep {
			return
		}
		// Removed whatever happened, Ctrl-C included.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
		defer cancel()
		if rerr := c.removeNamespace(rctx, ns); rerr != nil && err == nil {
			err = fmt.Errorf("the scratch rebuild ran, but its namespace %s could not be removed: %w", ns, rerr)
		}
	}()

	sink.Publish(event.Scratch{Time: time.Now(), Project: p.Name, Phase: "starting"})
	start := time.Now()
	_, uerr := sc.Up(ctx, p, UpOptions{Images: o.Images, Wait: true, Timeout: o.Timeout}, sink)
	res.Took = time.Since(start)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	res.Passed = uerr == nil
	done := event.Scratch{Time: time.Now(), Project: p.Name, Phase: "done", Status: "pass"}
	if uerr != nil {
		res.Failure = uerr.Error()
		done.Status = "fail"
		done.Findings = []event.Finding{{Category: "unknown", Evidence: res.Failure,
			Hint: "it did not come up in a fresh namespace of the cluster: empty volumes, no synced files, nothing of yours"}}
	}
	sink.Publish(done)
	return res, nil
}

// scratchNamespace names a scratch rebuild's namespace after the user's:
// "<ns>-scratch-<6 hex>", within a namespace name's 63 characters.
func scratchNamespace(of string) (string, error) {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return withSuffix(of, "-scratch-"+hex.EncodeToString(b)), nil
}

// withSuffix appends suffix to name, cutting name's end so that the
// whole stays within a DNS label's 63 characters (pod and namespace names).
func withSuffix(name, suffix string) string {
	if len(name)+len(suffix) > 63 {
		name = name[:63-len(suffix)]
	}
	return name + suffix
}

// removeNamespace deletes a namespace and waits until the cluster has
// removed it and everything in it.
func (c *Cluster) removeNamespace(ctx context.Context, ns string) error {
	fg := metav1.DeletePropagationForeground
	err := c.cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{PropagationPolicy: &fg})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return explain(err, "delete", "namespaces", ns, ns)
	}
	for {
		_, err := c.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s is still being removed: %w", ns, context.Cause(ctx))
		case <-time.After(250 * time.Millisecond): // the namespace controller's pace; no watch on one name needed
		}
	}
}
