package kube_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"devstack/engine/enginetest"
	"devstack/engine/kube"
	"devstack/engine/kube/kubetest"
)

// What goes wrong on a real cluster is said with what the cluster knows:
// an image the node cannot pull (the pod's event), a pod that never turns
// Ready (its last log lines), a namespace the user may not write in (the
// verb and resource RBAC refused, and nothing made).
func TestKubeBadInputSaysWhatTheClusterSaid(t *testing.T) {
	kc := kubetest.Kubeconfig(t)
	enginetest.NeedDocker(t)
	enginetest.Busybox(t)
	kubetest.LoadImage(t, enginetest.BusyboxImage)
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
	up := func(name, yaml string, timeout time.Duration) error {
		t.Helper()
		p := loadProject(t, write(yaml), name)
		c, err := kube.Connect(ctx, kube.Options{Kubeconfig: kc}, name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Down(context.Background(), name, kube.DownOptions{Volumes: true}, nil) })
		_, err = c.Up(ctx, p, kube.UpOptions{Wait: true, Timeout: timeout}, nil)
		return err
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

	t.Run("pod that never turns Ready", func(t *testing.T) {
		err := up(uniqueName("kb"), `services:
  app:
    image: `+enginetest.BusyboxImage+`
    command: ["sh", "-c", "echo my last words; exec sleep 1000000"]
    healthcheck:
      test: ["CMD", "false"]
      interval: 1s
      retries: 1000
`, 20*time.Second)
		if err == nil || !strings.Contains(err.Error(), "not healthy after 20s") || !strings.Contains(err.Error(), "last log lines: my last words") {
			t.Fatalf("got %v", err)
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
