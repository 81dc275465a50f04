package kube

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"devstack/engine/model"
)

// writes lists the create/update/delete calls a fake cluster received
// since the last call, as "verb resource/name".
func writes(cs *fake.Clientset) []string {
	var out []string
	for _, a := range cs.Actions() {
		switch a.GetVerb() {
		case "create", "update":
			if o, ok := a.(interface{ GetObject() runtime.Object }); ok {
				if m, ok := o.GetObject().(metav1.Object); ok {
					out = append(out, a.GetVerb()+" "+a.GetResource().Resource+"/"+m.GetName())
				}
			}
		case "delete":
			out = append(out, "delete "+a.GetResource().Resource+"/"+a.(k8stesting.DeleteAction).GetName())
		}
	}
	cs.ClearActions()
	sort.Strings(out)
	return out
}

func applyProject(conf string) *model.Project {
	return &model.Project{
		Name:    "shop",
		Configs: map[string]model.FileObject{"app_conf": {Name: "app_conf", Content: conf}},
		Services: []model.Service{
			{Name: "api", Image: "api:1", Replicas: 1, Configs: []model.FileRef{{Source: "app_conf", Target: "/etc/app.conf"}},
				Ports: []model.Port{{Target: 80}}},
			{Name: "worker", Image: "worker:1", Replicas: 1},
		},
	}
}

// The apply loop against an in-memory API server: a second up writes
// nothing, a config edit writes the config and only the Deployment that
// mounts it, and down deletes exactly the labelled objects.
func TestUpWritesOnlyWhatChanged(t *testing.T) {
	cs := fake.NewSimpleClientset()
	c := &Cluster{cs: cs, namespace: "shop"}
	ctx := context.Background()
	if _, err := c.Up(ctx, applyProject("a=1"), UpOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(writes(cs), "\n")
	for _, want := range []string{"create namespaces/shop", "create deployments/api", "create deployments/worker", "create services/api", "create configmaps/config-app-conf"} {
		if !strings.Contains(got, want) {
			t.Fatalf("first up: no %q in\n%s", want, got)
		}
	}
	if _, err := c.Up(ctx, applyProject("a=1"), UpOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	if w := writes(cs); len(w) != 0 {
		t.Fatalf("a no-op up wrote: %v", w)
	}
	if _, err := c.Up(ctx, applyProject("a=2"), UpOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(writes(cs), ","); w != "update configmaps/config-app-conf,update deployments/api" {
		t.Fatalf("a config edit wrote: %s", w)
	}
	// Something of the user's in the same namespace, unlabelled, stays.
	if _, err := cs.CoreV1().ConfigMaps("shop").Create(ctx, &corev1ConfigMap, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Down(ctx, "shop", DownOptions{Volumes: true}, nil); err != nil {
		t.Fatal(err)
	}
	left, err := c.Leftovers(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("left after down -v: %v", left)
	}
	if _, err := cs.CoreV1().ConfigMaps("shop").Get(ctx, "users-own", metav1.GetOptions{}); err != nil {
		t.Fatalf("down removed an object devstack did not make: %v", err)
	}
}

var corev1ConfigMap = corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "users-own", Namespace: "shop"}, Data: map[string]string{"k": "v"}}

// rolledOutUnless makes the in-memory API server's Deployments look rolled
// out and Ready (it runs no controller), except those running image bad.
func rolledOutUnless(cs *fake.Clientset, bad string) {
	cs.PrependReactor("*", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		o, ok := a.(interface{ GetObject() runtime.Object })
		if !ok || (a.GetVerb() != "create" && a.GetVerb() != "update") {
			return false, nil, nil
		}
		d, ok := o.GetObject().(*appsv1.Deployment)
		if !ok || d.Spec.Template.Spec.Containers[0].Image == bad {
			return false, nil, nil
		}
		d.Status = appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1}
		return false, nil, nil // the tracker stores it, with the status
	})
}

// A failed first up takes back everything it made, its namespace
// included, and says so.
func TestFailedFirstUpRemovesWhatItMade(t *testing.T) {
	cs := fake.NewSimpleClientset()
	rolledOutUnless(cs, "worker:1")
	c := &Cluster{cs: cs, namespace: "shop"}
	ctx := context.Background()
	_, err := c.Up(ctx, applyProject("a=1"), UpOptions{Wait: true, Timeout: 100 * time.Millisecond}, nil)
	var ue *UpError
	if !errors.As(err, &ue) || ue.RollbackErr != nil {
		t.Fatalf("want a rolled back up, got %v", err)
	}
	for _, want := range []string{"service worker: no pod after 100ms", "rolled back: removed deployment/api, deployment/worker, service/api, service/worker, configmap/config-app-conf, namespace/shop"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("no %q in: %v", want, err)
		}
	}
	if left, err := c.Leftovers(ctx, "shop"); err != nil || len(left) != 0 {
		t.Fatalf("left after a failed first up: %v %v", left, err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "shop", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the namespace the failed up made is still there: %v", err)
	}
}

// A failed second up gives what it changed its previous object back (the
// config's content, the Deployment's image and config hash) and leaves
// the rest alone.
func TestFailedUpRestoresWhatItChanged(t *testing.T) {
	cs := fake.NewSimpleClientset()
	rolledOutUnless(cs, "api:broken")
	c := &Cluster{cs: cs, namespace: "shop"}
	ctx := context.Background()
	if _, err := c.Up(ctx, applyProject("a=1"), UpOptions{Wait: true}, nil); err != nil {
		t.Fatal(err)
	}
	before, err := cs.AppsV1().Deployments("shop").Get(ctx, "api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	writes(cs)
	p := applyProject("a=2")
	p.Services[0].Image = "api:broken"
	_, err = c.Up(ctx, p, UpOptions{Wait: true, Timeout: 100 * time.Millisecond}, nil)
	if err == nil || !strings.Contains(err.Error(), "rolled back: restored deployment/api, configmap/config-app-conf to the previous spec") {
		t.Fatalf("got %v", err)
	}
	// Written: the edit, then its undo; nothing else.
	if w := strings.Join(writes(cs), ","); w != "update configmaps/config-app-conf,update configmaps/config-app-conf,update deployments/api,update deployments/api" {
		t.Fatalf("writes: %s", w)
	}
	after, err := cs.AppsV1().Deployments("shop").Get(ctx, "api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := after.Spec.Template.Spec.Containers[0].Image; img != "api:1" || after.Annotations[AnnotationHash] != before.Annotations[AnnotationHash] {
		t.Fatalf("api after the rollback: image %s, hash %s (before %s)", img, after.Annotations[AnnotationHash], before.Annotations[AnnotationHash])
	}
	cm, err := cs.CoreV1().ConfigMaps("shop").Get(ctx, "config-app-conf", metav1.GetOptions{})
	if err != nil || string(cm.BinaryData["content"]) != "a=1" {
		t.Fatalf("config after the rollback: %q %v", cm.BinaryData, err)
	}
	// The next up finds the namespace as the first left it: nothing to do.
	if _, err := c.Up(ctx, applyProject("a=1"), UpOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	if w := writes(cs); len(w) != 0 {
		t.Fatalf("an up after the rollback wrote: %v", w)
	}
}
