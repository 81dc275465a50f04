package snapshot

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"devstack/engine"
	"devstack/engine/model"
	"devstack/engine/state"
)

// Runtime is what snapshots need of the engine: engine.Runtime plus a
// look at volumes and at every container that mounts one.
type Runtime interface {
	engine.Runtime
	VolumeInfo(ctx context.Context, name string) (model.VolumeInfo, error)
	VolumeUsers(ctx context.Context, name string) ([]model.Container, error)
}

// SaveOptions describe one save.
type SaveOptions struct {
	Runtime  Runtime
	Store    Store
	Project  *model.Project
	Name     string
	Services []string // none: all
	// Containers also saves each container's filesystem changes, committed
	// as an image.
	Containers bool
	// Compress stores the volumes zstd-compressed: for remote engines,
	// where the bytes crossed a network anyway and the laptop's disk is
	// the one that fills. A local engine's volumes are stored as plain
	// tar, which costs no CPU.
	Compress bool
	Log      func(format string, args ...any)
	now      func() time.Time
}

// helperService names the helper containers (project-labelled, so that
// removing the project removes a leftover one too).
const helperService = "devstack-snapshot"

// volumeRef is a project volume a snapshot covers.
type volumeRef struct {
	key, name string
	services  []string
}

// Save saves the named volumes the services mount. Nothing is left of a
// save that fails: the partial directory is removed.
func Save(ctx context.Context, o SaveOptions) (*Manifest, error) {
	p := o.Project
	if err := CheckName(o.Name); err != nil {
		return nil, err
	}
	if err := engine.CheckServices(p, o.Services); err != nil {
		return nil, err
	}
	unlock, err := o.Store.lock(p.Name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// A restore cut short leaves its staged data inside the volumes.
	if j, err := o.Store.readJournal(p.Name); err != nil || j != nil {
		if err == nil {
			err = fmt.Errorf("the restore of snapshot %s of project %s was cut short: finish it first (`devstack snapshot restore --resume`)", j.Snapshot, p.Name)
		}
		return nil, err
	}
	if _, err := o.Store.Load(p.Name, o.Name); err == nil {
		return nil, fmt.Errorf("project %s already has a snapshot %q: pick another name, or `devstack snapshot rm %s` first", p.Name, o.Name, o.Name)
	}
	if _, err := os.Lstat(o.Store.dir(p.Name, o.Name)); err == nil {
		return nil, fmt.Errorf("%s exists but is no snapshot: move it away or pick another name", o.Store.dir(p.Name, o.Name))
	}
	vols := projectVolumes(p, o.Services)
	if len(vols) == 0 && !o.Containers {
		return nil, fmt.Errorf("project %s: %s mount no named volumes: there is nothing to save", p.Name, servicesWord(p, o.Services))
	}
	obs, err := o.Runtime.Observe(ctx, p)
	if err != nil {
		return nil, err
	}
	if err := waitForCleaners(ctx, o.Runtime, obs, o.Log); err != nil {
		return nil, err
	}
	for i, v := range vols {
		info, err := o.Runtime.VolumeInfo(ctx, v.name)
		if err != nil {
			return nil, err
		}
		if !info.Found {
			return nil, fmt.Errorf("volume %s (%q, mounted by %s) does not exist on the engine yet: bring the stack up first (`devstack up -d`)", v.name, v.key, joinNames(v.services))
		}
		if err := checkUsers(ctx, o.Runtime, p.Name, v.name, "save"); err != nil {
			return nil, err
		}
		vols[i] = v
	}
	var images imageRuntime
	if o.Containers {
		var ok bool
		if images, ok = o.Runtime.(imageRuntime); !ok {
			return nil, fmt.Errorf("this engine runtime cannot commit containers: save without --containers")
		}
	}

	root := o.Store.projectDir(p.Name)
	if err := state.MkdirAll(root); err != nil {
		return nil, err
	}
	partial := filepath.Join(root, partialPrefix+o.Name+"-"+randomID())
	if err := state.MkdirAll(partial); err != nil {
		return nil, err
	}
	done := false
	defer func() {
		if !done {
			_ = os.RemoveAll(partial)
		}
	}()

	src := &volumeSource{rt: o.Runtime, p: p}
	// The helpers go while the snapshot is synced and its manifest
	// written (release), or when the save fails.
	removed, released := make(chan struct{}), false
	release := func() {
		if !released {
			released = true
			go func() {
				c := context.WithoutCancel(ctx)
				// Removed before the save returns: a helper still going
				// would be counted as the stack's in status and ls.
				for _, id := range []string{src.streamer, src.archiveHelper} {
					if id != "" {
						_ = o.Runtime.RemoveContainer(c, id, false)
					}
				}
				close(removed)
			}()
		}
	}
	defer func() { release(); <-removed }()
	if len(vols) > 0 {
		// tar in a helper container streams fastest; an image without a
		// shell and tar leaves the engine's archive endpoint.
		var mounts []model.Mount
		for i, v := range vols {
			mounts = append(mounts, model.Mount{Type: model.MountVolume, Source: v.name, Target: "/v/" + strconv.Itoa(i), ReadOnly: true, NoCopy: true})
		}
		if o.Compress {
			src.streamer, _, err = startStreamer(ctx, o.Runtime, p, imageCandidates(p, obs, vols), mounts, saveTools, "")
		} else {
			src.streamer, _, src.shared, err = startShared(ctx, o.Runtime, p, imageCandidates(p, obs, vols), mounts, saveTools, partial, false)
		}
		if err != nil {
			return nil, err
		}
		if src.streamer == "" {
			image, err := helperImage(p, obs, vols)
			if err != nil {
				return nil, err
			}
			helper := &model.Service{Name: helperService, Image: image, NetworkMode: "none", Entrypoint: []string{"true"}, Volumes: mounts}
			if src.archiveHelper, err = createHelper(ctx, o.Runtime, p, helper, false, false); err != nil {
				return nil, err
			}
		}
	}

	now := time.Now
	if o.now != nil {
		now = o.now
	}
	m := &Manifest{Version: manifestVersion, Name: o.Name, Project: p.Name, Created: now().UTC(), Engine: o.Runtime.Host()}
	m.Services = affectedServices(vols)
	m.Volumes = make([]VolumeEntry, len(vols))
	if images != nil {
		es, err := saveContainers(ctx, images, o, obs, partial)
		if err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return nil, fmt.Errorf("no space left on the disk of %s while saving snapshot %s: the partial snapshot was removed; free some space, or save fewer services", o.Store.Root, o.Name)
			}
			return nil, fmt.Errorf("unable to save snapshot %s: %w (the partial snapshot was removed)", o.Name, err)
		}
		m.Images = es
		for _, e := range es {
			if !slices.Contains(m.Services, e.Service) {
				m.Services = append(m.Services, e.Service)
			}
		}
		sort.Strings(m.Services)
	}
	enc := encTar
	if o.Compress {
		enc = encTarZstd
	}
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2) // two streams keep the engine and the disk busy; more only contend
	for i, v := range vols {
		g.Go(func() error {
			e, err := saveVolume(gctx, src, i, v, partial, enc)
			if err != nil {
				return err
			}
			m.Volumes[i] = e
			if o.Log != nil {
				o.Log("saved volume %s: %d files, %s", v.name, e.Files, humanBytes(e.Bytes))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return nil, fmt.Errorf("no space left on the disk of %s while saving snapshot %s: the partial snapshot was removed; free some space, or save fewer services", o.Store.Root, o.Name)
		}
		return nil, fmt.Errorf("unable to save snapshot %s: %w (the partial snapshot was removed)", o.Name, err)
	}
	release()
	if src.shared {
		// tar wrote the files: they reach the disk before the manifest
		// says they are whole.
		for _, e := range m.Volumes {
			if err := syncFile(filepath.Join(partial, e.File)); err != nil {
				return nil, fmt.Errorf("unable to save snapshot %s: %w (the partial snapshot was removed)", o.Name, err)
			}
		}
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := state.WriteFile(filepath.Join(partial, manifestFile), append(b, '\n')); err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return nil, fmt.Errorf("no space left on the disk of %s while saving snapshot %s: the partial snapshot was removed", o.Store.Root, o.Name)
		}
		return nil, err
	}
	if err := os.Rename(partial, o.Store.dir(p.Name, o.Name)); err != nil {
		return nil, fmt.Errorf("unable to save snapshot %s: %w", o.Name, err)
	}
	_ = state.SyncDir(root)
	done = true
	if o.Log != nil {
		o.Log("snapshot %s of %s saved in %s (%s)", o.Name, p.Name, time.Since(start).Round(10*time.Millisecond), humanBytes(m.Size()))
	}
	return m, nil
}

