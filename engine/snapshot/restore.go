package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

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

// journal records a restore between its first change to the project's
// volumes and its end, so that one cut short (the engine gone, devstack
// killed) is finished by the next restore: the volumes are never left
// half-restored.
type journal struct {
	Snapshot string             `json:"snapshot"`
	Phase    string             `json:"phase"` // staging | swap | done
	Volumes  []journalVolume    `json:"volumes"`
	Stopped  []stoppedContainer `json:"stopped,omitempty"` // to start again
	Image    string             `json:"image,omitempty"`   // the swap helper's image
	// Helper is the swap's container: one cut short may still be copying
	// in the engine when the next devstack comes, and is removed (its
	// processes killed) before the swap runs again.
	Helper string `json:"helper,omitempty"`
}

type stoppedContainer struct {
	ID      string `json:"id"`
	Service string `json:"service"`
}

type journalVolume struct {
	Name    string `json:"name"`
	Staging string `json:"staging"`
	Owner   string `json:"owner"` // uid:gid of the volume's root
	Mode    string `json:"mode"`  // octal mode of the volume's root
}

// Restore puts a snapshot's volumes back. Each volume is first written
// into a new staging volume while the stack runs on, its stream checked
// against the manifest's checksum; only when every volume is staged and
// verified are the services that mount them stopped, the staged contents
// swapped in, and the services started again. A corrupted snapshot is
// refused before anything stops; a restore cut short during the swap is
// finished by the next restore.
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
	dropImages := func() {
		for _, e := range m.Images {
			_ = images.RemoveImage(context.WithoutCancel(ctx), e.Ref)
		}
	}
	// Stage: new volumes, written and verified while the stack runs on.
	j := &journal{Snapshot: o.Name, Phase: "staging"}
	for _, v := range m.Volumes {
		j.Volumes = append(j.Volumes, journalVolume{Name: p.Volumes[v.Key].Name, Staging: stagingName(p.Volumes[v.Key].Name),
			Owner: fmt.Sprintf("%d:%d", v.RootUID, v.RootGID), Mode: fmt.Sprintf("%o", v.RootMode)})
	}
	if err := o.Store.writeJournal(p.Name, j); err != nil {
		return nil, err
	}
	dropStaging := func() {
		c := context.WithoutCancel(ctx)
		for _, v := range j.Volumes {
			_ = o.Runtime.RemoveVolume(c, v.Staging)
		}
		_ = o.Store.removeJournal(p.Name)
		dropImages()
	}
	for _, v := range j.Volumes {
		sp := &model.Project{Name: p.Name, Volumes: map[string]model.Volume{
			"devstack-restore": {Name: v.Staging, Labels: map[string]string{"dev.devstack.snapshot-staging": o.Name}},
		}}
		if err := o.Runtime.CreateVolume(ctx, sp, "devstack-restore"); err != nil {
			dropStaging()
			return nil, err
		}
	}
	// One image for staging (tar, in a running helper that mounts the
	// staging volumes) and the swap (a shell's tools); tar missing,
	// staging goes through the archive endpoint.
	streamer, swapImage, shared := "", "", false
	if len(refs) > 0 {
		var mounts []model.Mount
		for i, v := range j.Volumes {
			mounts = append(mounts, model.Mount{Type: model.MountVolume, Source: v.Staging, Target: "/s/" + strconv.Itoa(i), NoCopy: true})
		}
		plain := true
		for _, v := range m.Volumes {
			plain = plain && v.Encoding == encTar
		}
		if plain {
			streamer, swapImage, shared, err = startShared(ctx, o.Runtime, p, obs, refs, mounts, swapTools, dir, true)
		} else {
			streamer, swapImage, err = startStreamer(ctx, o.Runtime, p, obs, refs, mounts, swapTools, "")
		}
		if err == nil && streamer == "" {
			var probe string
			if probe, swapImage, err = startStreamer(ctx, o.Runtime, p, obs, refs, nil, swapTools[1:], ""); probe != "" {
				_ = o.Runtime.RemoveContainer(context.WithoutCancel(ctx), probe, false)
			}
		}
		if err == nil && swapImage == "" {
			err = fmt.Errorf("none of project %s's images has the shell and tools (sh, find, mv, rm, cp, chown, chmod) the swap of volumes runs with: nothing was changed", p.Name)
		}
		if err != nil {
			dropStaging()
			return nil, err
		}
	}
	for i, v := range m.Volumes {
		if err := stageVolume(ctx, o, streamer, shared, "/s/"+strconv.Itoa(i), swapImage, dir, v, j.Volumes[i].Staging); err != nil {
			_ = o.Runtime.RemoveContainer(context.WithoutCancel(ctx), streamer, false)
			dropStaging()
			return nil, err
		}
	}
	if err := o.Runtime.RemoveContainer(ctx, streamer, false); err != nil {
		dropStaging()
		return nil, err
	}
	if len(j.Volumes) > 0 {
		// Created now, started once the services are down: they wait
		// only for the copy.
		if j.Helper, err = createSwapper(ctx, o.Runtime, p, swapImage, j.Volumes); err != nil {
			dropStaging()
			return nil, err
		}
		dropStaging = func(drop func()) func() {
			return func() { _ = o.Runtime.RemoveContainer(context.WithoutCancel(ctx), j.Helper, false); drop() }
		}(dropStaging)
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
			dropStaging()
			return nil, err
		}
		for _, c := range users {
			if seen[c.ID] || (c.State != model.StateRunning && c.State != model.StateRestarting && c.State != model.StatePaused) {
				continue
			}
			seen[c.ID] = true
			full, err := o.Runtime.InspectContainer(ctx, c.ID)
			if err != nil {
				dropStaging()
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
			dropStaging()
			if err == nil {
				err = ErrDeclined
			}
			return nil, err
		}
	}

	// Swap. From here the journal finishes the work if it is cut short.
	j.Phase, j.Image = "swap", swapImage
	for _, c := range running {
		j.Stopped = append(j.Stopped, stoppedContainer{ID: c.ID, Service: c.Service})
	}
	if err := o.Store.writeJournal(p.Name, j); err != nil {
		dropStaging()
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
	if err := finish(ctx, o, j); err != nil {
		return nil, interrupted(o.Name, err)
	}
	downFor := time.Since(down)
	if err := cleanUp(ctx, o, j); err != nil {
		return nil, err
	}
	if o.Log != nil {
		o.Log("snapshot %s restored in %s (services down %s: %s to stop them, %s to swap and start)", o.Name, time.Since(start).Round(10*time.Millisecond),
			downFor.Round(10*time.Millisecond), stopped.Round(10*time.Millisecond), (downFor - stopped).Round(10*time.Millisecond))
	}
	return m, nil
}

