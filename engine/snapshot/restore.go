package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"devstack/engine"
	"devstack/engine/graph"
	"devstack/engine/model"
	"devstack/engine/state"
)

// RestoreOptions describe one restore.
type RestoreOptions struct {
	Runtime Runtime
	Store   Store
	Project *model.Project
	Name    string
	// Confirm is asked, once everything is checked and staged and before
	// any service stops, whether to go on; nil means yes.
	Confirm func(summary string) (bool, error)
	Log     func(format string, args ...any)
}

// CorruptedError is a snapshot whose data does not match its manifest.
type CorruptedError struct {
	Name, Volume, Why string
}

func (e *CorruptedError) Error() string {
	return fmt.Sprintf("snapshot %s is corrupted: the data of volume %s %s; nothing was changed (remove it with `devstack snapshot rm %s`)", e.Name, e.Volume, e.Why, e.Name)
}

// ErrDeclined is returned when Confirm says no.
var ErrDeclined = errors.New("restore cancelled: nothing was changed")

// A restore stages each volume's data inside the volume itself, in a
// hidden directory beside the live entries, while the stack runs on; the
// swap, with the services down, is then renames within the volume: the
// live entries into a second hidden directory, the staged ones into the
// root. Every byte is written once (a staging volume and a copy into the
// volume wrote it twice), and the stack is down for the renames only. The
// helper removes the old entries in the background once the services
// start again, then ends.
//
// The directories are named by the restore's id: .devstack-restore-new.ID
// (staging), -in.ID (the staged data, once every old entry is aside) and
// -old.ID (the old entries). Whatever is named .devstack-restore-* at a
// volume's root is a restore's own: the swap leaves it where it is.
const restorePrefix = ".devstack-restore-"

func stageDirName(id string) string { return restorePrefix + "new." + id }

// journal records a restore between its first write into the project's
// volumes and its end, so that one cut short (the engine gone, devstack
// killed) is finished, or undone, by the next restore or up: the volumes
// are never left half-restored.
type journal struct {
	Snapshot string `json:"snapshot"`
	// staging: data is being written into the staging directories, the
	// live entries untouched (undone: the directories are removed).
	// swap: every volume verified and the services stopped; the renames
	// are under way (finished: the swap script runs again, and picks up
	// where the last run stopped). swapped: the data is in place; the
	// services start and the old entries go.
	Phase   string             `json:"phase"`
	ID      string             `json:"id"` // names the hidden directories
	Volumes []journalVolume    `json:"volumes"`
	Stopped []stoppedContainer `json:"stopped,omitempty"` // to start again
	Image   string             `json:"image,omitempty"`   // the helper's image
	// Helper is the running helper container: one a killed devstack left
	// may still be writing, and is removed (its processes killed) before
	// anything else touches the volumes.
	Helper string `json:"helper,omitempty"`
}

type stoppedContainer struct {
	ID      string `json:"id"`
	Service string `json:"service"`
}

type journalVolume struct {
	Name  string `json:"name"`
	Owner string `json:"owner"` // uid:gid of the volume's root
	Mode  string `json:"mode"`  // octal mode of the volume's root
}

// restoreHelper is the running container that stages, swaps and cleans
// up, with volume i of the journal at /v/i.
type restoreHelper struct {
	id, image string
	shared    bool // sees the snapshot's directory at /snap
	tar       bool // has tar; without, staging goes through the archive endpoint
}

func volumeDir(i int) string { return "/v/" + strconv.Itoa(i) }

// startRestoreHelper starts the helper from the first candidate image
// with the restore's tools, the snapshot's directory bind-mounted when
// dir != "" and the engine sees it. present says which of the journal's
// volumes exist (nil: all); the others are not mounted, so that the
// engine does not make them anew unlabelled.
func startRestoreHelper(ctx context.Context, rt Runtime, p *model.Project, candidates []string, vols []journalVolume, present []bool, dir string) (restoreHelper, error) {
	var mounts []model.Mount
	for i, v := range vols {
		if present == nil || present[i] {
			mounts = append(mounts, model.Mount{Type: model.MountVolume, Source: v.Name, Target: volumeDir(i), NoCopy: true})
		}
	}
	h := restoreHelper{tar: true}
	var err error
	if dir != "" {
		h.id, h.image, h.shared, err = startShared(ctx, rt, p, candidates, mounts, restoreTools, dir, true)
	} else {
		h.id, h.image, err = startStreamer(ctx, rt, p, candidates, mounts, restoreTools, "")
	}
	if err == nil && h.id == "" {
		h.tar = false
		h.id, h.image, err = startStreamer(ctx, rt, p, candidates, mounts, restoreTools[1:], "")
	}
	if err == nil && h.id == "" {
		err = fmt.Errorf("none of project %s's images has the shell and tools (sh, %s) a restore runs with: nothing was changed", p.Name, strings.Join(restoreTools[1:], ", "))
	}
	return h, err
}