// volumeSource reads volumes, mounted at /v/i: through tar run in the
// streamer, a running helper, else through the archive endpoint of
// archiveHelper, a never-started one.
type volumeSource struct {
	rt            Runtime
	p             *model.Project
	streamer      string
	shared        bool // the streamer sees the snapshot's directory at /snap
	archiveHelper string
}

// open returns volume i's tar stream and the directory its names start
// with ("" for tar's "./…").
func (s *volumeSource) open(ctx context.Context, i int, v volumeRef) (io.ReadCloser, string, error) {
	if s.streamer == "" {
		rc, err := s.rt.CopyFrom(ctx, s.archiveHelper, "/v/"+strconv.Itoa(i))
		return rc, strconv.Itoa(i), err
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := tarOut(ctx, s.rt, s.streamer, "/v/"+strconv.Itoa(i), pw)
		pw.CloseWithError(err) // nil: the reader sees the end
		done <- err
	}()
	return &helperStream{pr: pr, done: done}, "", nil
}

// helperStream is tar's output; Close reads what the archive's reader
// left (its padding) so that tar can finish, and returns tar's error.
type helperStream struct {
	pr   *io.PipeReader
	done chan error
}

func (h *helperStream) Read(p []byte) (int, error) { return h.pr.Read(p) }