func interrupted(name string, err error) error {
	return fmt.Errorf("the restore of snapshot %s was cut short: %w; the verified data waits in staging volumes: run `devstack snapshot restore %s` again to finish it (nothing is lost)", name, err, name)
}

// Resume finishes a restore an earlier devstack left mid-swap (the swap
// runs again from the verified staging volumes: the volumes end with the
// snapshot's data, never a mix), or drops the staging volumes of one cut
// short before the swap (the volumes were never touched). It returns the
// snapshot's name, "" when no restore was unfinished.
func Resume(ctx context.Context, o RestoreOptions) (string, error) {
	unlock, err := o.Store.lock(o.Project.Name)
	if err != nil {
		return "", err
	}
	defer unlock()
	j, err := o.Store.readJournal(o.Project.Name)
	if err != nil || j == nil {
		return "", err
	}
	_, err = resume(ctx, o)
	return j.Snapshot, err
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
// of the snapshot asked for now.
func resume(ctx context.Context, o RestoreOptions) (done bool, err error) {
	j, err := o.Store.readJournal(o.Project.Name)
	if err != nil || j == nil {
		return false, err
	}
	switch j.Phase {
	case "swap":
		if o.Log != nil {
			o.Log("finishing the restore of snapshot %s that was cut short", j.Snapshot)
		}
		// The old helper may still be copying: it goes first.
		if err := o.Runtime.RemoveContainer(ctx, j.Helper, false); err != nil {
			return false, interrupted(j.Snapshot, err)
		}
		if j.Helper, err = createSwapper(ctx, o.Runtime, o.Project, j.Image, j.Volumes); err != nil {
			return false, interrupted(j.Snapshot, err)
		}
		if err := o.Store.writeJournal(o.Project.Name, j); err != nil {
			_ = o.Runtime.RemoveContainer(context.WithoutCancel(ctx), j.Helper, false)
			return false, err
		}
		// Containers removed since (a down) are not started again.
		obs, err := o.Runtime.Observe(ctx, o.Project)
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
		if err := finish(ctx, o, j); err != nil {
			return false, interrupted(j.Snapshot, err)
		}
	case "done":
	default: // staging: the volumes were never touched
		_ = o.Runtime.RemoveContainer(ctx, j.Helper, false)
		for _, v := range j.Volumes {
			if err := o.Runtime.RemoveVolume(ctx, v.Staging); err != nil {
				return false, err
			}
		}
		return false, o.Store.removeJournal(o.Project.Name)
	}
	if err := cleanUp(ctx, o, j); err != nil {
		return false, err
	}
	return j.Snapshot == o.Name, nil
}

// finish runs the swap helper (again, after an interruption: it starts
// over from the staged copy), starts the stopped containers, and marks
// the journal done. Each step may be repeated. The swap is not cancelled
// with ctx: once the services are down it is quicker to finish it than
// to leave it for the next devstack.
func finish(ctx context.Context, o RestoreOptions, j *journal) error {
	if j.Helper != "" {
		code, stderr, err := runCreated(context.WithoutCancel(ctx), o.Runtime, j.Helper)
		if err != nil {
			return fmt.Errorf("unable to swap the volumes' contents: %w", err)
		}
		if code != 0 {
			return fmt.Errorf("unable to swap the volumes' contents: the helper exited %d: %s", code, stderr)
		}
	}
	if err := startInWaves(ctx, o.Runtime, o.Project, j.Stopped); err != nil {
		return err
	}
	j.Phase = "done"
	return o.Store.writeJournal(o.Project.Name, j)
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

// cleanUp removes what a finished restore no longer needs.
func cleanUp(ctx context.Context, o RestoreOptions, j *journal) error {
	if err := o.Runtime.RemoveContainer(ctx, j.Helper, false); err != nil {
		return err
	}
	for _, v := range j.Volumes {
		if err := o.Runtime.RemoveVolume(ctx, v.Staging); err != nil {
			return err
		}
	}
	return o.Store.removeJournal(o.Project.Name)
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

func stagingName(volume string) string { return volume + "-restore-" + randomID() }

// stageVolume streams the snapshot's archive into the staging volume,
// hashing all it reads: through tar run in the streamer, where the
// volume is mounted at target, or (streamer "") the archive endpoint of
// a never-started helper made from fallback.
func stageVolume(ctx context.Context, o RestoreOptions, streamer string, shared bool, target, fallback, dir string, v VolumeEntry, staging string) error {
	if shared {
		return stageShared(ctx, o, streamer, target, dir, v)
	}
	src, err := openFile(dir, v.File, v.Encoding)
	if err != nil {
		return &CorruptedError{Name: o.Name, Volume: v.Name, Why: "cannot be read: " + err.Error()}
	}
	defer src.Close()
	// The file is read and hashed to its end whatever the helper makes of
	// it (tar stops reading at the archive's end, before the padding), so
	// that a damaged file is named as such.
	c := newCounter()
	pr, pw := io.Pipe()
	readErr := make(chan error, 1)
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
				readErr <- nil
				return
			}
			if err != nil {
				pw.CloseWithError(err)
				readErr <- err
				return
			}
		}
	}()
	var copyErr error
	if streamer != "" {
		copyErr = tarIn(ctx, o.Runtime, streamer, target, pr)
	} else {
		helper := &model.Service{Name: helperService, Image: fallback, NetworkMode: "none", Entrypoint: []string{"true"},
			Volumes: []model.Mount{{Type: model.MountVolume, Source: staging, Target: "/s", NoCopy: true}}}
		var id string
		if id, copyErr = createHelper(ctx, o.Runtime, o.Project, helper, false); copyErr == nil {
			copyErr = o.Runtime.CopyTo(ctx, id, "/s", pr)
			_ = o.Runtime.RemoveContainer(context.WithoutCancel(ctx), id, false)
		}
	}
	pr.CloseWithError(errors.New("the helper stopped reading"))
	rerr := <-readErr
	if ctx.Err() != nil {
		return ctx.Err()
	}
	switch {
	case rerr != nil:
		return &CorruptedError{Name: o.Name, Volume: v.Name, Why: "cannot be read: " + rerr.Error()}
	case c.n != v.Bytes || c.sum() != v.SHA256:
		return &CorruptedError{Name: o.Name, Volume: v.Name, Why: fmt.Sprintf("does not match its checksum (sha256 %s…, the manifest says %s…)", c.sum()[:12], v.SHA256[:min(12, len(v.SHA256))])}
	case copyErr != nil:
		return fmt.Errorf("unable to write volume %s: %w", v.Name, copyErr)
	}
	return nil
}

