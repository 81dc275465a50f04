package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"devstack/engine/model"
	"devstack/engine/transfer"
)

// CopyOptions tune Copy.
type CopyOptions struct {
	Index      int  // the replica; 0: replica 1 when copying out, every replica when copying in
	OneOff     bool // also containers of `run` (cp --all)
	Archive    bool // -a
	FollowLink bool // -L: a source that is a link is copied as what it points to
	Stdin      io.Reader
	Stdout     io.Writer
}

// CopySpec is one side of a copy: a container path (Service set) or a
// host path ("-" for a tar stream on stdin/stdout).
type CopySpec struct {
	Service string
	Path    string
}

// ParseCopySpec reads docker cp's SERVICE:PATH or a host path. A host
// path with a colon is written with a ./ or / before it.
func ParseCopySpec(s string) CopySpec {
	if strings.HasPrefix(s, "/") || strings.HasPrefix(s, ".") || s == "-" {
		return CopySpec{Path: s}
	}
	if svc, p, ok := strings.Cut(s, ":"); ok && svc != "" {
		return CopySpec{Service: svc, Path: p}
	}
	return CopySpec{Path: s}
}

// containerPath cleans a path in a container: relative to its root, as
// docker cp takes it, and refused when its ".." climb above the root
// (the engine would quietly clamp it there, and a copy meant for
// somewhere outside the container would land inside it instead).
func containerPath(service, p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("%s: give a path in the container after the colon (%s:/path)", service, service)
	}
	depth := 0
	for _, part := range strings.Split(p, "/") {
		switch part {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return "", fmt.Errorf("%s:%s climbs out of the container's root directory: paths in a container stay inside it", service, p)
			}
		default:
			depth++
		}
	}
	clean := path.Clean("/" + p)
	if strings.HasSuffix(p, "/.") {
		clean += "/."
	} else if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean, nil
}

// Copy copies between a service's container and the host, both ways,
// with docker cp's rules for what the destination becomes.
func (e *Engine) Copy(ctx context.Context, p *model.Project, src, dst CopySpec, o CopyOptions) error {
	switch {
	case src.Service != "" && dst.Service != "":
		return errors.New("copying between two containers is not supported: copy to the host first")
	case src.Service == "" && dst.Service == "":
		return errors.New("one side of cp must be a container path, SERVICE:PATH")
	case src.Service != "":
		return e.copyOut(ctx, p, src, dst.Path, o)
	default:
		return e.copyIn(ctx, p, src.Path, dst, o)
	}
}