func (h *helperStream) Close() error {
	_, _ = io.Copy(io.Discard, h.pr)
	return <-h.done
}

func saveVolume(ctx context.Context, src *volumeSource, i int, v volumeRef, dir, enc string) (VolumeEntry, error) {
	e := VolumeEntry{Key: v.key, Name: v.name, File: fmt.Sprintf("volume-%d.tar", i), Encoding: enc}
	if enc == encTarZstd {
		e.File += ".zst"
	}
	if src.shared && enc == encTar {
		saved, err := saveShared(ctx, src, i, v, dir, e)
		var te *tarExit
		if !errors.As(err, &te) || te.code != leftoverExit {
			return saved, err
		}
		// The volume holds a restore's own directory, which tar writing
		// the file itself would keep: streamed, it is left out.
		if err := os.Remove(filepath.Join(dir, e.File)); err != nil {
			return e, err
		}
	}
	fw, err := createFile(filepath.Join(dir, e.File), enc)
	if err != nil {
		return e, err
	}
	rc, prefix, err := src.open(ctx, i, v)
	if err != nil {
		fw.Close()
		return e, err
	}
	c := newVolumeCounter()
	n, root, err := rebase(rc, io.MultiWriter(fw, c), prefix)
	if err != nil {
		if hs, ok := rc.(*helperStream); ok {
			hs.pr.CloseWithError(err) // tar stops writing
		}
	}
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if cerr := fw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return e, fmt.Errorf("volume %s: %w", v.name, err)
	}
	e.Files, e.Bytes, e.XXH64, e.Stored = n, c.n, c.sum(), fw.stored
	e.RootUID, e.RootGID, e.RootMode = root.Uid, root.Gid, uint32(root.Mode&0o7777)
	return e, nil
}

// sharedSaveScript has tar write the archive of the volume $1 into the
// snapshot file $2, unless the volume holds a restore's own directory
// (exit leftoverExit). The shell opens the (empty) file for writing,
// neither truncated nor appended to: ext4 flushes a file truncated and
// rewritten when it is closed, about half a second per GiB here (tar's
// own -f truncates), and appending was slower still.
const sharedSaveScript = `for f in "$1"/.devstack-restore-*; do { [ -e "$f" ] || [ -L "$f" ]; } && exit 95; done
exec tar -cf - -C "$1" . 1<>"$2"`

// leftoverExit is sharedSaveScript's exit when the volume holds a
// restore's own directory (a clean-up cut short left it).
const leftoverExit = 95

