package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"devstack/engine"
	"devstack/engine/docker"
	"devstack/engine/model"
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
