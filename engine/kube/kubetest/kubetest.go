// Package kubetest gives tests the project's test cluster (a real
// single-node Kubernetes on this machine, made by testdata/kube/cluster.sh),
// or skips them saying how to make one.
package kubetest

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"devstack/engine/enginetest"
)

// Context is the kubeconfig context the test cluster's kubeconfig names.
const Context = "devstack-test"

var (
	once       sync.Once
	kubeconfig string
	skipReason string
)

// Script is the path of testdata/kube/cluster.sh.
func Script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "kube", "cluster.sh")
}

func runDir() string {
	if d := os.Getenv("DEVSTACK_KUBE_RUN"); d != "" {
		return d
	}
	cache := os.Getenv("DEVSTACK_KUBE_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "devstack-kube")
	}
	return filepath.Join(cache, "run")
}

// Kubeconfig returns the test cluster's kubeconfig, starting the cluster
// when DEVSTACK_KUBE=start; it skips the test when there is none, saying
// why. DEVSTACK_KUBE=off skips at once (make test's suite: the Kubernetes
// tests run after it), =unavailable skips with DEVSTACK_KUBE_REASON (the
// cluster could not be built), and =require fails a test that finds no
// cluster (one was built for it).
func Kubeconfig(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		switch os.Getenv("DEVSTACK_KUBE") {
		case "off":
			skipReason = "DEVSTACK_KUBE=off: make test runs the Kubernetes tests after the suite, on the test cluster it builds meanwhile"
			return
		case "unavailable":
			skipReason = "the test cluster could not be made: " + cmp.Or(os.Getenv("DEVSTACK_KUBE_REASON"), "see testdata/kube/cluster.sh up")
			return
		}
		if v := os.Getenv("DEVSTACK_KUBECONFIG"); v != "" {
			kubeconfig = v
			return
		}
		status := exec.Command("bash", Script(), "status")
		if status.Run() == nil {
			kubeconfig = filepath.Join(runDir(), "kubeconfig")
			return
		}
		if os.Getenv("DEVSTACK_KUBE") != "start" {
			skipReason = "no test cluster runs: start one with `make kube-cluster` (testdata/kube/cluster.sh up), or set DEVSTACK_KUBE=start"
			return
		}
		out, err := exec.Command("bash", Script(), "up").CombinedOutput()
		if err != nil {
			skipReason = fmt.Sprintf("the test cluster could not be made: %v: %s", err, tail(string(out)))
			return
		}
		kubeconfig = filepath.Join(runDir(), "kubeconfig")
	})
	if kubeconfig != "" {
		reclaimOnce.Do(func() { reclaimErr = reclaim(kubeconfig) })
		if reclaimErr != nil {
			t.Fatalf("unable to free the test cluster's released volumes: %v", reclaimErr)
		}
	}
	if kubeconfig == "" {
		if os.Getenv("DEVSTACK_KUBE") == "require" {
			// The cluster was made for these tests: not finding it is a failure.
			t.Fatalf("DEVSTACK_KUBE=require: %s", skipReason)
		}
		t.Skip(skipReason)
	}
	return kubeconfig
}

var (
	reclaimOnce sync.Once
	reclaimErr  error
)

// reclaim makes the test cluster's released volumes available again. Its
// StorageClass has no provisioner: cluster.sh makes a fixed set of local
// volumes, and a claim deleted by a test's down -v leaves its volume
// Released (with its data) for good. Each test binary starts by wiping
// those and clearing their claim, so runs after runs find volumes to bind.
func reclaim(kubeconfig string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	// go test runs the packages' binaries at once: one reclaims at a time.
	lock, err := os.OpenFile(filepath.Join(runDir(), "reclaim.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := lockFile(lock); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, pv := range l.Items {
		if pv.Status.Phase != corev1.VolumeReleased || !strings.HasPrefix(pv.Name, "local-pv") || pv.Spec.HostPath == nil {
			continue
		}
		if out, err := exec.CommandContext(ctx, "bash", Script(), "wipe", pv.Spec.HostPath.Path).CombinedOutput(); err != nil {
			return fmt.Errorf("wipe %s: %v: %s", pv.Name, err, out)
		}
		pv.Spec.ClaimRef = nil
		if _, err := cs.CoreV1().PersistentVolumes().Update(ctx, &pv, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("free %s: %w", pv.Name, err)
		}
	}
	return nil
}

// Config is the rest config of the test cluster.
func Config(t testing.TB) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", Kubeconfig(t))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Registry is the loopback registry the test cluster pulls from.
func Registry() string {
	port := os.Getenv("DEVSTACK_KUBE_REGISTRY_PORT")
	if port == "" {
		port = "5055"
	}
	return "127.0.0.1:" + port
}

// Busybox is the test cluster with the test image loaded into its node:
// the kubeconfig, or the test skipped or failed as Kubeconfig says.
func Busybox(t testing.TB) string {
	t.Helper()
	kc := Kubeconfig(t)
	enginetest.NeedDocker(t)
	enginetest.Busybox(t)
	LoadImage(t, enginetest.BusyboxImage)
	return kc
}

var loaded sync.Map

// LoadImage copies an image of the local Docker engine into the node
// (no registry involved), once per test binary.
func LoadImage(t testing.TB, image string) {
	t.Helper()
	if _, ok := loaded.Load(image); ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", Script(), "load", image).CombinedOutput()
	if err != nil {
		t.Fatalf("unable to load %s into the test cluster: %v: %s", image, err, out)
	}
	loaded.Store(image, true)
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}

// LoadAvg is the machine's one-minute load average, quoted beside figures
// measured on a shared machine; -1 when it cannot be read.
func LoadAvg() float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(raw))
	if len(f) == 0 {
		return -1
	}
	var l float64
	_, _ = fmt.Sscan(f[0], &l)
	return l
}
