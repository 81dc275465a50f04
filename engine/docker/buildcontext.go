package docker

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"devstack/engine/docker/buildinputs"
	"devstack/engine/model"
)

// inlineDockerfile is the name a Dockerfile that is not a file of the
// context (dockerfile_inline, or a path outside the context) gets in the
// context tar. It is also appended to the .dockerignore the engine
// reads, so the engine drops it before `COPY .` can see it — what the
// docker CLI does with its random name, minus the randomness that would
// make every build's context differ.
const inlineDockerfile = ".devstack.Dockerfile"

// buildContext is what goes into one build's tar.
type buildContext struct {
	dir        string // the context directory, symlinks resolved
	dockerfile string // the Dockerfile's name inside the tar (slash-separated)
	// dockerfileData is the Dockerfile's content when it does not come
	// from the context directory (inline or outside the context).
	dockerfileData []byte
	ignore         []byte   // .dockerignore as it is, nil when there is none
	excludes       []string // its patterns
}

// newBuildContext checks the context and the Dockerfile, and reads the
// .dockerignore. Errors name the path at fault.
func newBuildContext(b *model.Build) (*buildContext, error) {
	st, err := os.Stat(b.Context)
	if err != nil || !st.IsDir() {
		return nil, fmt.Errorf("build context %s is not a directory: fix build.context", b.Context)
	}
	dir, err := filepath.EvalSymlinks(b.Context)
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", b.Context, err)
	}
	bc := &buildContext{dir: dir}
	switch {
	case b.Inline != "":
		bc.dockerfile, bc.dockerfileData = inlineDockerfile, []byte(b.Inline)
	default:
		df := b.Dockerfile
		if df == "" {
			df = "Dockerfile"
		}
		abs := df
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(b.Context, df)
		}
		st, err := os.Stat(abs)
		if err != nil || st.IsDir() {
			return nil, fmt.Errorf("the Dockerfile %s does not exist: fix build.dockerfile (relative to the context %s)", abs, b.Context)
		}
		real, err := filepath.EvalSymlinks(abs)
		if err != nil {
			return nil, fmt.Errorf("the Dockerfile %s: %w", abs, err)
		}
		rel, err := filepath.Rel(dir, real)
		if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			bc.dockerfile = filepath.ToSlash(rel)
		} else {
			// Outside the context: sent alongside, as compose does.
			data, err := os.ReadFile(abs)
			if err != nil {
				return nil, fmt.Errorf("unable to read Dockerfile %s: %w", abs, err)
			}
			bc.dockerfile, bc.dockerfileData = inlineDockerfile, data
		}
	}
	ignore, err := os.ReadFile(filepath.Join(dir, ".dockerignore"))
	switch {
	case err == nil:
		bc.ignore = ignore
		if bc.excludes, err = ignorefile.ReadAll(bytes.NewReader(ignore)); err != nil {
			return nil, fmt.Errorf("unable to read %s: %w", filepath.Join(dir, ".dockerignore"), err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("unable to read %s: %w", filepath.Join(dir, ".dockerignore"), err)
	}
	return bc, nil
}

// write streams the context as an uncompressed tar, leaving out what
// .dockerignore excludes. The Dockerfile and .dockerignore always go:
// the engine reads them even when they are ignored (and then drops them
// from what COPY sees). Files are streamed, never held whole.
func (bc *buildContext) write(w io.Writer) error {
	if _, err := patternmatcher.New(bc.excludes); err != nil {
		return fmt.Errorf("invalid .dockerignore in %s: %w", bc.dir, err)
	}
	tw := tar.NewWriter(w)
	err := buildinputs.Walk(bc.dir, bc.excludes, func(path, rel string, d fs.DirEntry) error {
		if rel == ".dockerignore" || (rel == bc.dockerfile && bc.dockerfileData == nil) {
			return nil // written last, whatever the patterns say
		}
		return writeEntry(tw, path, rel, d)
	})
	if err != nil {
		return err
	}
	ignore := bc.ignore
	if bc.dockerfileData != nil {
		ignore = append(append(append([]byte{}, ignore...), '\n'), inlineDockerfile+"\n"...)
	}
	if ignore != nil {
		if err := writeFile(tw, ".dockerignore", ignore); err != nil {
			return err
		}
	}
	if bc.dockerfileData != nil {
		if err := writeFile(tw, bc.dockerfile, bc.dockerfileData); err != nil {
			return err
		}
	} else if err := writeEntry(tw, filepath.Join(bc.dir, filepath.FromSlash(bc.dockerfile)), bc.dockerfile, nil); err != nil {
		return err
	}
	return tw.Close()
}

// writeEntry adds one file, directory or symlink (never what it points
// to). Sockets, pipes and devices cannot be built from and are skipped.
// Owners are zeroed: a build must not depend on who ran it.
func writeEntry(tw *tar.Writer, path, name string, d fs.DirEntry) error {
	var info fs.FileInfo
	var err error
	if d != nil {
		info, err = d.Info()
	} else {
		info, err = os.Lstat(path)
	}
	if err != nil {
		return err
	}
	mode := info.Mode()
	if !mode.IsRegular() && !mode.IsDir() && mode&fs.ModeSymlink == 0 {
		return nil
	}
	link := ""
	if mode&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(path); err != nil {
			return err
		}
	}
	hdr, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return err
	}
	hdr.Name = name
	if mode.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !mode.IsRegular() {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	// Copy exactly the size in the header: a file that grows meanwhile
	// must not corrupt the stream.
	_, err = io.CopyN(tw, f, hdr.Size)
	return err
}

func writeFile(tw *tar.Writer, name string, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}