// saveShared has tar in the helper write the snapshot file itself, and
// reads it as it grows: the checksum, the entries, the root's owner. It
// returns once tar's exec has ended.
func saveShared(ctx context.Context, src *volumeSource, i int, v volumeRef, dir string, e VolumeEntry) (VolumeEntry, error) {
	name := filepath.Join(dir, e.File)
	// Made here, so that it is the user's and tar only fills it.
	f, err := state.Create(name)
	if err != nil {
		return e, err
	}
	defer f.Close()
	tarCtx, stopTar := context.WithCancel(ctx)
	defer stopTar()
	done := make(chan error, 1)
	go func() {
		done <- execTar(tarCtx, src.rt, src.streamer, engine.ExecOptions{Cmd: []string{"sh", "-c", sharedSaveScript, "save", "/v/" + strconv.Itoa(i), sharedDir + "/" + e.File}})
	}()
	c := newVolumeCounter()
	// Read in large pieces: the hash and the tar reader then cost fewer
	// calls than tar's own 32 KiB copies would.
	fl := &follower{f: f, done: done}
	r := io.TeeReader(bufio.NewReaderSize(fl, 1<<20), c)
	n, root, err := rebase(r, nil, "")
	if err == nil {
		_, err = io.Copy(io.Discard, r) // the padding
	}
	if !fl.ended {
		// The file did not read as tar while tar still writes it: its
		// exec is ended and waited for here, and Save removes the helper
		// (tar with it) before the partial snapshot.
		stopTar()
		fl.ended, fl.endErr = true, <-done
	}
	var te *tarExit
	if errors.As(fl.endErr, &te) && te.code == leftoverExit {
		return e, te
	}
	if err != nil && strings.Contains(err.Error(), "No space left on device") {
		err = fmt.Errorf("%w (%v)", syscall.ENOSPC, err) // tar's words for it
	}
	if err != nil {
		return e, fmt.Errorf("volume %s: %w", v.name, err)
	}
	e.Files, e.Bytes, e.XXH64, e.Stored = n, c.n, c.sum(), c.n
	e.RootUID, e.RootGID, e.RootMode = root.Uid, root.Gid, uint32(root.Mode&0o7777)
	return e, nil
}

