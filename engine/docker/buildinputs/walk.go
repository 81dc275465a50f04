// Package buildinputs reads what a build sends from a directory: the
// walk of a build context as .dockerignore leaves it, and a digest of it
// (paths, modes, link targets, contents) that re-reads only the files
// whose metadata changed since the last digest, so that an unchanged
// build can be recognised without sending anything to the builder.
//
// Design: a build context's walk after `.dockerignore` and its digest, with
// a stat cache in the state directory (files re-read only when size, mtime,
// inode or ctime moved, or changed within 2 s of being read).
package buildinputs

import (
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/moby/patternmatcher"
)

// Walk calls fn, in lexical order, for every entry under dir (not dir
// itself) that .dockerignore's patterns (excludes) leave in the context.
// rel is slash-separated and relative to dir. A directory that is
// excluded is not entered unless a "!" pattern may re-include something
// below it.
func Walk(dir string, excludes []string, fn func(path, rel string, d fs.DirEntry) error) error {
	var pm *patternmatcher.PatternMatcher
	if len(excludes) > 0 {
		var err error
		if pm, err = patternmatcher.New(excludes); err != nil {
			return err
		}
	}
	parents := map[string]patternmatcher.MatchInfo{}
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if pm != nil {
			parent := filepath.ToSlash(filepath.Dir(rel))
			skip, info, err := pm.MatchesUsingParentResults(rel, parents[parent])
			if err != nil {
				return err
			}
			if d.IsDir() {
				parents[rel] = info
			}
			if skip {
				if d.IsDir() && !exclusionBelow(pm, rel) {
					return filepath.SkipDir
				}
				return nil
			}
		}
		return fn(path, rel, d)
	})
}

// exclusionBelow tells whether a "!" pattern may re-include something
// under the excluded directory dir, which then must still be walked.
func exclusionBelow(pm *patternmatcher.PatternMatcher, dir string) bool {
	if !pm.Exclusions() {
		return false
	}
	for _, p := range pm.Patterns() {
		if p.Exclusion() && strings.HasPrefix(p.String()+"/", dir+"/") {
			return true
		}
	}
	return false
}
