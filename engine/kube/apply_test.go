package kube

import (
	"context"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
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
