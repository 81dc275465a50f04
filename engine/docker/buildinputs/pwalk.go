package buildinputs

import (
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/moby/patternmatcher"
)

// walkers is how many directories are listed and stat'ed at once: a
// large tree is mostly system calls, which spread over the cores (and,
// on a busy machine, get their share of them).
const walkers = 8

// parallelWalk visits what Walk visits, several directories at a time,
// in no particular order: fn is called concurrently (never twice for one
// directory's entries at once) and must be safe for that.
func parallelWalk(dir string, excludes []string, fn func(path, rel string, fi fs.FileInfo) error) error {
	var pm *patternmatcher.PatternMatcher
	if len(excludes) > 0 {
		var err error
		if pm, err = patternmatcher.New(excludes); err != nil {
			return err
		}
	}
	var (
		wg       sync.WaitGroup
		slots    = make(chan struct{}, walkers)
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	failed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return firstErr != nil
	}
	var visit func(path, rel string, info patternmatcher.MatchInfo)
	visit = func(path, rel string, parent patternmatcher.MatchInfo) {
		defer wg.Done()
		slots <- struct{}{}
		defer func() { <-slots }()
		if failed() {
			return
		}
		entries, err := os.ReadDir(path)
		if err != nil {
			fail(err)
			return
		}
		for _, d := range entries {
			childPath := filepath.Join(path, d.Name())
			childRel := d.Name()
			if rel != "" {
				childRel = rel + "/" + d.Name()
			}
			var info patternmatcher.MatchInfo
			skip := false
			if pm != nil {
				if skip, info, err = pm.MatchesUsingParentResults(childRel, parent); err != nil {
					fail(err)
					return
				}
			}
			if skip {
				if d.IsDir() && exclusionBelow(pm, childRel) {
					wg.Add(1)
					go visit(childPath, childRel, info)
				}
				continue
			}
			fi, err := d.Info()
			if err != nil {
				fail(err)
				return
			}
			if err := fn(childPath, childRel, fi); err != nil {
				fail(err)
				return
			}
			if d.IsDir() {
				wg.Add(1)
				go visit(childPath, childRel, info)
			}
		}
	}
	wg.Add(1)
	visit(dir, "", patternmatcher.MatchInfo{})
	wg.Wait()
	return firstErr
}
