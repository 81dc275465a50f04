package main

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"

	"devstack/engine"
	"devstack/engine/docker"
	"devstack/engine/model"
	"devstack/engine/state"
	devsync "devstack/sync"
	"devstack/sync/container"
)

// remoteBindWarnings says, for an engine on another machine, what each
// bind mount of a host path means there: that path on the engine's
// machine, not on this one. Binds under the project directory are synced
// into volumes instead (syncRemoteBinds), unless --no-remote-sync; the
// others (the engine's socket, /etc/...) are left as binds, with this.
func remoteBindWarnings(p *model.Project, host string) []string {
	if !docker.RemoteHost(host) {
		return nil
	}
	var out []string
	for _, svc := range p.Services {
		for _, m := range svc.Volumes {
			if m.Type == "bind" {
				out = append(out, fmt.Sprintf("service %s: volumes: %s is bound from that path on the engine's machine (%s), not from this one: "+
					"sync it with develop.watch (devstack copies it into the container), or keep the files on that machine", svc.Name, m.Source, host))
			}
		}
	}
	return out
}

// warnRemoteBinds prints remoteBindWarnings, as the loader's warnings are.
func (g *globals) warnRemoteBinds(s *session) {
	for _, w := range remoteBindWarnings(s.project, s.rt.Host()) {
		fmt.Fprintln(g.stderr, "warning:", w)
	}
}

// isRemote reports whether a runtime's engine is on another machine.
func isRemote(rt engine.Runtime) bool {
	r, ok := rt.(interface{ Remote() bool })
	return ok && r.Remote()
}

// SyncedBindDir is where, in a container, the volume of a read-only bind
// mount that devstack syncs is mounted writable for the sync: the
// service's own mount of it stays read-only.
const SyncedBindDir = "/.devstack-sync"

var volumeKeyChars = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// syncRemoteBinds turns, for an engine on another machine, every bind
// mount of a directory under the project directory into a volume of the
// project kept in line with the directory by live sync (a develop.watch
// sync rule of the service, with the directory's .dockerignore): the
// compose file stays as it is, and the container sees the files of this
// machine, not the engine machine's own path. A read-only bind becomes a
// read-only mount of the volume (the sync writes through a second,
// writable mount under SyncedBindDir). Binds outside the project
// directory, and binds of a single file, stay binds on the engine's
// machine (remoteBindWarnings says so). It fails, naming the service, on
// a bind source that does not exist here.
func syncRemoteBinds(p *model.Project) error {
	for i := range p.Services {
		svc := &p.Services[i]
		for j, m := range svc.Volumes {
			if m.Type != "bind" || !underDir(m.Source, p.WorkingDir) {
				continue
			}
			st, err := os.Stat(m.Source)
			if err != nil {
				return fmt.Errorf("service %s: volumes: the bind source %s does not exist on this machine: create it (devstack syncs it into a volume on the remote engine), "+
					"or pass --no-remote-sync to bind that path on the engine's machine", svc.Name, m.Source)
			}
			if !st.IsDir() {
				continue // a single file: left as a bind, and warned about
			}
			rel, _ := filepath.Rel(p.WorkingDir, m.Source)
			sum := sha256.Sum256([]byte(m.Source))
			name := strings.Trim(volumeKeyChars.ReplaceAllString(filepath.ToSlash(rel), "-"), "-.")
			if name == "" {
				name = "project"
			}
			key := "devstack-sync-" + name + "-" + hex.EncodeToString(sum[:3])
			if p.Volumes == nil {
				p.Volumes = map[string]model.Volume{}
			}
			if _, ok := p.Volumes[key]; !ok {
				p.Volumes[key] = model.Volume{Name: p.Name + "_" + key, Labels: map[string]string{"dev.devstack.synced-from": m.Source}}
			}
			svc.Volumes[j] = model.Mount{Type: "volume", Source: key, Target: m.Target, ReadOnly: m.ReadOnly, NoCopy: true}
			target := m.Target
			if m.ReadOnly {
				target = path.Join(SyncedBindDir, key)
				svc.Volumes = append(svc.Volumes, model.Mount{Type: "volume", Source: key, Target: target, NoCopy: true})
			}
			svc.Watch = append(svc.Watch, model.WatchRule{Path: m.Source, Action: model.WatchSync, Target: target,
				InitialSync: true, IgnoreFile: filepath.Join(m.Source, ".dockerignore"), FromBind: true})
		}
		svc.ConfigHash = model.Hash(*svc)
	}
	return nil
}

