package sync_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	devsync "devstack/sync"
	"devstack/sync/syncbench"
)

// BenchmarkScenarios times edit -> visible in the container, observed by
// a long-lived exec polling the files (see syncbench). Run with
// -benchtime=1x: each scenario repeats itself as it needs.
func BenchmarkScenarios(b *testing.B) {
	s := newStack(b, basic, map[string]string{"src/.keep": ""})
	src := filepath.Join(s.dir, "src")
	c := s.one("app")
	s.start(devsync.Options{})
	env := syncbench.Env{HostDir: src, ContainerID: c.ID, ContainerDir: "/app", Exec: s.eng.Exec}
	for _, sc := range syncbench.Scenarios() {
		b.Run(sc.Name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				r, err := sc.Run(context.Background(), env)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(r.P50.Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(r.P95.Microseconds())/1000, "p95-ms")
				b.Log(r)
			}
		})
	}
}

// BenchmarkLargeTree watches a 100,000-file tree and syncs it into a
// container from scratch, reporting setup times and resident memory.
func BenchmarkLargeTree(b *testing.B) {
	s := newStack(b, basic, map[string]string{"src/.keep": ""})
	src := filepath.Join(s.dir, "src")
	if err := syncbench.MakeTree(src, 100_000); err != nil {
		b.Fatal(err)
	}
	setup, rss, dirs, err := syncbench.WatchTree(src)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("watch alone: %d directories in %v, RSS %d MB", dirs, setup, rss>>20)
	b.ReportMetric(float64(setup.Milliseconds()), "watch-ms")
	start := time.Now()
	s.start(devsync.Options{})
	ready := time.Since(start)
	b.ReportMetric(float64(ready.Milliseconds()), "ready-ms")
	b.ReportMetric(float64(syncbench.RSS()>>20), "rss-MB")
	b.Logf("syncer with initial sync of 100k files: ready in %v, RSS %d MB", ready, syncbench.RSS()>>20)
	// Started again on a container already in line: the initial sync
	// lists both sides and sends nothing.
	s.stop()
	start = time.Now()
	s.start(devsync.Options{})
	again := time.Since(start)
	b.ReportMetric(float64(again.Milliseconds()), "resync-ms")
	b.Logf("syncer again on a container in line: ready in %v, RSS %d MB", again, syncbench.RSS()>>20)
	// One edit on top of the big tree.
	env := syncbench.Env{HostDir: src, ContainerID: s.one("app").ID, ContainerDir: "/app", Exec: s.eng.Exec}
	r, err := syncbench.OneEdit(context.Background(), env)
	if err != nil {
		b.Fatal(err)
	}
	b.Log(r)
	_ = os.Remove(filepath.Join(src, "edit.txt"))
}
