package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"devstack/engine/model"
)

// injected is one secret or config file to put in a container.
type injected struct {
	target   string // absolute, clean path in the container
	data     []byte
	mode     int64
	uid, gid int
}

// collectFiles reads the service's secrets and configs from the host.
func collectFiles(p *model.Project, svc *model.Service) ([]injected, error) {
	var files []injected
	add := func(kind string, refs []model.FileRef, objs map[string]model.FileObject) error {
		for _, ref := range refs {
			obj, ok := objs[ref.Source]
			if !ok {
				return fmt.Errorf("%s %q is not defined at the top level of the compose file", kind, ref.Source)
			}
			f := injected{target: path.Clean("/" + ref.Target), mode: 0o444}
			if ref.Target == "" {
				return fmt.Errorf("%s %q has no target path", kind, ref.Source)
			}
			switch {
			case obj.External:
				return fmt.Errorf("%s %q is external, which needs swarm: use file:, content: or environment: instead", kind, ref.Source)
			case obj.File != "":
				st, err := os.Stat(obj.File)
				if err == nil && st.IsDir() {
					return fmt.Errorf("%s %q: %s is a directory; point file: at a file", kind, ref.Source, obj.File)
				}
				b, err := os.ReadFile(obj.File)
				if err != nil {
					return fmt.Errorf("unable to read %s %q: %w", kind, ref.Source, err)
				}
				f.data = b
			case obj.Credentials:
				b, err := credentialsFile()
				if err != nil {
					return fmt.Errorf("%s %q: the docker CLI's credentials: %w", kind, ref.Source, err)
				}
				f.data = b
			case obj.Environment != "":
				v, ok := p.Environment[obj.Environment]
				if !ok {
					return fmt.Errorf("%s %q takes its content from the variable %s, which is not set", kind, ref.Source, obj.Environment)
				}
				f.data = []byte(v)
			default:
				f.data = []byte(obj.Content)
			}
			if ref.Mode != nil {
				f.mode = int64(*ref.Mode)
			}
			var err error
			if f.uid, err = numericID(ref.UID); err != nil {
				return fmt.Errorf("%s %q: uid %w", kind, ref.Source, err)
			}
			if f.gid, err = numericID(ref.GID); err != nil {
				return fmt.Errorf("%s %q: gid %w", kind, ref.Source, err)
			}
			files = append(files, f)
		}
		return nil
	}
	if err := add("secret", svc.Secrets, p.Secrets); err != nil {
		return nil, err
	}
	if err := add("config", svc.Configs, p.Configs); err != nil {
		return nil, err
	}
	return files, nil
}

func numericID(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return n, nil
}

// injectFiles copies the service's secrets and configs into the created
// container, before it starts. Copying, not bind-mounting, works on a
// remote engine too, whose host does not have our files.
//
// The tar is extracted at "/" and the engine applies a directory entry's
// mode and owner even to a directory that exists, so the tar names only
// the directories the image lacks: /tmp keeps its 1777, /etc its owner.
func (r *Runtime) injectFiles(ctx context.Context, p *model.Project, svc *model.Service, id string) error {
	files, err := collectFiles(p, svc)
	if err != nil || len(files) == 0 {
		return err
	}
	missing, err := r.missingDirs(ctx, id, files)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	for _, d := range missing {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d[1:] + "/", Mode: 0o755, ModTime: now}); err != nil {
			return err
		}
	}
	for _, f := range files {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.target[1:], Mode: f.mode, Size: int64(len(f.data)), Uid: f.uid, Gid: f.gid, ModTime: now}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	// CopyUIDGID stays off: it would give every file the container
	// user's owner instead of the uid/gid the compose file asks for.
	_, err = r.api.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: "/", Content: &buf})
	if err != nil {
		return fmt.Errorf("unable to copy secrets and configs into the container: %w", r.engineError(err))
	}
	return nil
}

// missingDirs returns, parents first, the directories that must be
// created to hold the files, asking the engine which exist.
func (r *Runtime) missingDirs(ctx context.Context, id string, files []injected) ([]string, error) {
	exists := map[string]bool{"/": true}
	var missing []string
	var walk func(dir string) error
	walk = func(dir string) error {
		if _, known := exists[dir]; known {
			return nil
		}
		_, err := r.api.ContainerStatPath(ctx, id, client.ContainerStatPathOptions{Path: dir})
		switch {
		case err == nil:
			exists[dir] = true
			return nil
		case !cerrdefs.IsNotFound(err):
			return fmt.Errorf("unable to look for %s in the container: %w", dir, r.engineError(err))
		}
		exists[dir] = false
		if err := walk(path.Dir(dir)); err != nil {
			return err
		}
		missing = append(missing, dir)
		return nil
	}
	dirs := map[string]bool{}
	for _, f := range files {
		dirs[path.Dir(f.target)] = true
	}
	sorted := make([]string, 0, len(dirs))
	for d := range dirs {
		sorted = append(sorted, d)
	}
	sort.Strings(sorted)
	for _, d := range sorted {
		if err := walk(d); err != nil {
			return nil, err
		}
	}
	return missing, nil
}
