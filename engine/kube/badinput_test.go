package kube_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"devstack/engine/enginetest"
	"devstack/engine/event"
	"devstack/engine/kube"
	"devstack/engine/kube/kubetest"
)

// What goes wrong on a real cluster is said with what the cluster knows:
// an image the node cannot pull (the pod's event), a pod that never turns
// Ready (its last log lines), a namespace the user may not write in (the
// verb and resource RBAC refused, and nothing made).
func TestKubeBadInputSaysWhatTheClusterSaid(t *testing.T) {
	kc := kubetest.Busybox(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	dir := t.TempDir()
	write := func(yaml string) string {
		f := filepath.Join(dir, "compose.yaml")
		if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	connect := func(name string) *kube.Cluster {
		t.Helper()
		c, err := kube.Connect(ctx, kube.Options{Kubeconfig: kc}, name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Down(context.Background(), name, kube.DownOptions{Volumes: true}, nil) })
		return c
	}
	upWith := func(ctx context.Context, name, yaml string, timeout time.Duration, sink event.Sink) error {
		t.Helper()
		_, err := connect(name).Up(ctx, loadProject(t, write(yaml), name), kube.UpOptions{Wait: true, Timeout: timeout}, sink)
		return err
	}
	up := func(name, yaml string, timeout time.Duration) error {
		t.Helper()
		return upWith(ctx, name, yaml, timeout, nil)
	}
	// A failed up leaves nothing of the project behind when it returns.
	nothingLeft := func(t *testing.T, name string, err error) {
		t.Helper()
		var ue *kube.UpError
		if !errors.As(err, &ue) || ue.RollbackErr != nil {
			t.Fatalf("want a rolled back up: %v", err)
		}
		t.Logf("rollback took %s (load %.1f)", ue.Took.Round(time.Millisecond), kubetest.LoadAvg())
		c := connect(name)
		left, lerr := c.Leftovers(ctx, name)
		if lerr != nil || len(left) != 0 {
			t.Fatalf("a failed first up left %v %v", left, lerr)
		}
	}

	t.Run("image the node cannot pull", func(t *testing.T) {
		err := up(uniqueName("kb"), `services:
  app:
    image: `+kubetest.Registry()+`/devstack-no-such-image:1
`, 2*time.Minute)
		if err == nil || !strings.Contains(err.Error(), "cannot start") || !(strings.Contains(err.Error(), "ErrImagePull") || strings.Contains(err.Error(), "ImagePullBackOff")) || !strings.Contains(err.Error(), "events:") {
			t.Fatalf("got %v", err)
		}
	})

	// A first deploy whose pod never turns Ready is taken back: its
	// Deployment, Service, config and the claim its pod never used for
	// anything (never Ready), and the namespace it made.
	t.Run("pod that never turns Ready", func(t *testing.T) {
		name := uniqueName("kb")
		err := up(name, `services:
  app:
    image: `+enginetest.BusyboxImage+`
    command: ["sh", "-c", "echo my last words; exec sleep 1000000"]
    ports: ["8080"]
    volumes: ["data:/data"]
    configs: [{source: conf, target: /etc/app.conf}]
    healthcheck:
      test: ["CMD", "false"]
      interval: 1s
      retries: 1000
volumes:
  data:
configs:
  conf:
    content: "a=1"
`, 20*time.Second)
		if err == nil || !strings.Contains(err.Error(), "not healthy after 20s") || !strings.Contains(err.Error(), "last log lines: my last words") ||
			!strings.Contains(err.Error(), "rolled back: removed deployment/app, service/app, configmap/config-conf, persistentvolumeclaim/data, namespace/"+name) {
			t.Fatalf("got %v", err)
		}
		nothingLeft(t, name, err)
	})

	// Ctrl-C during up does the same: the context ends the moment the
	// Deployment is created; the rollback runs on.
	t.Run("interrupted up", func(t *testing.T) {
		name := uniqueName("kb")
		ictx, interrupt := context.WithCancel(ctx)
		defer interrupt()
		err := upWith(ictx, name, `services:
  app:
    image: `+enginetest.BusyboxImage+`
    command: ["sleep", "1000000"]
`, time.Minute, event.Func(func(e event.Event) {
			if p, ok := e.(event.Progress); ok && p.Kind == event.KindContainer && p.Action == event.Created {
				interrupt()
			}
		}))
		if err == nil || !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "interrupted; rolled back: removed deployment/app") {
			t.Fatalf("got %v", err)
		}
		nothingLeft(t, name, err)
	})

	// A second up that breaks one service: that Deployment is put back as
	// it was, its old pod served throughout, the other service untouched.
	t.Run("second up that breaks one service", func(t *testing.T) {
		name := uniqueName("kb")
		project := func(webImage string) string {
			return `services:
  web:
    image: ` + webImage + `
    command: ["sleep", "1000000"]
  other:
    image: ` + enginetest.BusyboxImage + `
    command: ["sleep", "1000000"]
`
		}
		if err := up(name, project(enginetest.BusyboxImage), 2*time.Minute); err != nil {
			t.Fatal(err)
		}
		c := connect(name)
		before, err := c.RunningPods(ctx, name, "")
		if err != nil || len(before) != 2 {
			t.Fatalf("pods before: %d %v", len(before), err)
		}
		err = up(name, project(kubetest.Registry()+"/devstack-no-such-image:1"), 2*time.Minute)
		var ue *kube.UpError
		if !errors.As(err, &ue) || ue.RollbackErr != nil || !(strings.Contains(err.Error(), "ErrImagePull") || strings.Contains(err.Error(), "ImagePullBackOff")) ||
			!strings.Contains(err.Error(), "events:") || !strings.HasSuffix(err.Error(), "; rolled back: restored deployment/web to the previous spec") {
			t.Fatalf("got %v", err)
		}
		t.Logf("rollback of web took %s (load %.1f)", ue.Took.Round(time.Millisecond), kubetest.LoadAvg())
		d, err := c.Clientset().AppsV1().Deployments(c.Namespace()).Get(ctx, "web", metav1.GetOptions{})
		if err != nil || d.Spec.Template.Spec.Containers[0].Image != enginetest.BusyboxImage {
			t.Fatalf("web after the rollback: %v %v", d.Spec.Template.Spec.Containers, err)
		}
		after, err := c.Pods(ctx, name, "")
		if err != nil {
			t.Fatal(err)
		}
		var uids []string
		for _, p := range after {
			uids = append(uids, string(p.UID))
			ready := false
			for _, cond := range p.Status.Conditions {
				ready = ready || (cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue)
			}
			if !ready || p.Spec.Containers[0].Image != enginetest.BusyboxImage {
				t.Fatalf("after the rollback pod %s (%s) is not a Ready old one", p.Name, p.Spec.Containers[0].Image)
			}
		}
		sort.Strings(uids)
		want := []string{string(before[0].UID), string(before[1].UID)}
		sort.Strings(want)
		if strings.Join(uids, ",") != strings.Join(want, ",") {
			t.Fatalf("the old pods did not serve throughout: before %v, after %v", want, uids)
		}
	})

	t.Run("namespace devstack may not write in", func(t *testing.T) {
		// A service account that may only read, in a namespace of its own.
		admin := kubetest.Config(t)
		ac, err := kube.NewForConfig(admin, "")
		if err != nil {
			t.Fatal(err)
		}
		cs := ac.Clientset()
		ns := uniqueName("kb-ro")
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
		if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "reader"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "reader"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "reader", Namespace: ns}},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "view"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "reader", &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cfg := rest.AnonymousClientConfig(admin)
		cfg.BearerToken = tok.Status.Token
		c, err := kube.NewForConfig(cfg, ns)
		if err != nil {
			t.Fatal(err)
		}
		name := uniqueName("kb")
		p := loadProject(t, write(`services:
  app:
    image: `+enginetest.BusyboxImage+`
    command: ["sleep", "1000000"]
`), name)
		_, err = c.Up(ctx, p, kube.UpOptions{}, nil)
		if err == nil || !strings.Contains(err.Error(), "does not let devstack ") || !strings.Contains(err.Error(), "in namespace "+ns+" (RBAC)") {
			t.Fatalf("got %v", err)
		}
		left, lerr := ac.Leftovers(ctx, name)
		if lerr != nil {
			t.Fatal(lerr)
		}
		for _, l := range left {
			if !strings.HasPrefix(l, "namespace/") {
				t.Fatalf("a refused up left %v", left)
			}
		}
	})
}
