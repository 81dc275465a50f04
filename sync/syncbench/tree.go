package syncbench

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"devstack/sync/watch"
)

// MakeTree fills dir with n small files, 100 per directory, two levels
// deep (like a source tree), unless it holds them already.
func MakeTree(dir string, n int) error {
	marker := filepath.Join(dir, ".tree-"+strconv.Itoa(n))
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	for i := 0; i < n; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("d%03d", i/1000), fmt.Sprintf("e%02d", i/100%10))
		if i%100 == 0 {
			if err := os.MkdirAll(sub, 0o755); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%02d.go", i%100)), []byte("package x\n"), 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(marker, nil, 0o644)
}

// WatchTree times setting up devstack's watches on dir (every directory
// watched) and returns the process's resident memory afterwards.
func WatchTree(dir string) (setup time.Duration, rss int64, dirs int, err error) {
	start := time.Now()
	w, err := watch.Start(watch.Options{Roots: []string{dir}})
	if err != nil {
		return 0, 0, 0, err
	}
	setup = time.Since(start)
	defer w.Close()
	return setup, RSS(), w.Watched(), nil
}

// RSS returns the resident memory of this process in bytes (0 when it
// cannot tell: Linux only).
func RSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
