package load

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkLoadDag20 is what every command pays before it talks to the
// engine: loading the 20-service bench project with compose-go.
func BenchmarkLoadDag20(b *testing.B) {
	dir, _ := filepath.Abs("../../testdata/bench/dag20")
	for i := 0; i < b.N; i++ {
		if _, err := Load(context.Background(), Options{WorkDir: dir}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadDag20Cached is the same load answered from the cache.
func BenchmarkLoadDag20Cached(b *testing.B) {
	dir, _ := filepath.Abs("../../testdata/bench/dag20")
	o := Options{WorkDir: dir, CacheDir: b.TempDir()}
	if _, err := Load(context.Background(), o); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Load(context.Background(), o); err != nil {
			b.Fatal(err)
		}
	}
}