func syncFile(name string) error {
	f, err := state.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// projectVolumes lists the project's own (not external) named volumes
// the services mount, by key.
func projectVolumes(p *model.Project, services []string) []volumeRef {
	want := map[string]bool{}
	for _, s := range services {
		want[s] = true
	}
	byKey := map[string]*volumeRef{}
	for _, s := range p.Services {
		if len(want) > 0 && !want[s.Name] {
			continue
		}
		for _, m := range s.Volumes {
			v, ok := p.Volumes[m.Source]
			if m.Type != model.MountVolume || !ok || v.External {
				continue
			}
			r := byKey[m.Source]
			if r == nil {
				r = &volumeRef{key: m.Source, name: v.Name}
				byKey[m.Source] = r
			}
			r.services = append(r.services, s.Name)
		}
	}
	out := make([]volumeRef, 0, len(byKey))
	for _, r := range byKey {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

func affectedServices(vols []volumeRef) []string {
	set := map[string]bool{}
	for _, v := range vols {
		for _, s := range v.services {
			set[s] = true
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// checkUsers refuses a volume another project's container mounts: its
// data is not this project's alone to save or replace.
func checkUsers(ctx context.Context, rt Runtime, project, volume, verb string) error {
	users, err := rt.VolumeUsers(ctx, volume)
	if err != nil {
		return err
	}
	for _, c := range users {
		if owner := c.Labels[model.LabelProject]; owner != project {
			who := "no project"
			if owner != "" {
				who = "project " + owner
			}
			return fmt.Errorf("volume %s is in use by container %s (%s): a snapshot of project %s cannot %s it alone; remove that container or stop sharing the volume", volume, c.Name, who, project, verb)
		}
	}
	return nil
}

// helperImage picks an image the engine has: the first service's that
// mounts one of the volumes, else any of the project's. The helper is
// never started, so any image will do, even one without a shell.
func helperImage(p *model.Project, obs model.Observed, vols []volumeRef) (string, error) {
	for _, v := range vols {
		for _, s := range v.services {
			if svc, ok := p.Service(s); ok && obs.Images[svc.Image] != "" {
				return svc.Image, nil
			}
		}
	}
	for _, s := range p.Services {
		if obs.Images[s.Image] != "" {
			return s.Image, nil
		}
	}
	return "", fmt.Errorf("the engine has none of project %s's images, which the snapshot's helper container is made from: build or pull them first (`devstack build`, `devstack pull`)", p.Name)
}

func createHelper(ctx context.Context, rt Runtime, p *model.Project, helper *model.Service, stdin, autoRemove bool) (string, error) {
	helper.Replicas = 1
	hp := &model.Project{Name: p.Name, WorkingDir: p.WorkingDir, ConfigFiles: p.ConfigFiles}
	helper.ConfigHash = model.Hash(*helper)
	return rt.CreateContainer(ctx, hp, helper, 1, engine.CreateOptions{
		OneOff: true, Command: []string{}, Name: p.Name + "-snapshot-" + randomID(), Stdin: stdin, AutoRemove: autoRemove,
	})
}

func servicesWord(p *model.Project, services []string) string {
	if len(services) == 0 {
		return "its services"
	}
	return joinNames(services)
}

func joinNames(s []string) string {
	out := ""
	for i, n := range s {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// lock holds the project's snapshot lock: one save, restore or rm of a
// project at a time, so that leftovers can be swept safely.
func (s Store) lock(project string) (func(), error) {
	dir := s.projectDir(project)
	if err := state.MkdirAll(dir); err != nil {
		return nil, err
	}
	f, err := state.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("another devstack is saving or restoring a snapshot of project %s: wait for it to finish", project)
	}
	s.removeLeftovers(project)
	return func() { f.Close() }, nil
}

// imageRuntime commits, saves and loads images (engine/docker does).
type imageRuntime interface {
	CommitContainer(ctx context.Context, id, ref string) (string, error)
	SaveImage(ctx context.Context, ref string) (io.ReadCloser, error)
	LoadImage(ctx context.Context, in io.Reader) error
	RemoveImage(ctx context.Context, ref string) error
}

// containerRef is the tag a container's committed filesystem has while it
// is saved or loaded.
func containerRef(project, service string, number int, name string) string {
	return strings.ToLower(fmt.Sprintf("devstack-snapshot/%s-%s-%d:%s", project, service, number, name))
}

// saveContainers commits each container of the services (paused for the
// commit) and saves the image to the snapshot; the engine keeps no tag.
func saveContainers(ctx context.Context, rt imageRuntime, o SaveOptions, obs model.Observed, dir string) ([]ImageEntry, error) {
	want := map[string]bool{}
	for _, s := range o.Services {
		want[s] = true
	}
	enc := encTar
	if o.Compress {
		enc = encTarZstd
	}
	var out []ImageEntry
	for _, c := range obs.Containers {
		if c.OneOff || (len(want) > 0 && !want[c.Service]) {
			continue
		}
		ref := containerRef(o.Project.Name, c.Service, c.Number, o.Name)
		if _, err := rt.CommitContainer(ctx, c.ID, ref); err != nil {
			return out, err
		}
		e := ImageEntry{Service: c.Service, Number: c.Number, Container: c.Name, Ref: ref, File: fmt.Sprintf("container-%s-%d.tar", c.Service, c.Number)}
		if enc == encTarZstd {
			e.File += ".zst"
		}
		err := func() error {
			defer func() { _ = rt.RemoveImage(context.WithoutCancel(ctx), ref) }()
			src, err := rt.SaveImage(ctx, ref)
			if err != nil {
				return err
			}
			defer src.Close()
			fw, err := createFile(filepath.Join(dir, e.File), enc)
			if err != nil {
				return err
			}
			c := newCounter()
			_, err = io.Copy(io.MultiWriter(fw, c), src)
			if cerr := fw.Close(); err == nil {
				err = cerr
			}
			e.SHA256, e.Stored = c.sum(), fw.stored
			return err
		}()
		if err != nil {
			return out, fmt.Errorf("container %s: %w", c.Name, err)
		}
		if o.Log != nil {
			o.Log("saved the filesystem of container %s (%s)", c.Name, humanBytes(e.Stored))
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("project %s: %s have no containers to save: bring the stack up first (`devstack up -d`)", o.Project.Name, servicesWord(o.Project, o.Services))
	}
	return out, nil
}
