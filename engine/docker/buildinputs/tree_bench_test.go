package buildinputs

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkTreeUnchanged50k: the digest of an unchanged 50,000-file
// context, every sum trusted from the cache (what a no-change build pays).
func BenchmarkTreeUnchanged50k(b *testing.B) {
	dir := b.TempDir()
	content := make([]byte, 256)
	for d := 0; d < 500; d++ {
		sub := filepath.Join(dir, fmt.Sprintf("d%03d", d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := 0; f < 100; f++ {
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%03d", f)), content, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	h := &Hasher{Dir: b.TempDir(), Now: func() time.Time { return time.Now().Add(time.Minute) }}
	if _, _, err := h.Tree(dir, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, st, err := h.Tree(dir, nil); err != nil || st.Read != 0 {
			b.Fatal(err, st)
		}
	}
}