// stageShared has tar in the helper read the snapshot file itself, and
// hashes the file beside it: both read it from the page cache.
func stageShared(ctx context.Context, o RestoreOptions, streamer, target, dir string, v VolumeEntry) error {
	src, err := openFile(dir, v.File, v.Encoding)
	if err != nil {
		return &CorruptedError{Name: o.Name, Volume: v.Name, Why: "cannot be read: " + err.Error()}
	}
	defer src.Close()
	hashed := make(chan error, 1)
	c := newCounter()
	go func() {
		_, err := io.Copy(c, src)
		hashed <- err
	}()
	copyErr := execTar(ctx, o.Runtime, streamer, engine.ExecOptions{Cmd: []string{"tar", "-xf", sharedDir + "/" + v.File, "--numeric-owner", "-C", target}})
	readErr := <-hashed
	if ctx.Err() != nil {
		return ctx.Err()
	}
	switch {
	case readErr != nil:
		return &CorruptedError{Name: o.Name, Volume: v.Name, Why: "cannot be read: " + readErr.Error()}
	case c.n != v.Bytes || c.sum() != v.SHA256:
		return &CorruptedError{Name: o.Name, Volume: v.Name, Why: fmt.Sprintf("does not match its checksum (sha256 %s…, the manifest says %s…)", c.sum()[:12], v.SHA256[:min(12, len(v.SHA256))])}
	case copyErr != nil:
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

// swapScript replaces each volume's contents with its staging volume's,
// all volumes at once, inside the engine (no byte crosses the link to a
// remote engine): the old entries are moved aside within the volume (a
// rename), removed while the staged copy is copied in, and the root gets
// the saved owner and mode. Run again after any interruption it moves
// aside whatever is there, half copy included, and copies again, so a
// swap cut short ends with the snapshot's data. Arguments: per volume
// its mount, its staging volume's mount, the root's owner and mode.
const swapScript = `H=${HOSTNAME:-$(cat /proc/sys/kernel/hostname)} # the helper's own: a new name each run
swap() {
  A="$1/.devstack-restore-old.$H"
  mkdir "$A" || return 1
  find "$1" -mindepth 1 -maxdepth 1 ! -name '.devstack-restore-old.*' -exec mv -t "$A" {} + || return 1
  find "$1" -mindepth 1 -maxdepth 1 -name '.devstack-restore-old.*' -exec rm -rf {} + &
  rm=$!
  cp -a "$2/." "$1/" || return 1
  wait $rm || return 1
  chown "$3" "$1" && chmod "$4" "$1"
}
pids=
while [ $# -gt 0 ]; do swap "$1" "$2" "$3" "$4" & pids="$pids $!"; shift 4; done
rc=0
for p in $pids; do wait $p || rc=1; done
exit $rc
`

// createSwapper makes sure each volume exists (a ` + "`down -v`" + ` since the save
// removed it: it is made anew, as up would) and its staging volume is
// still there, and creates the swap's helper container.
func createSwapper(ctx context.Context, rt Runtime, p *model.Project, image string, vols []journalVolume) (string, error) {
	helper := &model.Service{Name: helperService, Image: image, NetworkMode: "none", User: "0:0",
		Entrypoint: []string{"sh", "-c", swapScript, "swap"}}
	for i, v := range vols {
		orig, err := rt.VolumeInfo(ctx, v.Name)
		if err != nil {
			return "", err
		}
		if !orig.Found {
			for k, pv := range p.Volumes {
				if pv.Name == v.Name {
					if err := rt.CreateVolume(ctx, p, k); err != nil {
						return "", err
					}
				}
			}
		}
		stg, err := rt.VolumeInfo(ctx, v.Staging)
		if err != nil {
			return "", err
		}
		if !stg.Found {
			return "", fmt.Errorf("the staging volume %s of volume %s is gone: the restore cannot be finished; restore the snapshot again", v.Staging, v.Name)
		}
		o, st := fmt.Sprintf("/o%d", i), fmt.Sprintf("/s%d", i)
		helper.Volumes = append(helper.Volumes,
			model.Mount{Type: model.MountVolume, Source: v.Name, Target: o, NoCopy: true},
			model.Mount{Type: model.MountVolume, Source: v.Staging, Target: st, ReadOnly: true, NoCopy: true})
		helper.Entrypoint = append(helper.Entrypoint, o, st, v.Owner, v.Mode)
	}
	return createHelper(ctx, rt, p, helper, false)
}

// runCreated starts a created helper attached and waits for its end.
func runCreated(ctx context.Context, rt Runtime, id string) (int, string, error) {
	stderr := &limitedBuffer{max: 4 << 10}
	code, err := rt.AttachStart(ctx, id, engine.ExecOptions{Stdout: stderr, Stderr: stderr})
	return code, strings.TrimSpace(stderr.String()), err
}

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
