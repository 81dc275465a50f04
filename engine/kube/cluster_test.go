package kube

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConnectSaysWhereItLooked(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", "")
	_, err := Connect(context.Background(), Options{}, "shop")
	if err == nil || !strings.Contains(err.Error(), filepath.Join(home, ".kube", "config")) {
		t.Fatalf("err = %v", err)
	}
}

func TestConnectNamesAMissingContextAndAnUnreachableCluster(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "config")
	// Port 1 on loopback: nothing listens there.
	cfg := `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {token: x}
contexts:
- name: here
  context: {cluster: c, user: u}
current-context: here
`
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kc)
	if _, err := Connect(context.Background(), Options{Context: "there"}, "shop"); err == nil || !strings.Contains(err.Error(), `context "there" is not in the kubeconfig`) {
		t.Fatalf("missing context: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := Connect(ctx, Options{}, "shop"); err == nil || !strings.Contains(err.Error(), "unable to reach the cluster at here (https://127.0.0.1:1)") {
		t.Fatalf("unreachable: %v", err)
	}
	if _, err := Connect(ctx, Options{}, "9shop"); err == nil || !strings.Contains(err.Error(), "--namespace") {
		t.Fatalf("a project name that is no namespace: %v", err)
	}
}
