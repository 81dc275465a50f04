package scratch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"devstack/engine"
	"devstack/engine/state"
)

// A journal lists, while a rebuild runs, what it creates on the engine:
// its scratch projects and the images it builds. The rebuild holds the
// file locked and removes it when it has cleaned up. If devstack itself
// dies (SIGKILL, a crash, the machine), the file stays, unlocked, and the
// next rebuild of the same project takes down what it names: nothing is
// left behind for good. A journal still locked belongs to a rebuild that
// is running (another devstack), and is left alone; what no journal
// names is never touched.
type journal struct {
	f *os.File
}

// journalSuffix ends a journal's file name: <project>-scratch-<id>.running.
const journalSuffix = ".running"

// openJournal starts the journal of rebuild id of project dev in dir.
// Only rebuilds with a hex id (newID's) keep one: the sweep trusts no
// name that does not carry the id.
func openJournal(dir, dev, id string) (*journal, error) {
	if !isHex(id) {
		return nil, fmt.Errorf("rebuild id %q is not hexadecimal", id)
	}
	if err := state.MkdirAll(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, dev+"-scratch-"+id+journalSuffix)
	f, err := state.Create(path)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return &journal{f: f}, nil
}

// add records a project or an image ("project NAME", "image REF") before
// it is created, on disk at once: a crash right after must find it.
func (j *journal) add(kind, name string) error {
	if j == nil {
		return nil
	}
	if _, err := fmt.Fprintf(j.f, "%s %s\n", kind, name); err != nil {
		return err
	}
	return j.f.Sync()
}

// done removes the journal: everything it named is gone.
func (j *journal) done() {
	if j == nil {
		return
	}
	os.Remove(j.f.Name())
	j.f.Close() // closing releases the lock
}

// sweep takes down what the journals of dev's interrupted rebuilds in dir
// name, and removes the journals that are then empty of leftovers. It
// returns one line per journal swept, for the user.
func sweep(ctx context.Context, rt engine.Runtime, dir, dev string) []string {
	paths, _ := filepath.Glob(filepath.Join(dir, globEscape(dev)+"-scratch-*"+journalSuffix))
	var out []string
	for _, path := range paths {
		id := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), dev+"-scratch-"), journalSuffix)
		if !isHex(id) {
			continue // another project's (dev "a" matches "a-scratch-x-scratch-…")
		}
		f, err := state.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if err := lockFile(f); err != nil {
			f.Close() // a rebuild running now
			continue
		}
		projects, images := readJournal(f, dev, id)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		var errs []error
		for _, name := range projects {
			errs = append(errs, removeProject(ctx, rt, name)...)
		}
		errs = append(errs, removeImages(ctx, rt, images)...)
		cancel()
		name := strings.TrimSuffix(filepath.Base(path), journalSuffix)
		if err := errors.Join(errs...); err != nil {
			out = append(out, fmt.Sprintf("the leftovers of interrupted scratch rebuild %s were not all removed (tried again next time): %v", name, err))
		} else {
			os.Remove(path)
			out = append(out, fmt.Sprintf("removed the leftovers of interrupted scratch rebuild %s (%d projects, %d images)", name, len(projects), len(images)))
		}
		f.Close()
	}
	return out
}

// readJournal returns the scratch projects and images the journal of
// rebuild id of project dev names. Only what that rebuild can have
// written is believed: whole lines (a crash can cut the last one short,
// and `project myapp` cut from `project myapp-scratch-…` names the dev
// project itself), naming its own scratch projects (<dev>-scratch-<id>,
// -<n> for re-runs) and images (devstack-scratch/<dev>-<service>:<id>-<n>).
// Anything else is a damaged or foreign file, and a sweep that believed
// it could remove the developer's own containers and volumes.
func readJournal(f *os.File, dev, id string) (projects, images []string) {
	if !isHex(id) {
		return nil, nil
	}
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, nil
	}
	project := regexp.MustCompile(`^` + regexp.QuoteMeta(dev+"-scratch-"+id) + `(-[0-9]+)?$`)
	image := regexp.MustCompile(`^devstack-scratch/` + regexp.QuoteMeta(refPart(dev)) + `-[a-z0-9._-]*:` + id + `-[0-9]+$`)
	lines := strings.Split(string(data), "\n")
	for _, line := range lines[:len(lines)-1] { // the last is "" or torn
		kind, name, _ := strings.Cut(line, " ")
		switch {
		case kind == "project" && name != dev && project.MatchString(name):
			projects = appendNew(projects, name)
		case kind == "image" && image.MatchString(name):
			images = appendNew(images, name)
		}
	}
	return projects, images
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// globEscape quotes the characters filepath.Glob treats specially.
func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`)
	return r.Replace(s)
}
