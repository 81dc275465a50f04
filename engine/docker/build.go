package docker

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"devstack/engine"
	"devstack/engine/event"
	"devstack/engine/model"
)

// Build builds svc's image with the engine's classic builder, streaming
// the context as an uncompressed tar that honours .dockerignore.
func (r *Runtime) Build(ctx context.Context, p *model.Project, svc *model.Service, o engine.BuildOptions, sink event.Sink) (string, error) {
	b := svc.Build
	if b == nil {
		return "", fmt.Errorf("service %q has no build section", svc.Name)
	}
	if st, err := os.Stat(b.Context); err != nil || !st.IsDir() {
		return "", fmt.Errorf("service %q: build context %s does not exist: fix build.context", svc.Name, b.Context)
	}
	dockerfile, extra, err := dockerfileEntry(b)
	if err != nil {
		return "", fmt.Errorf("service %q: %w", svc.Name, err)
	}
	excludes, err := readDockerignore(b.Context)
	if err != nil {
		return "", fmt.Errorf("service %q: %w", svc.Name, err)
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(writeContext(pw, b.Context, excludes, extra))
	}()
	defer pr.Close()

	labels := map[string]string{}
	for k, v := range b.Labels {
		labels[k] = v
	}
	labels[model.LabelProject] = p.Name
	labels[model.LabelService] = svc.Name
	tags := append([]string{svc.Image}, b.Tags...)
	tags = append(tags, o.Tags...)
	opts := client.ImageBuildOptions{
		Tags:        tags,
		Dockerfile:  dockerfile,
		BuildArgs:   b.Args,
		Target:      b.Target,
		NetworkMode: b.Network,
		Labels:      labels,
		ExtraHosts:  b.ExtraHosts,
		ShmSize:     b.ShmSize,
		NoCache:     o.NoCache || b.NoCache,
		PullParent:  o.Pull || b.Pull,
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	}
	res, err := r.api.ImageBuild(ctx, pr, opts)
	if err != nil {
		return "", r.engineError(err)
	}
	defer res.Body.Close()
	return readBuildStream(res.Body, svc, sink)
}

var stepRe = regexp.MustCompile(`^Step \d+/\d+ : `)

// readBuildStream publishes the build's output and returns the image ID,
// or an error naming the failing step with the last lines of output.
func readBuildStream(body io.Reader, svc *model.Service, sink event.Sink) (string, error) {
	dec := json.NewDecoder(body)
	var step, imageID string
	var tail []string
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			return "", fmt.Errorf("unable to read the build output of %s: %w", svc.Name, err)
		}
		if m.Error != nil {
			return "", &BuildError{Service: svc.Name, Step: step, Message: m.Error.Message, Tail: tail}
		}
		if m.Aux != nil {
			var aux struct{ ID string }
			if json.Unmarshal(*m.Aux, &aux) == nil && aux.ID != "" {
				imageID = aux.ID
			}
		}
		text := m.Stream
		if text == "" {
			text = m.Status
		}
		for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
			line = strings.TrimRight(line, "\r")
			if line == "" {
				continue
			}
			if stepRe.MatchString(line) {
				step = line
			}
			if strings.HasPrefix(line, "Successfully built ") && imageID == "" {
				imageID = strings.TrimPrefix(line, "Successfully built ")
			}
			tail = append(tail, line)
			if len(tail) > 10 {
				tail = tail[1:]
			}
			sink.Publish(event.BuildStep{Time: time.Now(), Service: svc.Name, Image: svc.Image, Step: step, Line: line})
		}
	}
	return imageID, nil
}

// BuildError is a failed build: the step, the engine's message and the
// last lines of output before it.
type BuildError struct {
	Service string
	Step    string
	Message string
	Tail    []string
}

func (e *BuildError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "build of service %q failed", e.Service)
	if e.Step != "" {
		fmt.Fprintf(&b, " at %q", e.Step)
	}
	fmt.Fprintf(&b, ": %s", e.Message)
	if len(e.Tail) > 0 {
		b.WriteString("\n  last output:\n")
		for _, l := range e.Tail {
			b.WriteString("    " + l + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// dockerfileEntry returns the Dockerfile's name inside the context, and
// an extra file to add when it lives outside the context or is inline.
func dockerfileEntry(b *model.Build) (string, *extraFile, error) {
	if b.Inline != "" {
		return ".devstack.Dockerfile", &extraFile{name: ".devstack.Dockerfile", data: []byte(b.Inline)}, nil
	}
	df := b.Dockerfile
	if df == "" {
		df = "Dockerfile"
	}
	abs := df
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(b.Context, df)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return "", nil, fmt.Errorf("Dockerfile %s: %w: fix build.dockerfile", abs, errors.Unwrap(err))
	}
	rel, err := filepath.Rel(b.Context, abs)
	if err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel), nil, nil
	}
	// Outside the context: send it alongside, as compose does.
	return ".devstack.Dockerfile", &extraFile{name: ".devstack.Dockerfile", data: data}, nil
}

type extraFile struct {
	name string
	data []byte
}

func readDockerignore(dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("unable to read %s: %w", f.Name(), err)
	}
	return patterns, nil
}

// writeContext streams dir as a tar, leaving out what .dockerignore
// excludes. The Dockerfile and .dockerignore always go: the engine needs
// them even when ignored. Files are streamed, never held whole.
func writeContext(w io.Writer, dir string, excludes []string, extra *extraFile) error {
	pm, err := patternmatcher.New(excludes)
	if err != nil {
		return fmt.Errorf("invalid .dockerignore: %w", err)
	}
	tw := tar.NewWriter(w)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if len(excludes) > 0 && rel != ".dockerignore" && rel != "Dockerfile" {
			skip, err := pm.MatchesOrParentMatches(rel)
			if err != nil {
				return err
			}
			if skip {
				if d.IsDir() && !pm.Exclusions() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = rel
		if d.IsDir() {
			hdr.Name += "/"
		}
		// Builds must not depend on who ran them.
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if extra != nil {
		if err := tw.WriteHeader(&tar.Header{Name: extra.name, Mode: 0o644, Size: int64(len(extra.data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(extra.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

// Pull pulls an image, failing clearly when no registry can be reached.
func (r *Runtime) Pull(ctx context.Context, ref string, sink event.Sink) error {
	// A registry that never answers must not hang `up` or `pull`.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	res, err := r.api.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err == nil {
		err = res.Wait(ctx)
		res.Close()
	}
	if err != nil {
		return fmt.Errorf("no registry could be reached, or it does not have the image (%v); "+
			"build it locally (give the service a build: section, or `docker build -t %s`) or load it with `docker load`", err, ref)
	}
	return nil
}