// execScript runs a shell script in the helper, as root.
func execScript(ctx context.Context, rt Runtime, helper, script string, args ...string) error {
	stderr := &limitedBuffer{max: 4 << 10}
	code, err := rt.Exec(ctx, helper, engine.ExecOptions{Cmd: append([]string{"sh", "-c", script, "restore"}, args...), User: "0:0", Stdout: stderr, Stderr: stderr})
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("the helper's script exited %d: %s", code, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// Restore puts a snapshot's volumes back. Each volume's data is first
// written into a staging directory inside the volume while the stack
// runs on, its stream checked against the manifest's checksum; only when
// every volume is staged and verified are the services that mount them
// stopped, the staged entries renamed into place, and the services
// started again. A corrupted snapshot is refused before anything stops
// (its staging directories removed); a restore cut short is finished, or
// undone, by the next restore or up.
func Restore(ctx context.Context, o RestoreOptions) (*Manifest, error) {
	p := o.Project
	if err := CheckName(o.Name); err != nil {
		return nil, err
	}
	unlock, err := o.Store.lock(p.Name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if done, err := resume(ctx, o); err != nil || done {
		if err != nil {
			return nil, err
		}
		return o.Store.Load(p.Name, o.Name)
	}
	m, err := o.Store.Load(p.Name, o.Name)
	if err != nil {
		return nil, err
	}
	dir := o.Store.dir(p.Name, o.Name)
	for _, v := range m.Volumes {
		if _, ok := p.Volumes[v.Key]; !ok {
			return nil, fmt.Errorf("snapshot %s holds volume %q, which the compose file no longer defines: restore it from the compose file it was saved with", o.Name, v.Key)
		}
		if fi, err := os.Stat(filepath.Join(dir, v.File)); err != nil || fi.Size() != v.Stored {
			why := "is missing"
			if err == nil {
				why = fmt.Sprintf("is %d bytes, the manifest says %d", fi.Size(), v.Stored)
			}
			return nil, &CorruptedError{Name: o.Name, Volume: v.Name, Why: "(" + v.File + ") " + why}
		}
	}
	for _, e := range m.Images {
		if fi, err := os.Stat(filepath.Join(dir, e.File)); err != nil || fi.Size() != e.Stored {
			return nil, &CorruptedError{Name: o.Name, Volume: "(container " + e.Container + ")", Why: "(" + e.File + ") is missing or cut short"}
		}
	}
	obs, err := o.Runtime.Observe(ctx, p)
	if err != nil {
		return nil, err
	}
	var refs []volumeRef
	for _, v := range m.Volumes {
		name := p.Volumes[v.Key].Name
		if err := checkUsers(ctx, o.Runtime, p.Name, name, "restore"); err != nil {
			return nil, err
		}
		refs = append(refs, volumeRef{key: v.Key, name: name, services: mounting(p, v.Key)})
	}
	start := time.Now()
	var images imageRuntime
	if len(m.Images) > 0 {
		var ok bool
		if images, ok = o.Runtime.(imageRuntime); !ok {
			return nil, fmt.Errorf("this engine runtime cannot load images: snapshot %s's containers cannot be restored", o.Name)
		}
		if err := loadImages(ctx, images, o.Name, dir, m.Images); err != nil {
			return nil, err
		}
	}
	// A volume the stack has not made yet (a down -v since the save) is
	// made as up would make it, so that it has the project's labels.
	for _, v := range refs {
		info, err := o.Runtime.VolumeInfo(ctx, v.name)
		if err == nil && !info.Found {
			err = o.Runtime.CreateVolume(ctx, p, v.key)
		}
		if err != nil {
			return nil, err
		}
	}
	// Stage: into hidden directories of the volumes, written and verified
	// while the stack runs on.
	j := &journal{Snapshot: o.Name, Phase: "staging", ID: randomID()}
	for _, v := range m.Volumes {
		j.Volumes = append(j.Volumes, journalVolume{Name: p.Volumes[v.Key].Name,
			Owner: fmt.Sprintf("%d:%d", v.RootUID, v.RootGID), Mode: fmt.Sprintf("%o", v.RootMode)})
	}
	if err := o.Store.writeJournal(p.Name, j); err != nil {
		return nil, err
	}
	var h restoreHelper
	drop := func() {
		c := context.WithoutCancel(ctx)
		if h.id != "" {
			_ = execScript(c, o.Runtime, h.id, dropScript, append([]string{j.ID}, volumeDirs(j.Volumes, nil)...)...)
			_ = o.Runtime.RemoveContainer(c, h.id, false)
		}
		_ = o.Store.removeJournal(p.Name)
		for _, e := range m.Images {
			_ = images.RemoveImage(c, e.Ref)
		}
	}
	if len(j.Volumes) > 0 {
		plain := true
		for _, v := range m.Volumes {
			plain = plain && v.Encoding == encTar
		}
		shareDir := ""
		if plain {
			shareDir = dir
		}
		h, err = startRestoreHelper(ctx, o.Runtime, p, imageCandidates(p, obs, refs), j.Volumes, nil, shareDir)
		if err == nil {
			j.Helper, j.Image = h.id, h.image
			err = o.Store.writeJournal(p.Name, j)
		}
		if err != nil {
			drop()
			return nil, err
		}
	}
	// Two volumes at a time, as a save streams them.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for i, v := range m.Volumes {
		g.Go(func() error { return stageVolume(gctx, o, h, volumeDir(i)+"/"+stageDirName(j.ID), dir, v) })
	}
	if err := g.Wait(); err != nil {
		drop()
		return nil, err
	}
	if o.Log != nil {
		o.Log("staged and verified %d volume(s) in %s", len(m.Volumes), time.Since(start).Round(10*time.Millisecond))
	}

	// Which of the project's containers mount the volumes, and which of
	// those run: they stop for the swap and start again (dependencies
	// first).
	var running []model.Container
	seen := map[string]bool{}
	for _, v := range j.Volumes {
		users, err := o.Runtime.VolumeUsers(ctx, v.Name)
		if err != nil {
			drop()
			return nil, err
		}
		for _, c := range users {
			// Helpers are not the stack's: this restore's, or a save's on
			// its way out.
			if seen[c.ID] || c.Service == helperService || (c.State != model.StateRunning && c.State != model.StateRestarting && c.State != model.StatePaused) {
				continue
			}
			seen[c.ID] = true
			full, err := o.Runtime.InspectContainer(ctx, c.ID)
			if err != nil {
				drop()
				return nil, err
			}
			running = append(running, full)
		}
	}
	sort.Slice(running, func(a, b int) bool { return running[a].StartedAt.Before(running[b].StartedAt) })
	if o.Confirm != nil {
		var names []string
		for _, v := range j.Volumes {
			names = append(names, v.Name)
		}
		summary := fmt.Sprintf("restore snapshot %s (%s) of project %s: replaces", o.Name, m.Created.Local().Format("2006-01-02 15:04"), p.Name)
		if len(names) > 0 {
			summary += " the contents of volume(s) " + strings.Join(names, ", ")
		}
		if len(m.Images) > 0 {
			var cs []string
			for _, e := range m.Images {
				cs = append(cs, e.Container)
			}
			if len(names) > 0 {
				summary += " and"
			}
			summary += " the container(s) " + strings.Join(cs, ", ") + " (made anew from their saved filesystems)"
		}
		if len(running) > 0 {
			var cs []string
			for _, c := range running {
				cs = append(cs, c.Name)
			}
			summary += "; stops and starts again " + strings.Join(cs, ", ")
		}
		ok, err := o.Confirm(summary)
		if err != nil || !ok {
			drop()
			if err == nil {
				err = ErrDeclined
			}
			return nil, err
		}
	}

	// Swap. From here the journal finishes the work if it is cut short.
	j.Phase = "swap"
	for _, c := range running {
		j.Stopped = append(j.Stopped, stoppedContainer{ID: c.ID, Service: c.Service})
	}
	if err := o.Store.writeJournal(p.Name, j); err != nil {
		drop()
		return nil, err
	}
	down := time.Now()
	if o.Log != nil && len(running) > 0 {
		var cs []string
		for _, c := range running {
			cs = append(cs, c.Name)
		}
		o.Log("stopping %s", strings.Join(cs, ", "))
	}
	if err := stopAll(ctx, o.Runtime, running); err != nil {
		return nil, interrupted(o.Name, err)
	}
	stopped := time.Since(down)
	if len(m.Images) > 0 {
		// Containers are replaced from their committed images before
		// anything starts again; a replacement cut short is not finished
		// by the next restore (run it again).
		if err := recreateFromImages(ctx, o.Runtime, p, m.Images, j); err != nil {
			return nil, interrupted(o.Name, err)
		}
	}
	var downFor time.Duration
	if err := finish(ctx, o, j, nil, func() { downFor = time.Since(down) }); err != nil {
		return nil, interrupted(o.Name, err)
	}
	if o.Log != nil {
		o.Log("snapshot %s restored in %s (services down %s: %s to stop them, %s to swap and start)", o.Name, time.Since(start).Round(10*time.Millisecond),
			downFor.Round(10*time.Millisecond), stopped.Round(10*time.Millisecond), (downFor - stopped).Round(10*time.Millisecond))
	}
	return m, nil
}

func interrupted(name string, err error) error {
	return fmt.Errorf("the restore of snapshot %s was cut short: %w; the verified data waits in the volumes: run `devstack snapshot restore --resume` to finish it (nothing is lost)", name, err)
}

// Resume finishes a restore an earlier devstack left mid-swap (the swap
// runs on from the verified staged data: the volumes end with the
// snapshot's data, never a mix), or removes the staged data of one cut
// short before the swap (the live entries were never touched). It
// returns the snapshot's name, "" when no restore was unfinished, and
// whether the restore was finished (else undone).
func Resume(ctx context.Context, o RestoreOptions) (string, bool, error) {
	unlock, err := o.Store.lock(o.Project.Name)
	if err != nil {
		return "", false, err
	}
	defer unlock()
	j, err := o.Store.readJournal(o.Project.Name)
	if err != nil || j == nil {
		return "", false, err
	}
	_, err = resume(ctx, o)
	return j.Snapshot, j.Phase != "staging", err
}

// Unfinished names the snapshot whose restore was cut short, "" if none.
func (s Store) Unfinished(project string) (string, error) {
	j, err := s.readJournal(project)
	if err != nil || j == nil {
		return "", err
	}
	return j.Snapshot, nil
}

// resume is Resume under the lock. done says the unfinished restore was
// of the snapshot asked for now and is finished.
func resume(ctx context.Context, o RestoreOptions) (done bool, err error) {
	p := o.Project
	j, err := o.Store.readJournal(p.Name)
	if err != nil || j == nil {
		return false, err
	}
	if j.ID == "" && len(j.Volumes) > 0 {
		return false, fmt.Errorf("the journal of an unfinished restore (%s) was written by an older devstack: finish it with that devstack, or remove the file and restore again", o.Store.journalPath(p.Name))
	}
	// The helper a killed devstack left may still be writing: it goes
	// first, with any other the project's snapshots left (killed before
	// the journal named it; under the lock, none is in use).
	if err := removeHelpers(ctx, o.Runtime, p, j.Helper); err != nil {
		return false, interrupted(j.Snapshot, err)
	}
	j.Helper = ""
	// A volume removed since (down -v) took its staged data with it.
	present := make([]bool, len(j.Volumes))
	anyPresent := false
	for i, v := range j.Volumes {
		info, err := o.Runtime.VolumeInfo(ctx, v.Name)
		if err != nil {
			return false, interrupted(j.Snapshot, err)
		}
		present[i] = info.Found
		anyPresent = anyPresent || info.Found
		if !info.Found && j.Phase == "swap" && o.Log != nil {
			o.Log("volume %s was removed while the restore of snapshot %s was cut short, and its staged data with it: restore the snapshot again", v.Name, j.Snapshot)
		}
	}
	if j.Phase == "staging" {
		// The live entries were never touched: the staged data goes.
		if o.Log != nil {
			o.Log("the restore of snapshot %s was cut short before any service stopped: its staged data is removed, the volumes are as they were", j.Snapshot)
		}
		if j.Image != "" && anyPresent {
			h, err := resumeHelper(ctx, o, j, present)
			if err != nil {
				return false, err
			}
			err = execScript(ctx, o.Runtime, h, dropScript, append([]string{j.ID}, volumeDirs(j.Volumes, present)...)...)
			if rerr := o.Runtime.RemoveContainer(context.WithoutCancel(ctx), h, false); err == nil {
				err = rerr
			}
			if err != nil {
				return false, fmt.Errorf("unable to remove the staged data of a restore cut short: %w", err)
			}
		}
		return false, o.Store.removeJournal(p.Name)
	}
	if o.Log != nil {
		o.Log("finishing the restore of snapshot %s that was cut short", j.Snapshot)
	}
	// Containers removed since (a down) are not started again.
	obs, err := o.Runtime.Observe(ctx, p)
	if err != nil {
		return false, interrupted(j.Snapshot, err)
	}
	var still []stoppedContainer
	for _, c := range j.Stopped {
		for _, oc := range obs.Containers {
			if oc.ID == c.ID {
				still = append(still, c)
			}
		}
	}
	j.Stopped = still
	if err := finish(ctx, o, j, present, nil); err != nil {
		return false, interrupted(j.Snapshot, err)
	}
	return j.Snapshot == o.Name, nil
}

// removeHelpers removes the project's snapshot helper containers, and
// the one named id.
func removeHelpers(ctx context.Context, rt Runtime, p *model.Project, id string) error {
	obs, err := rt.Observe(ctx, p)
	if err != nil {
		return err
	}
	ids := []string{}
	if id != "" {
		ids = append(ids, id)
	}
	for _, c := range obs.Containers {
		if c.Service == helperService && c.ID != id && !strings.Contains(c.Name, cleanerInfix) {
			ids = append(ids, c.ID)
		}
	}
	for _, id := range ids {
		if err := rt.RemoveContainer(ctx, id, false); err != nil {
			return err
		}
	}
	return nil
}

// resumeHelper starts a helper for a restore an earlier devstack left,
// from the image it used, and records it in the journal.
func resumeHelper(ctx context.Context, o RestoreOptions, j *journal, present []bool) (string, error) {
	obs, err := o.Runtime.Observe(ctx, o.Project)
	if err != nil {
		return "", err
	}
	candidates := []string{j.Image}
	if obs.Images[j.Image] == "" {
		candidates = imageCandidates(o.Project, obs, nil)
	}
	h, err := startRestoreHelper(ctx, o.Runtime, o.Project, candidates, j.Volumes, present, "")
	if err != nil {
		return "", err
	}
	j.Helper = h.id
	if err := o.Store.writeJournal(o.Project.Name, j); err != nil {
		_ = o.Runtime.RemoveContainer(context.WithoutCancel(ctx), h.id, false)
		return "", err
	}
	return h.id, nil
}

// finish runs the swap (again, after an interruption: it picks up where
// the last run stopped), then starts the stopped containers while the old
// entries are removed, and ends the journal. Each step may be repeated.
// The swap is not cancelled with ctx: once the services are down it is
// quicker to finish it than to leave it for the next devstack. up, when
// set, is called once the services run again.
func finish(ctx context.Context, o RestoreOptions, j *journal, present []bool, up func()) error {
	p := o.Project
	dirs := volumeDirs(j.Volumes, present)
	if j.Helper == "" && len(dirs) > 0 {
		if _, err := resumeHelper(ctx, o, j, present); err != nil {
			return err
		}
	}
	if j.Phase == "swap" {
		if len(dirs) > 0 {
			args := []string{j.ID}
			for i, v := range j.Volumes {
				if present == nil || present[i] {
					args = append(args, volumeDir(i), v.Owner, v.Mode)
				}
			}
			if err := execScript(context.WithoutCancel(ctx), o.Runtime, j.Helper, swapScript, args...); err != nil {
				_ = o.Runtime.RemoveContainer(context.WithoutCancel(ctx), j.Helper, false)
				return fmt.Errorf("unable to swap the volumes' contents: %w", err)
			}
		}
		j.Phase = "swapped"
		if err := o.Store.writeJournal(p.Name, j); err != nil {
			_ = o.Runtime.RemoveContainer(context.WithoutCancel(ctx), j.Helper, false)
			return err
		}
	}
	// The services start, and only then is the helper handed the removal
	// of the old entries: it removes them once devstack is gone, and then
	// itself. Removing 32,768 files beside the start slowed it on a loaded
	// machine: a container's start took 9 s against 3 s beside one file's.
	err := startInWaves(ctx, o.Runtime, p, j.Stopped)
	if up != nil {
		up()
	}
	var herr error
	if len(dirs) > 0 {
		herr = handOff(context.WithoutCancel(ctx), o.Runtime, p, j.Helper, dirs)
	}
	if herr != nil {
		// The old entries stay hidden in the volume until the next
		// restore's clean-up: the restore itself is done.
		if o.Log != nil {
			o.Log("the old entries of the volumes were left in .devstack-restore-old.* (the next restore removes them): %v", herr)
		}
		_ = o.Runtime.RemoveContainer(context.WithoutCancel(ctx), j.Helper, false)
	}
	if err != nil {
		return err
	}
	return o.Store.removeJournal(p.Name)
}

// cleanerInfix names a helper that was handed the removal of old entries.
const cleanerInfix = "-snapshot-clean-"

// handOff has the helper remove the old entries in the background and
// end (its init is told to stop once they are gone; the engine then
// removes it), renamed so that a save waits for it (a save must not find
// them half removed) and a restore leaves it be.
func handOff(ctx context.Context, rt Runtime, p *model.Project, helper string, dirs []string) error {
	if err := rt.RenameContainer(ctx, helper, p.Name+cleanerInfix+randomID()); err != nil {
		return err
	}
	return execScript(ctx, rt, helper, `(`+cleanScript+`; kill 1) </dev/null >/dev/null 2>&1 &`, dirs...)
}

// waitForCleaners waits until the helpers removing old entries are gone.
func waitForCleaners(ctx context.Context, rt Runtime, obs model.Observed, log func(string, ...any)) error {
	for _, c := range obs.Containers {
		if c.Service != helperService || !strings.Contains(c.Name, cleanerInfix) || (c.State != model.StateRunning && c.State != model.StateCreated) {
			continue
		}
		if log != nil {
			log("waiting for %s to remove the old data a restore left", c.Name)
		}
		if _, err := rt.WaitContainer(ctx, c.ID); err != nil && !strings.Contains(strings.ToLower(err.Error()), "no such container") {
			return err
		}
	}
	return nil
}

// volumeDirs lists the helper's mounts of the volumes that are present
// (nil: all).
func volumeDirs(vols []journalVolume, present []bool) []string {
	var out []string
	for i := range vols {
		if present == nil || present[i] {
			out = append(out, volumeDir(i))
		}
	}
	return out
}

// startInWaves starts the containers a wave of dependency depth at a
// time, each wave's containers at once: what depends on another service
// starts after it, and the stack is down no longer than it must be.
func startInWaves(ctx context.Context, rt Runtime, p *model.Project, cs []stoppedContainer) error {
	depth := map[string]int{}
	if g, err := graph.New(p); err == nil {
		for _, s := range g.Order() {
			for _, d := range g.Dependencies(s) {
				depth[s] = max(depth[s], depth[d]+1)
			}
		}
	}
	waves := map[int][]string{}
	top := 0
	for _, c := range cs {
		d := depth[c.Service]
		waves[d] = append(waves[d], c.ID)
		top = max(top, d)
	}
	for d := 0; d <= top; d++ {
		errs := make(chan error, len(waves[d]))
		for _, id := range waves[d] {
			go func() { errs <- rt.StartContainer(ctx, id) }()
		}
		var first error
		for range waves[d] {
			if err := <-errs; err != nil && first == nil {
				first = err
			}
		}
		if first != nil {
			return first
		}
	}
	return nil
}

func stopAll(ctx context.Context, rt Runtime, cs []model.Container) error {
	errs := make(chan error, len(cs))
	for _, c := range cs {
		go func() { errs <- rt.StopContainer(ctx, c.ID, nil) }()
	}
	var first error
	for range cs {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// stageScript makes the staging directory $1 and extracts the archive
// $2 ("-": standard input) into it, owners kept by number.
const stageScript = `mkdir "$1" && cd "$1" && exec tar -xf "$2" --numeric-owner`

// stageVolume writes the snapshot's archive of one volume into the
// staging directory stage (as the helper sees it), hashing every byte of
// the file: tar in the helper reads the file itself through the bind
// mount (devstack reads it beside, both from the page cache), or is fed
// it on its standard input; a helper without tar takes it through the
// engine's archive endpoint. The file is read and hashed to its end
// whatever tar makes of it (tar stops reading at the archive's end,
// before the padding), so that a damaged file is named as such.
func stageVolume(ctx context.Context, o RestoreOptions, h restoreHelper, stage, dir string, v VolumeEntry) error {
	src, err := openFile(dir, v.File, v.Encoding)
	if err != nil {
		return &CorruptedError{Name: o.Name, Volume: v.Name, Why: "cannot be read: " + err.Error()}
	}
	defer src.Close()
	c, want, alg := volumeCounter(v)
	var copyErr, readErr error
	switch {
	case h.shared && v.Encoding == encTar:
		hashed := make(chan error, 1)
		go func() {
			_, err := io.Copy(c, src)
			hashed <- err
		}()
		copyErr = execTar(ctx, o.Runtime, h.id, engine.ExecOptions{Cmd: []string{"sh", "-c", stageScript, "stage", stage, sharedDir + "/" + v.File}})
		readErr = <-hashed
	default:
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			buf := make([]byte, 1<<20)
			sending := true
			for {
				n, err := src.Read(buf)
				if n > 0 {
					c.Write(buf[:n])
					if sending {
						if _, werr := pw.Write(buf[:n]); werr != nil {
							sending = false
						}
					}
				}
				if err == io.EOF {
					pw.Close()
					done <- nil
					return
				}
				if err != nil {
					pw.CloseWithError(err)
					done <- err
					return
				}
			}
		}()
		if h.tar {
			copyErr = execTar(ctx, o.Runtime, h.id, engine.ExecOptions{Cmd: []string{"sh", "-c", stageScript, "stage", stage, "-"}, Stdin: pr})
		} else {
			// The archive endpoint extracts into an existing directory:
			// the entries are renamed into the staging directory.
			parent, base := path.Split(stage)
			ar, aw := io.Pipe()
			go func() { aw.CloseWithError(prefixNames(pr, aw, base)) }()
			copyErr = o.Runtime.CopyTo(ctx, h.id, parent, ar)
			ar.CloseWithError(errors.New("the engine stopped reading"))
		}
		pr.CloseWithError(errors.New("the helper stopped reading"))
		readErr = <-done
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	switch {
	case readErr != nil:
		return &CorruptedError{Name: o.Name, Volume: v.Name, Why: "cannot be read: " + readErr.Error()}
	case c.n != v.Bytes || want == "" || c.sum() != want:
		return &CorruptedError{Name: o.Name, Volume: v.Name, Why: fmt.Sprintf("does not match its checksum (%s %s, %d bytes; the manifest says %s, %d bytes)", alg, c.sum(), c.n, want, v.Bytes)}
	case copyErr != nil:
		if strings.Contains(copyErr.Error(), "No space left on device") {
			return fmt.Errorf("no space left on the engine's disk while restoring volume %s: nothing was changed; free some space and restore again", v.Name)
		}
		return fmt.Errorf("unable to write volume %s: %w", v.Name, copyErr)
	}
	return nil
}

// mounting lists the services that mount the volume key.
func mounting(p *model.Project, key string) []string {
	var out []string
	for _, s := range p.Services {
		for _, m := range s.Volumes {
			if m.Type == model.MountVolume && m.Source == key {
				out = append(out, s.Name)
				break
			}
		}
	}
	return out
}

// swapScript puts each volume's staged entries in place of its live
// ones, all volumes at once, by renames within the volume. Arguments:
// the restore's id, then per volume its mount, the root's owner and
// mode. Run again after any interruption it picks up where the last run
// stopped: while -new exists, live entries are still being moved into
// -old (whatever is at the root but the restore's own directories is
// live: the services are down); its rename to -in says they all are;
// while -in exists, staged entries are being moved out of it. A volume
// with none of the three lost its staged data (exit 3).
const swapScript = `id=$1; shift
swap() {
  new="$1/.devstack-restore-new.$id" in="$1/.devstack-restore-in.$id" old="$1/.devstack-restore-old.$id"
  if [ -d "$new" ]; then
    mkdir -p "$old" || return 1
    find "$1" -mindepth 1 -maxdepth 1 ! -name '.devstack-restore-*' -exec mv -t "$old" {} + || return 1
    mv "$new" "$in" || return 1
  fi
  if [ -d "$in" ]; then
    find "$in" -mindepth 1 -maxdepth 1 -exec mv -t "$1" {} + || return 1
    rmdir "$in" || return 1
  elif [ ! -d "$old" ]; then
    echo "the staged data of $1 is gone" >&2; return 3
  fi
  chown "$2" "$1" && chmod "$3" "$1"
}
pids=
while [ $# -gt 0 ]; do swap "$1" "$2" "$3" & pids="$pids $!"; shift 3; done
rc=0
for p in $pids; do wait $p || rc=$?; done
exit $rc
`

// cleanScript removes the old entries at the root of each volume given:
// this restore's, and those of any earlier one whose clean-up was cut
// short (nothing else names a directory -old.*).
const cleanScript = `for v; do find "$v" -mindepth 1 -maxdepth 1 -name '.devstack-restore-old.*' -exec rm -rf {} +; done`

// dropScript removes the staged data of a restore refused or undone
// (the restore's id, then the volumes' mounts).
const dropScript = `id=$1; shift
for v; do rm -rf "$v/.devstack-restore-new.$id" || exit 1; done`

func (s Store) journalPath(project string) string {
	return filepath.Join(s.projectDir(project), journalFile)
}

func (s Store) writeJournal(project string, j *journal) error {
	b, _ := json.Marshal(j)
	return state.WriteFile(s.journalPath(project), b)
}

func (s Store) readJournal(project string) (*journal, error) {
	b, err := state.ReadFile(s.journalPath(project))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var j journal
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("the journal of an unfinished restore (%s) is unreadable: %w", s.journalPath(project), err)
	}
	return &j, nil
}

func (s Store) removeJournal(project string) error {
	err := os.Remove(s.journalPath(project))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// loadImages loads the containers' committed images, each stream checked
// against its checksum; a damaged one is removed again and refused.
func loadImages(ctx context.Context, rt imageRuntime, name, dir string, es []ImageEntry) error {
	for i, e := range es {
		src, err := openFile(dir, e.File, encodingOf(e.File))
		if err != nil {
			return &CorruptedError{Name: name, Volume: "(container " + e.Container + ")", Why: "cannot be read: " + err.Error()}
		}
		c := newCounter()
		loadErr := rt.LoadImage(ctx, io.TeeReader(src, c))
		_, readErr := io.Copy(c, src)
		src.Close()
		if readErr != nil || c.sum() != e.SHA256 {
			for _, l := range es[:i+1] {
				_ = rt.RemoveImage(context.WithoutCancel(ctx), l.Ref)
			}
			return &CorruptedError{Name: name, Volume: "(container " + e.Container + ")", Why: "does not match its checksum"}
		}
		if loadErr != nil {
			return loadErr
		}
	}
	return nil
}

func encodingOf(file string) string {
	if strings.HasSuffix(file, ".zst") {
		return encTarZstd
	}
	return encTar
}

// recreateFromImages replaces each saved container with one made from its
// committed image, the service's definition otherwise unchanged (so `up`
// keeps it): created beside the old one with its anonymous volumes, the
// old one stopped and removed, the new one renamed into place. Those that
// ran are started with the rest.
func recreateFromImages(ctx context.Context, rt Runtime, p *model.Project, es []ImageEntry, j *journal) error {
	obs, err := rt.Observe(ctx, p)
	if err != nil {
		return err
	}
	for _, e := range es {
		svc, ok := p.Service(e.Service)
		if !ok {
			return fmt.Errorf("the snapshot holds a container of service %q, which the compose file no longer defines", e.Service)
		}
		s2 := *svc
		s2.Image = e.Ref
		var old *model.Container
		for i := range obs.Containers {
			c := &obs.Containers[i]
			if c.Service == e.Service && c.Number == e.Number && !c.OneOff {
				old = c
			}
		}
		if old == nil {
			id, err := rt.CreateContainer(ctx, p, &s2, e.Number, engine.CreateOptions{})
			if err != nil {
				return err
			}
			j.Stopped = append(j.Stopped, stoppedContainer{ID: id, Service: e.Service})
			continue
		}
		running := old.State == model.StateRunning || old.State == model.StatePaused || old.State == model.StateRestarting
		id, err := rt.CreateContainer(ctx, p, &s2, e.Number, engine.CreateOptions{Name: old.ID[:12] + "_" + old.Name, Replace: old.ID, InheritVolumes: true})
		if err != nil {
			return err
		}
		if err := rt.StopContainer(ctx, old.ID, nil); err != nil {
			return err
		}
		if err := rt.RemoveContainer(ctx, old.ID, false); err != nil {
			return err
		}
		if err := rt.RenameContainer(ctx, id, old.Name); err != nil {
			return err
		}
		replaced := false
		for k := range j.Stopped {
			if j.Stopped[k].ID == old.ID {
				j.Stopped[k].ID, replaced = id, true
			}
		}
		if running && !replaced {
			j.Stopped = append(j.Stopped, stoppedContainer{ID: id, Service: e.Service})
		}
	}
	return nil
}
