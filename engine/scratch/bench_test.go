package scratch

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"devstack/engine/enginetest"
	"devstack/engine/load"
)

// BenchmarkScratchOverhead compares a passing scratch rebuild of the clean
// fixture with its own no-cache build and start (the target: at most 20%
// more). Run it with a fixed count, e.g.:
//
//	go test ./engine/scratch -run '^$' -bench ScratchOverhead -benchtime 5x
func BenchmarkScratchOverhead(b *testing.B) {
	rt := newRuntime(b)
	dir := b.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "testdata", "hidden", "clean"))); err != nil {
		b.Fatal(err)
	}
	project := randomName("hidbench-")
	b.Cleanup(func() { enginetest.RemoveProject(project); removeScratchLeftovers(project) })
	o := load.Options{Files: []string{filepath.Join(dir, "compose.yaml")}, ProjectName: project, WorkDir: dir, Env: []string{"PATH=" + os.Getenv("PATH")}}
	b.ResetTimer()
	m, err := MeasureOverhead(context.Background(), rt, o, b.N)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(m.Baseline, "baseline-s")
	b.ReportMetric(m.Scratch, "scratch-s")
	b.ReportMetric(m.Overhead*100, "overhead-%")
	b.Logf("baselines %.2f, scratch rebuilds %.2f", m.Baselines, m.Scratches)
}
