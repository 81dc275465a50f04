// Package pack writes the tar streams live sync sends into containers:
// uncompressed, with clean relative names only, reading host files through
// an os.Root so nothing outside a watched directory is ever read, and
// sending symlinks as links, never following them.
package pack

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// ErrUnsafeName is returned for a path that would not stay inside its
// target: absolute, with "..", empty, or holding a NUL byte.
var ErrUnsafeName = errors.New("unsafe path")

// CleanRel checks a slash-separated path relative to a watched directory
// and returns it cleaned. "." (the directory itself) is allowed.
func CleanRel(rel string) (string, error) {
	if rel == "" || strings.ContainsRune(rel, 0) || strings.HasPrefix(rel, "/") {
		return "", fmt.Errorf("%w: %q", ErrUnsafeName, rel)
	}
	c := path.Clean(rel)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%w: %q leaves its directory", ErrUnsafeName, rel)
	}
	return c, nil
}

// TargetDir checks an absolute container path and returns it cleaned.
func TargetDir(target string) (string, error) {
	if !strings.HasPrefix(target, "/") || strings.ContainsRune(target, 0) {
		return "", fmt.Errorf("%w: container path %q is not absolute", ErrUnsafeName, target)
	}
	return path.Clean(target), nil
}

// Name returns the tar entry name of rel (relative to a watched directory)
// synced to the container directory target. Tar names are relative to the
// container's root, so a batch covering several targets is one stream
// extracted at "/".
func Name(target, rel string) (string, error) {
	t, err := TargetDir(target)
	if err != nil {
		return "", err
	}
	r, err := CleanRel(rel)
	if err != nil {
		return "", err
	}
	name := strings.TrimPrefix(path.Join(t, r), "/")
	if err := ValidName(name); err != nil {
		return "", err
	}
	return name, nil
}

// ContainerPath returns the absolute container path of rel under target.
func ContainerPath(target, rel string) (string, error) {
	n, err := Name(target, rel)
	if err != nil {
		return "", err
	}
	return "/" + n, nil
}

// ValidName is the last check on every tar name written: relative, clean,
// no "..", not empty, no NUL.
func ValidName(name string) error {
	switch {
	case name == "" || name == ".":
		return fmt.Errorf("%w: empty name", ErrUnsafeName)
	case strings.HasPrefix(name, "/"):
		return fmt.Errorf("%w: %q is absolute", ErrUnsafeName, name)
	case strings.ContainsRune(name, 0):
		return fmt.Errorf("%w: %q holds a NUL byte", ErrUnsafeName, name)
	case path.Clean(name) != name:
		return fmt.Errorf("%w: %q is not clean", ErrUnsafeName, name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return fmt.Errorf("%w: %q has a \"..\" element", ErrUnsafeName, name)
		}
	}
	return nil
}
