package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"devstack/engine/event"
	"devstack/engine/kube"
	"devstack/engine/kube/kubetest"
	"devstack/engine/load"
)

// BenchmarkKubeEditToPod measures how long a saved edit takes to be seen
// inside a pod's container on the test cluster: live sync through the
// cluster's exec API, timed from the write to the moment a watcher running
// in the pod (a shell loop reading the file every 2 ms, its output streamed
// back through one exec) prints the new content. The bar: p50 ≤ 80 ms.
//
//	make kube-cluster && go test ./cmd/devstack -run '^$' -bench KubeEditToPod -benchtime 30x
func BenchmarkKubeEditToPod(b *testing.B) {
	dir, name, kc := kubeFixture(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	p, err := load.Load(ctx, load.Options{Files: []string{filepath.Join(dir, "compose.yaml")}, ProjectName: name})
	if err != nil {
		b.Fatal(err)
	}
	c, err := kube.Connect(ctx, kube.Options{Kubeconfig: kc}, name)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Down(context.Background(), name, kube.DownOptions{Volumes: true}, nil) })
	if _, err := c.Up(ctx, p, kube.UpOptions{Wait: true, Timeout: 3 * time.Minute, Synced: syncedTargets(p)}, nil); err != nil {
		b.Fatal(err)
	}
	syncCtx, stopSync := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- runKubeSync(syncCtx, c, p, nil, event.Discard) }()
	defer func() { stopSync(); <-done }()

	pods, err := c.RunningPods(ctx, name, "web")
	if err != nil || len(pods) != 1 {
		b.Fatalf("web pods: %d %v", len(pods), err)
	}
	// The watcher prints the file's content each time it changes.
	seen := make(chan string, 64)
	pr, pw := io.Pipe()
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		_, _ = c.Exec(watchCtx, pods[0].Name, kube.ExecOptions{Stdout: pw, Cmd: []string{"sh", "-c",
			`old=; while :; do n=; read -r n < /www/src/page.txt 2>/dev/null; if [ "$n" != "$old" ]; then echo "$n"; old=$n; fi; usleep 2000; done`}})
		pw.Close()
	}()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			seen <- sc.Text()
		}
		close(seen)
	}()
	waitFor := func(want string) {
		deadline := time.After(60 * time.Second)
		for {
			select {
			case got, ok := <-seen:
				if !ok {
					b.Fatalf("the watcher in the pod ended before %q", want)
				}
				if got == want {
					return
				}
			case <-deadline:
				b.Fatalf("%q never reached the pod", want)
			}
		}
	}
	waitFor("first") // the initial sync
	page := filepath.Join(dir, "src", "page.txt")
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		want := fmt.Sprintf("edit %d", i)
		start := time.Now()
		if err := os.WriteFile(page, []byte(want+"\n"), 0o644); err != nil {
			b.Fatal(err)
		}
		waitFor(want)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds())/1000, "p90-ms")
	b.ReportMetric(kubetest.LoadAvg(), "load1")
}