// boundSyncs is the project with only the sync rules made from bind
// mounts (those a background process keeps), nil when there are none.
func boundSyncs(p *model.Project) *model.Project {
	q := *p
	q.Services = nil
	any := false
	for _, svc := range p.Services {
		var rules []model.WatchRule
		for _, w := range svc.Watch {
			if w.FromBind {
				rules = append(rules, w)
			}
		}
		svc.Watch = rules
		any = any || len(rules) > 0
		q.Services = append(q.Services, svc)
	}
	if !any {
		return nil
	}
	return &q
}

// underDir reports whether p is dir or below it.
func underDir(p, dir string) bool {
	if dir == "" || !filepath.IsAbs(p) {
		return false
	}
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// seedSyncedBinds is the BeforeStart hook of up and start on a project
// with binds turned into synced volumes (nil otherwise): before a
// container starts, each such volume it mounts is brought in line with
// this machine's files (sync.Seed), so the container's first process
// finds its sources as it would in the bind, edits made while the stack
// was stopped or down included. When nothing here changed since this
// machine last filled the volumes completely (the digest of the sources,
// sync.SourcesDigest, kept in a marker under the sync state directory)
// and they are not empty (made again since), it costs one engine call per
// volume; otherwise the fill goes through a short-lived helper container
// (seedHelper), gzipped.
func seedSyncedBinds(p *model.Project, rt engine.Runtime, e *engine.Engine) func(context.Context, *model.Service, string, string) error {
	if boundSyncs(p) == nil {
		return nil
	}
	return func(ctx context.Context, svc *model.Service, id, name string) error {
		var targets, volumes []string
		for _, w := range svc.Watch {
			if !w.FromBind {
				continue
			}
			for _, m := range svc.Volumes {
				if m.Type == "volume" && (m.Target == w.Target || path.Join(SyncedBindDir, m.Source) == w.Target) {
					if v, ok := p.Volumes[m.Source]; ok {
						targets, volumes = append(targets, w.Target), append(volumes, v.Name)
					}
					break
				}
			}
		}
		if len(targets) == 0 {
			return nil
		}
		dir, err := devsync.DefaultStateDir(p.Name)
		if err != nil {
			return err
		}
		o := devsync.Options{Project: p, Engine: &syncEngine{rt: rt, e: e, p: p}, Sink: e.Sink(), Compress: true}
		digest, err := devsync.SourcesDigest(o, svc.Name)
		if err != nil {
			return fmt.Errorf("service %s: unable to read the synced sources: %w", svc.Name, err)
		}
		marker := func(volume string) string { return filepath.Join(dir, "seeded", volume) }
		current := digest != ""
		for i, t := range targets {
			if b, err := os.ReadFile(marker(volumes[i])); err != nil || string(b) != digest {
				current = false
				break
			}
			empty, err := emptyIn(ctx, rt, id, t)
			if err != nil {
				return fmt.Errorf("service %s: unable to look into the synced volume %s: %w", svc.Name, volumes[i], err)
			}
			if empty {
				current = false
				break
			}
		}
		if current {
			return nil
		}
		for _, v := range volumes {
			_ = os.Remove(marker(v)) // incomplete until the seed succeeds
		}
		via, done := seedHelper(ctx, rt, p, svc, targets, volumes)
		err = devsync.Seed(ctx, o, svc.Name, devsync.Container{ID: id, Name: name, User: svc.User}, via)
		done()
		if errors.Is(err, container.ErrNoSpace) {
			return fmt.Errorf("service %s: the engine's machine has no room left for the synced volume %s (its disk is full): free space there "+
				"(docker system prune on it, or remove what fills the disk), then run up again: it sends what is missing; nothing here was changed", svc.Name, strings.Join(volumes, ", "))
		}
		if err != nil {
			// A link that died mid-fill cuts the copy's stream, which
			// says only that the stream ended: ask the engine, whose
			// error then says its machine is unreachable.
			if ctx.Err() == nil {
				pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				if perr := rt.Ping(pctx); perr != nil {
					err = perr
				}
				cancel()
			}
			return fmt.Errorf("service %s: %w; run up again to finish (nothing here was changed)", svc.Name, err)
		}
		if err := state.MkdirAll(filepath.Join(dir, "seeded")); err != nil {
			return nil // the next start fills it again: slower, not wrong
		}
		for _, v := range volumes {
			_ = state.WriteFile(marker(v), []byte(digest))
		}
		return nil
	}
}

// seedHelperService names the helper containers of seedHelper
// (project-labelled one-offs, so that down removes one left behind).
const seedHelperService = "devstack-seed"

// seedHelper starts, on an engine on another machine, a helper container
// from the service's own image mounting the synced volumes at their
// targets, for sync.Seed to fill them through an exec there: its stream
// may be gzipped, where the archive API into the created container takes
// only plain tar (an engine before 29.5.1 would unpack a compressed one
// with a tool of the container's, as root). A source tree is a quarter of
// that gzipped, and on a slow link the bytes are the time. It returns ""
// (and the archive API is used) where the helper cannot start: no image
// name, no sleep in the image. done removes the helper.
func seedHelper(ctx context.Context, rt engine.Runtime, p *model.Project, svc *model.Service, targets, volumes []string) (id string, done func()) {
	if !isRemote(rt) || svc.Image == "" {
		return "", func() {}
	}
	var mounts []model.Mount
	for i, t := range targets {
		mounts = append(mounts, model.Mount{Type: model.MountVolume, Source: volumes[i], Target: t, NoCopy: true})
	}
	nonce := make([]byte, 4)
	_, _ = rand.Read(nonce)
	// sleep's end bounds a helper that a killed devstack leaves behind.
	helper := &model.Service{Name: seedHelperService, Image: svc.Image, Platform: svc.Platform, NetworkMode: "none", User: "0:0",
		Entrypoint: []string{"sleep", "3600"}, Volumes: mounts, Replicas: 1}
	helper.ConfigHash = model.Hash(*helper)
	hp := &model.Project{Name: p.Name, WorkingDir: p.WorkingDir, ConfigFiles: p.ConfigFiles}
	id, err := rt.CreateContainer(ctx, hp, helper, 1, engine.CreateOptions{OneOff: true, Command: []string{},
		Name: p.Name + "-" + seedHelperService + "-" + hex.EncodeToString(nonce)})
	if err != nil {
		return "", func() {}
	}
	remove := func() { _ = rt.RemoveContainer(context.WithoutCancel(ctx), id, false) }
	if err := rt.StartContainer(ctx, id); err != nil {
		remove()
		return "", func() {}
	}
	return id, remove
}

// emptyIn reports whether directory dir in container id holds nothing
// (or is missing). It reads the archive of dir only up to its second
// entry, so a full directory costs one call, not its contents.
func emptyIn(ctx context.Context, rt engine.Runtime, id, dir string) (bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the engine sending the rest
	rc, err := rt.CopyFrom(ctx, id, dir)
	if err != nil {
		if cerrdefs.IsNotFound(err) || strings.Contains(strings.ToLower(err.Error()), "could not find the file") {
			return true, nil
		}
		return false, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	if _, err := tr.Next(); err != nil { // dir itself
		return false, err
	}
	_, err = tr.Next()
	if err == io.EOF {
		return true, nil
	}
	return false, err
}
