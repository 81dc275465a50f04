package scratch

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"devstack/engine"
	"devstack/engine/model"
)

// volumeCopy is what one dev volume held when it was copied.
type volumeCopy struct {
	Key     string   // project volume key
	DevName string   // the dev volume
	Entries []string // paths inside it, sorted (directories end in /)
}

// helperService is the name one-off helper containers carry; the scratch
// project's clean-up removes them with everything else.
const helperService = "devstack-scratch-helper"

// copyVolumes creates the scratch stack's volumes and fills each with a
// copy of the dev volume of the same key, when the dev environment has
// one. The copy goes through a helper container that is created, never
// started: the engine reads a created container's volumes for an archive
// and writes into them, so no image needs a shell or cp. The dev volume
// is mounted read-only.
func copyVolumes(ctx context.Context, rt engine.Runtime, st *Stack, devVolumes map[string]string) ([]volumeCopy, error) {
	p := st.Project
	var out []volumeCopy
	for _, key := range usedVolumeKeys(p) {
		devName, ok := devVolumes[key]
		if !ok {
			continue
		}
		image := imageMounting(p, key)
		if image == "" {
			continue
		}
		if err := rt.CreateVolume(ctx, p, key); err != nil {
			return out, err
		}
		entries, err := copyVolume(ctx, rt, p, image, devName, p.Volumes[key].Name)
		if err != nil {
			return out, fmt.Errorf("unable to copy dev volume %s: %w", devName, err)
		}
		out = append(out, volumeCopy{Key: key, DevName: devName, Entries: entries})
	}
	return out, nil
}

func copyVolume(ctx context.Context, rt engine.Runtime, p *model.Project, image, from, to string) ([]string, error) {
	helper := &model.Service{
		Name: helperService, Image: image, Replicas: 1, NetworkMode: "none",
		Entrypoint: []string{"true"},
		Volumes: []model.Mount{
			{Type: model.MountVolume, Source: from, Target: "/from", ReadOnly: true, NoCopy: true},
			{Type: model.MountVolume, Source: to, Target: "/to", NoCopy: true},
		},
	}
	hp := &model.Project{Name: p.Name, WorkingDir: p.WorkingDir, ConfigFiles: p.ConfigFiles}
	helper.ConfigHash = model.Hash(*helper)
	id, err := rt.CreateContainer(ctx, hp, helper, 1, engine.CreateOptions{OneOff: true, Command: []string{}})
	if err != nil {
		return nil, err
	}
	defer func() { _ = rt.RemoveContainer(context.WithoutCancel(ctx), id, false) }()
	src, err := rt.CopyFrom(ctx, id, "/from")
	if err != nil {
		return nil, err
	}
	defer src.Close()
	pr, pw := io.Pipe()
	var entries []string
	go func() {
		var err error
		entries, err = rebase(src, pw, "from")
		pw.CloseWithError(err)
	}()
	err = rt.CopyTo(ctx, id, "/to", pr)
	pr.CloseWithError(errors.New("copy ended"))
	if err != nil {
		return nil, err
	}
	sort.Strings(entries)
	return entries, nil
}

// rebase copies a tar stream whose entries live under dir/ to w with that
// prefix taken off, refusing names that would land outside it. It returns
// the entries' new names.
func rebase(r io.Reader, w io.Writer, dir string) ([]string, error) {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return names, err
		}
		name := strings.TrimPrefix(h.Name, "./")
		rest, ok := strings.CutPrefix(name, dir)
		if !ok || (rest != "" && rest[0] != '/') {
			return names, fmt.Errorf("unexpected entry %q in the archive of %s", h.Name, dir)
		}
		rest = strings.TrimPrefix(rest, "/")
		if rest == "" {
			h.Name = "./" // the volume's root: its owner and mode matter (databases check them)
		} else {
			clean := path.Clean(rest)
			if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
				return names, fmt.Errorf("refusing archive entry %q: it leaves the volume", h.Name)
			}
			h.Name = rest
			names = append(names, rest)
		}
		if err := tw.WriteHeader(h); err != nil {
			return names, err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return names, err
		}
	}
	return names, tw.Close()
}

// usedVolumeKeys returns the project volumes some active service mounts.
func usedVolumeKeys(p *model.Project) []string {
	set := map[string]bool{}
	for _, s := range p.Services {
		if s.Replicas == 0 {
			continue
		}
		for _, m := range s.Volumes {
			if _, ok := p.Volumes[m.Source]; ok && m.Type == model.MountVolume {
				set[m.Source] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// imageMounting returns the image of the first service that mounts the
// volume: it is present once the stack's images are built or pulled.
func imageMounting(p *model.Project, key string) string {
	for _, s := range p.Services {
		for _, m := range s.Volumes {
			if m.Type == model.MountVolume && m.Source == key {
				return s.Image
			}
		}
	}
	return ""
}

// mountsOf returns where each service mounts the volume key.
func mountsOf(p *model.Project, key string) map[string]string {
	out := map[string]string{}
	for _, s := range p.Services {
		for _, m := range s.Volumes {
			if m.Type == model.MountVolume && m.Source == key {
				out[s.Name] = m.Target
			}
		}
	}
	return out
}
