package scratch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"devstack/engine"
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
func openJournal(dir, dev, id string) (*journal, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, dev+"-scratch-"+id+journalSuffix)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
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
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if err := lockFile(f); err != nil {
			f.Close() // a rebuild running now
			continue
		}
		projects, images := readJournal(f)
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

func readJournal(f *os.File) (projects, images []string) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		kind, name, ok := strings.Cut(sc.Text(), " ")
		if !ok || name == "" {
			continue // a line cut short by the crash
		}
		switch kind {
		case "project":
			projects = append(projects, name)
		case "image":
			images = append(images, name)
		}
	}
	return projects, images
}

// globEscape quotes the characters filepath.Glob treats specially.
func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`)
	return r.Replace(s)
}
