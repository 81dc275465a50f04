package kube

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"devstack/engine/event"
)

func TestScratchNamespaceName(t *testing.T) {
	n, err := scratchNamespace("shop")
	if err != nil || !strings.HasPrefix(n, "shop-scratch-") || len(n) != len("shop-scratch-")+6 {
		t.Fatalf("%q %v", n, err)
	}
	long, _ := scratchNamespace(strings.Repeat("a", 63))
	if len(long) != 63 || !strings.Contains(long, "-scratch-") {
		t.Fatalf("a long namespace's scratch: %q (%d)", long, len(long))
	}
}

// A scratch rebuild that does not come up (no controller makes pods on
// the in-memory API server) is a failure with its reason, and its
// namespace is removed; the user's namespace is not touched.
func TestScratchFailsAndRemovesItsNamespace(t *testing.T) {
	cs := fake.NewClientset()
	c := &Cluster{cs: cs, namespace: "shop"}
	ctx := context.Background()
	if _, err := c.Up(ctx, applyProject("a=1"), UpOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	before := len(cs.Actions())
	rec := &event.Recorder{}
	res, err := c.Scratch(ctx, applyProject("a=1"), ScratchOptions{Timeout: 50 * time.Millisecond}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed || !strings.Contains(res.Failure, "no pod after") || !strings.HasPrefix(res.Namespace, "shop-scratch-") {
		t.Fatalf("result: %+v", res)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, res.Namespace, metav1.GetOptions{}); err == nil {
		t.Fatalf("namespace %s left after the scratch rebuild", res.Namespace)
	}
	for _, a := range cs.Actions()[before:] {
		if a.GetNamespace() == "shop" && a.GetVerb() != "list" && a.GetVerb() != "watch" && a.GetVerb() != "get" {
			t.Fatalf("the scratch rebuild wrote to the user's namespace: %v %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
	var phases []string
	for _, e := range rec.Events() {
		if s, ok := e.(event.Scratch); ok {
			phases = append(phases, s.Phase+"/"+s.Status)
		}
	}
	if strings.Join(phases, ",") != "started/,starting/,done/fail" {
		t.Fatalf("scratch events: %v", phases)
	}
}

// A one-off pod of a Deployment with a long name keeps a valid name: at
// most 63 characters, starting as the Deployment's does.
func TestRunPodNameOfALongDeployment(t *testing.T) {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "abcdefgh-" + strings.Repeat("a", 51), Namespace: "ns"}}
	d.Spec.Template.Spec.Containers = []corev1.Container{{Name: containerName}}
	pod, err := runPod(d, "p", "s", RunOptions{Env: []string{"K=V=W"}})
	if err != nil {
		t.Fatal(err)
	}
	if n := pod.Name; len(n) > 63 || !strings.HasPrefix(n, "abcdefgh-") || !strings.Contains(n, "-run-") {
		t.Errorf("pod name %q (%d characters)", n, len(n))
	}
	if env := pod.Spec.Containers[0].Env; len(env) != 1 || env[0].Name != "K" || env[0].Value != "V=W" {
		t.Errorf("env %v", env)
	}
}
