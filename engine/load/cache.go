package load

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"devstack/engine/model"
)

// The load cache keeps the model of a project loaded before, so that a
// command run again on unchanged files answers without compose-go, whose
// load is most of what a `ps` or a no-op `up` costs (60–90 ms for the
// 20-service bench project, half of it compose-go walking its tree
// paths). An entry is found by what decides the load before any file is
// read: the devstack binary, the options, the compose files' paths and the
// environment interpolation sees; it holds what the load read besides (env
// files, whose contents are checked on every hit) and the paths the load
// checked exist (build contexts, Dockerfiles, secret and config files,
// checked again on every hit). A project that includes or extends other
// files is not cached: compose-go does not say which files those read.

// cacheFormat changes whenever an entry's layout or meaning does.
const cacheFormat = "devstack-load-cache-1"

// DefaultCacheDir is where commands keep the load cache: the user's cache
// directory (XDG_CACHE_HOME, ~/Library/Caches, %LocalAppData%), or "" (no
// cache) when there is none or DEVSTACK_NO_LOAD_CACHE is set.
func DefaultCacheDir() string {
	if os.Getenv("DEVSTACK_NO_LOAD_CACHE") != "" {
		return ""
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "devstack", "load")
}

// maxCacheEntries bounds the cache directory; the oldest entries go.
const maxCacheEntries = 64

// cacheEntry is what one file of the cache holds.
type cacheEntry struct {
	Contents map[string]string // path -> sha256 of its content, "" when absent
	Exist    map[string]bool   // path -> must be a directory (true) or a file (false)
	Project  *model.Project
}

// cacheKey names the entry for r, or "" when r cannot be cached.
func (r *resolved) cacheKey() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	st, err := os.Stat(exe)
	if err != nil {
		return ""
	}
	h := sha256.New()
	field := func(parts ...string) {
		for _, p := range parts {
			fmt.Fprintf(h, "%d:%s", len(p), p)
		}
		h.Write([]byte{0})
	}
	field(cacheFormat, exe, fmt.Sprint(st.Size(), st.ModTime().UnixNano()))
	field(r.projectDir, r.o.ProjectName, fmt.Sprint(r.o.NoShellEnv))
	field(r.files...)
	field(r.envFiles...)
	field(r.o.Profiles...)
	field(r.o.Services...)
	env := slices.Clone(r.env)
	sort.Strings(env)
	field(env...)
	for _, f := range r.files {
		if f == "-" {
			return "" // stdin cannot be read twice
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return ""
		}
		field(f, hashBytes(b))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func hashBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// contentHash is the sha256 of a file's content, "" when it is absent.
func contentHash(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return hashBytes(b), nil
}

// cached returns the project of a valid entry, or nil.
func cached(dir, key string) *model.Project {
	b, err := os.ReadFile(filepath.Join(dir, key))
	if err != nil {
		return nil
	}
	var e cacheEntry
	if gob.NewDecoder(bytes.NewReader(b)).Decode(&e) != nil || e.Project == nil {
		return nil
	}
	for path, want := range e.Contents {
		if got, err := contentHash(path); err != nil || got != want {
			return nil
		}
	}
	for path, isDir := range e.Exist {
		st, err := os.Stat(path)
		if err != nil || st.IsDir() != isDir {
			return nil
		}
	}
	return e.Project
}

// store writes the entry for p; a failure only costs the next load its speed.
func store(dir, key string, r *resolved, cp *types.Project, p *model.Project) {
	e := cacheEntry{Contents: map[string]string{}, Exist: map[string]bool{}, Project: p}
	reads := slices.Clone(r.envFiles)
	if len(r.envFiles) == 0 {
		reads = append(reads, filepath.Join(r.projectDir, ".env"))
	}
	for _, s := range cp.Services {
		for _, f := range s.EnvFiles {
			reads = append(reads, f.Path)
		}
		reads = append(reads, s.LabelFiles...)
	}
	for _, f := range reads {
		if !filepath.IsAbs(f) {
			f = filepath.Join(r.projectDir, f)
		}
		sum, err := contentHash(f)
		if err != nil {
			return
		}
		e.Contents[f] = sum
	}
	for _, svc := range p.Services {
		if b := svc.Build; b != nil && !remoteContext(b.Context) {
			e.Exist[b.Context] = true
			if b.Inline == "" {
				df := b.Dockerfile
				if !filepath.IsAbs(df) {
					df = filepath.Join(b.Context, df)
				}
				e.Exist[df] = false
			}
		}
	}
	for _, objs := range []map[string]model.FileObject{p.Secrets, p.Configs} {
		for _, o := range objs {
			if o.File != "" && !o.External {
				if st, err := os.Stat(o.File); err == nil {
					e.Exist[o.File] = st.IsDir()
				}
			}
		}
	}
	var buf bytes.Buffer
	if gob.NewEncoder(&buf).Encode(e) != nil {
		return
	}
	if os.MkdirAll(dir, 0o700) != nil {
		return
	}
	tmp, err := os.CreateTemp(dir, ".entry-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(buf.Bytes())
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), filepath.Join(dir, key)) != nil {
		_ = os.Remove(tmp.Name())
		return
	}
	prune(dir)
}

// prune keeps the newest maxCacheEntries entries.
func prune(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) <= maxCacheEntries {
		return
	}
	type aged struct {
		name string
		mod  int64
	}
	var all []aged
	for _, d := range entries {
		if info, err := d.Info(); err == nil && !strings.HasPrefix(d.Name(), ".") {
			all = append(all, aged{d.Name(), info.ModTime().UnixNano()})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].mod > all[j].mod })
	for _, a := range all[min(len(all), maxCacheEntries):] {
		_ = os.Remove(filepath.Join(dir, a.name))
	}
}

// loadCached is Load through the cache in dir.
func loadCached(r *resolved, dir string, load func(listen loader.Listener) (*types.Project, *model.Project, error)) (*model.Project, error) {
	key := r.cacheKey()
	if key != "" {
		if p := cached(dir, key); p != nil {
			return p, nil
		}
	}
	cacheable := key != ""
	cp, p, err := load(func(event string, meta map[string]any) {
		if file, _ := meta["file"].(string); event == "include" || event == "extends" && file != "" {
			cacheable = false
		}
	})
	if err != nil {
		return nil, err
	}
	if cacheable {
		store(dir, key, r, cp, p)
	}
	return p, nil
}