// copyTargets picks the service's containers a copy involves. One list
// call finds them (no inspect of each, as Observe does): a copy's fixed
// cost is what a small copy feels.
func (e *Engine) copyTargets(ctx context.Context, p *model.Project, service string, o CopyOptions, out bool) ([]model.Container, error) {
	if err := CheckServices(p, []string{service}); err != nil {
		return nil, err
	}
	cs, err := e.rt.ListContainers(ctx, true, model.LabelProject+"="+p.Name, model.LabelService+"="+service)
	if err != nil {
		return nil, err
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
	var picked []model.Container
	for _, c := range cs {
		if c.OneOff && !o.OneOff {
			continue
		}
		if o.Index > 0 && (c.Number != o.Index || c.OneOff) {
			continue
		}
		if o.Index == 0 && out && c.Number != 1 {
			continue
		}
		picked = append(picked, c)
	}
	if len(picked) == 0 {
		if o.Index > 0 {
			return nil, fmt.Errorf("service %q has no container number %d", service, o.Index)
		}
		return nil, fmt.Errorf("service %q has no container: create it with `devstack up -d %s` or `devstack create %s`", service, service, service)
	}
	return picked, nil
}

func (e *Engine) copyOut(ctx context.Context, p *model.Project, src CopySpec, dst string, o CopyOptions) error {
	from, err := containerPath(src.Service, src.Path)
	if err != nil {
		return err
	}
	cs, err := e.copyTargets(ctx, p, src.Service, o, true)
	if err != nil {
		return err
	}
	c := cs[0]
	info, err := e.rt.StatPath(ctx, c.ID, strings.TrimSuffix(from, "/."))
	if err != nil {
		return err
	}
	if !info.Exists {
		return fmt.Errorf("%s:%s: no such file or directory in container %s", src.Service, src.Path, c.Name)
	}
	request := from
	if o.FollowLink && info.LinkTarget != "" {
		request = info.LinkTarget
		if info, err = e.rt.StatPath(ctx, c.ID, request); err != nil {
			return err
		}
		if !info.Exists {
			return fmt.Errorf("%s:%s is a link to %s, which does not exist in container %s", src.Service, src.Path, request, c.Name)
		}
	}
	rc, err := e.rt.CopyFrom(ctx, c.ID, strings.TrimSuffix(request, "/."))
	if err != nil {
		return err
	}
	defer rc.Close()
	if dst == "-" {
		_, err := io.Copy(o.Stdout, rc)
		return err
	}
	top := path.Base(strings.TrimSuffix(strings.TrimSuffix(request, "/."), "/"))
	uo := transfer.UnpackOptions{KeepOwner: o.Archive}
	di, statErr := os.Stat(dst)
	var dir string
	switch {
	case statErr == nil && di.IsDir():
		dir = dst
		if strings.HasSuffix(from, "/.") && info.Dir {
			uo.From, uo.To = top, "."
		}
	case statErr == nil:
		if info.Dir {
			return fmt.Errorf("cannot copy directory %s:%s onto file %s", src.Service, src.Path, dst)
		}
		dir, uo.From, uo.To = filepath.Dir(dst), top, filepath.Base(dst)
	case errors.Is(statErr, os.ErrNotExist):
		if strings.HasSuffix(dst, string(filepath.Separator)) && !info.Dir {
			return fmt.Errorf("destination directory %s does not exist", dst)
		}
		dir, uo.From, uo.To = filepath.Dir(filepath.Clean(dst)), top, filepath.Base(dst)
		if pi, err := os.Stat(dir); err != nil || !pi.IsDir() {
			return fmt.Errorf("cannot copy to %s: directory %s does not exist", dst, dir)
		}
	default:
		return statErr
	}
	return transfer.Unpack(rc, dir, uo)
}

func (e *Engine) copyIn(ctx context.Context, p *model.Project, src string, dst CopySpec, o CopyOptions) error {
	to, err := containerPath(dst.Service, dst.Path)
	if err != nil {
		return err
	}
	var fi os.FileInfo
	if src != "-" {
		stat := os.Lstat
		if o.FollowLink {
			stat = os.Stat
		}
		if fi, err = stat(src); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("cannot copy %s: no such file or directory", src)
			}
			return err
		}
	}
	cs, err := e.copyTargets(ctx, p, dst.Service, o, false)
	if err != nil {
		return err
	}
	var stdin []byte
	if src == "-" && len(cs) > 1 {
		// One stream for several containers: hold it.
		if stdin, err = io.ReadAll(o.Stdin); err != nil {
			return err
		}
	}
	for _, c := range cs {
		info, err := e.rt.StatPath(ctx, c.ID, strings.TrimSuffix(to, "/."))
		if err != nil {
			return err
		}
		if src == "-" {
			if !info.Exists || !info.Dir {
				return fmt.Errorf("%s:%s: the destination of a stream must be a directory in container %s", dst.Service, dst.Path, c.Name)
			}
			r := o.Stdin
			if stdin != nil {
				r = strings.NewReader(string(stdin))
			}
			if err := e.rt.CopyInto(ctx, c.ID, to, r, CopyIntoOptions{ContainerOwner: o.Archive}); err != nil {
				return err
			}
			continue
		}
		dir, name := strings.TrimSuffix(to, "/."), filepath.Base(src)
		switch {
		case info.Exists && info.Dir:
			if strings.HasSuffix(src, string(filepath.Separator)+".") && fi.IsDir() {
				name = "."
			}
		case info.Exists:
			if fi.IsDir() {
				return fmt.Errorf("cannot copy directory %s onto file %s:%s", src, dst.Service, dst.Path)
			}
			dir, name = path.Dir(to), path.Base(to)
		default:
			if strings.HasSuffix(to, "/") && !fi.IsDir() {
				return fmt.Errorf("%s:%s: destination directory does not exist in container %s", dst.Service, dst.Path, c.Name)
			}
			dir, name = path.Dir(strings.TrimSuffix(to, "/")), path.Base(strings.TrimSuffix(to, "/"))
			if pi, err := e.rt.StatPath(ctx, c.ID, dir); err != nil {
				return err
			} else if !pi.Exists || !pi.Dir {
				return fmt.Errorf("%s:%s: directory %s does not exist in container %s", dst.Service, dst.Path, dir, c.Name)
			}
		}
		pr, pw := io.Pipe()
		go func() {
			pw.CloseWithError(transfer.Pack(pw, src, name, o.FollowLink))
		}()
		err = e.rt.CopyInto(ctx, c.ID, dir, pr, CopyIntoOptions{ContainerOwner: o.Archive})
		pr.CloseWithError(err)
		if err != nil {
			return err
		}
	}
	return nil
}
