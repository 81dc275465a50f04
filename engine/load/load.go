// Package load reads compose files with compose-go — interpolation,
// .env, profiles, extends, include, normalisation — and turns the result
// into devstack's own model. It is the only package that imports
// compose-go: everything after it works on model.Project.
//
// Errors in the user's files come back as *Error (file:line:column, what
// is wrong, what to do) or *NotFoundError; attributes compose-go accepts
// but devstack does not honour come back as Project.Warnings.
//
// Design: compose file(s) → `model.Project` via compose-go: discovery,
// interpolation, profiles, extends/include, warnings for unsupported fields,
// errors with file:line; a cache of models keyed by binary, options,
// environment and file contents (env files and checked paths verified on each
// hit) so a command on unchanged files skips compose-go.
package load

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"devstack/engine/model"
)

// Options say which compose project to load, as compose's global flags do.
type Options struct {
	Files       []string // -f, repeatable; empty: COMPOSE_FILE, else discovery upwards from WorkDir
	ProjectName string   // -p; else COMPOSE_PROJECT_NAME, the file's name:, the directory
	Profiles    []string // --profile; else COMPOSE_PROFILES
	EnvFiles    []string // --env-file; else the project directory's .env
	ProjectDir  string   // --project-directory
	WorkDir     string   // the current directory; "" means os.Getwd()
	Env         []string // the process environment; nil means os.Environ()
	// NoShellEnv interpolates only from .env/env files and the compose
	// file, never the process environment (scratch rebuilds). COMPOSE_*
	// variables still steer the loader.
	NoShellEnv bool
	Services   []string // when set, these services and their dependencies only
	// CacheDir keeps the models of projects loaded before, so that a load
	// of unchanged files skips compose-go (see cache.go); "" loads afresh.
	CacheDir string
	// BeforeParse, when set, is called before compose-go reads the files
	// (not when the cache answers): the load is the high point of a
	// command's memory, and the CLI gives back what it can before it.
	BeforeParse func()
}

// FileNames are the compose file names looked for in a directory, the
// project's own and the override files merged on top.
func FileNames() []string {
	return append(append([]string(nil), cli.DefaultFileNames...), cli.DefaultOverrideFileNames...)
}

// Load reads the project the options name.
func Load(ctx context.Context, o Options) (*model.Project, error) {
	r, err := o.resolve()
	if err != nil {
		return nil, err
	}
	before := func() {
		if o.BeforeParse != nil {
			o.BeforeParse()
		}
	}
	if o.CacheDir != "" {
		return loadCached(r, o.CacheDir, func(listen loader.Listener) (*types.Project, *model.Project, error) {
			before()
			return r.loadModel(ctx, func(lo *loader.Options) { lo.Listeners = append(lo.Listeners, listen) })
		})
	}
	before()
	_, p, err := r.loadModel(ctx)
	return p, err
}

// loadModel loads the project with compose-go and converts it.
func (r *resolved) loadModel(ctx context.Context, extra ...func(*loader.Options)) (*types.Project, *model.Project, error) {
	var cp *types.Project
	var found []loader.UnsupportedAttribute
	logged, err := collectWarnings(func() (err error) {
		cp, err = r.load(ctx, append(extra, loader.WithUnsupportedAttributesCheck(unsupportedPatterns, func(f []loader.UnsupportedAttribute) { found = f }),
			loader.WithSupportedAttributes(supportedPaths, nil))...)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	p, err := convert(cp, r.files)
	if err != nil {
		return nil, nil, err
	}
	if len(r.o.Services) > 0 {
		// Services left out by the selection are not orphans: list them
		// with the disabled ones.
		p.Disabled = r.unselected(ctx, p)
	}
	warnings := slices.Concat(r.warnings, logged, attributeWarnings(cp, found), p.Warnings)
	p.Warnings = warnings
	return cp, p, nil
}

// Config renders the loaded, normalised project as `docker compose config`
// does, in "yaml" or "json", with the warnings Load gives for it: one
// load serves both.
func Config(ctx context.Context, o Options, format string) ([]byte, []model.Warning, error) {
	if format != "yaml" && format != "json" && format != "" {
		return nil, nil, fmt.Errorf("unknown format %q: use yaml or json", format)
	}
	r, err := o.resolve()
	if err != nil {
		return nil, nil, err
	}
	cp, p, err := r.loadModel(ctx)
	if err != nil {
		return nil, nil, err
	}
	var out []byte
	if format == "json" {
		out, err = cp.MarshalJSON()
	} else {
		out, err = cp.MarshalYAML()
	}
	return out, p.Warnings, err
}

// resolved is Options made concrete: absolute files and directories, the
// environment interpolation may read.
type resolved struct {
	o          Options
	files      []string // absolute compose files, in order
	projectDir string
	env        []string // what interpolation may read besides env files
	shell      []string // the whole process environment (Options.Env)
	envFiles   []string // absolute --env-file paths
	warnings   []model.Warning
}

func (o Options) resolve() (*resolved, error) {
	wd := o.WorkDir
	if wd == "" {
		var err error
		if wd, err = os.Getwd(); err != nil {
			return nil, fmt.Errorf("unable to find the current directory: %w", err)
		}
	}
	wd, err := filepath.Abs(wd)
	if err != nil {
		return nil, err
	}
	abs := func(p string) string {
		if p == "-" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(wd, p)
	}
	r := &resolved{o: o, shell: o.Env}
	if r.shell == nil {
		r.shell = os.Environ()
	}
	r.env = r.shell
	if o.NoShellEnv {
		r.env = nil
		for _, kv := range r.shell {
			if strings.HasPrefix(kv, "COMPOSE_") {
				r.env = append(r.env, kv)
			}
		}
	}
	if o.ProjectDir != "" {
		r.projectDir = abs(o.ProjectDir)
		if st, err := os.Stat(r.projectDir); err != nil || !st.IsDir() {
			return nil, &Error{Message: fmt.Sprintf("project directory %s does not exist", r.projectDir),
				Hint: "fix --project-directory"}
		}
	}
	switch {
	case len(o.Files) > 0:
		for _, f := range o.Files {
			r.files = append(r.files, abs(f))
		}
		if err := checkFiles(r.files, "-f"); err != nil {
			return nil, err
		}
	case lookup(r.shell, "COMPOSE_FILE") != "":
		sep := lookup(r.shell, "COMPOSE_PATH_SEPARATOR")
		if sep == "" {
			sep = string(os.PathListSeparator)
		}
		for _, f := range strings.Split(lookup(r.shell, "COMPOSE_FILE"), sep) {
			if f != "" {
				r.files = append(r.files, abs(f))
			}
		}
		if err := checkFiles(r.files, "COMPOSE_FILE"); err != nil {
			return nil, err
		}
	default:
		start := wd
		if r.projectDir != "" {
			start = r.projectDir
		}
		r.files, r.warnings, err = discover(start)
		if err != nil {
			return nil, err
		}
	}
	if r.projectDir == "" {
		r.projectDir = wd
		if r.files[0] != "-" {
			r.projectDir = filepath.Dir(r.files[0])
		}
	}
	if len(o.EnvFiles) == 0 {
		// compose-go reads this one from the process, not from Env.
		if off, _ := strconv.ParseBool(lookup(r.shell, "COMPOSE_DISABLE_ENV_FILE")); off {
			r.envFiles = []string{os.DevNull}
		}
	}
	for _, f := range o.EnvFiles {
		f = abs(f)
		if st, err := os.Stat(f); err != nil || st.IsDir() {
			return nil, &Error{Message: fmt.Sprintf("env file %s does not exist", f), Hint: "fix the --env-file path"}
		}
		r.envFiles = append(r.envFiles, f)
	}
	return r, nil
}

// checkFiles says which named compose file is missing and who named it.
func checkFiles(files []string, by string) error {
	for _, f := range files {
		if f == "-" {
			continue
		}
		st, err := os.Stat(f)
		switch {
		case err != nil:
			return &Error{Message: fmt.Sprintf("compose file %s (from %s) does not exist", f, by), Hint: "fix the path", Err: err}
		case st.IsDir():
			return &Error{Message: fmt.Sprintf("compose file %s (from %s) is a directory", f, by), Hint: "name the file inside it"}
		}
	}
	return nil
}

// discover looks for a compose file in start and then each parent, as
// compose does, with the override file next to it. compose-go's own
// discovery starts from the process's directory; ours starts from
// Options.WorkDir so that callers need not chdir.
func discover(start string) ([]string, []model.Warning, error) {
	for dir := start; ; dir = filepath.Dir(dir) {
		found := existing(dir, cli.DefaultFileNames)
		if len(found) > 0 {
			var warnings []model.Warning
			if len(found) > 1 {
				warnings = append(warnings, model.Warning{Message: fmt.Sprintf("found several compose files in %s (%s); using %s",
					dir, strings.Join(baseNames(found), ", "), filepath.Base(found[0]))})
			}
			files := found[:1]
			if over := existing(dir, cli.DefaultOverrideFileNames); len(over) > 0 {
				files = append(files, over[0])
				if len(over) > 1 {
					warnings = append(warnings, model.Warning{Message: fmt.Sprintf("found several override files in %s (%s); using %s",
						dir, strings.Join(baseNames(over), ", "), filepath.Base(over[0]))})
				}
			}
			return files, warnings, nil
		}
		if filepath.Dir(dir) == dir {
			return nil, nil, &NotFoundError{Dir: start, Names: cli.DefaultFileNames}
		}
	}
}

func existing(dir string, names []string) []string {
	var out []string
	for _, n := range names {
		f := filepath.Join(dir, n)
		if st, err := os.Stat(f); err == nil && !st.IsDir() {
			out = append(out, f)
		}
	}
	return out
}

func baseNames(files []string) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = filepath.Base(f)
	}
	return out
}

// load runs compose-go the way the compose CLI does.
func (r *resolved) load(ctx context.Context, extra ...func(*loader.Options)) (*types.Project, error) {
	opts := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(r.projectDir),
		cli.WithEnv(r.env),
		cli.WithEnvFiles(r.envFiles...),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(r.o.Profiles...),
		cli.WithResolvedPaths(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithLoadOptions(extra...),
	}
	if r.o.ProjectName != "" {
		if r.o.ProjectName != loader.NormalizeProjectName(r.o.ProjectName) {
			return nil, &Error{Message: fmt.Sprintf("invalid project name %q", r.o.ProjectName),
				Hint: "use lower-case letters, digits, dashes and underscores, starting with a letter or digit"}
		}
		opts = append(opts, cli.WithName(r.o.ProjectName))
	}
	if len(r.o.Services) > 0 {
		// compose-go drops the other services before reading their
		// env_file and label_file, and enables selected ones that sit
		// behind a profile, as `docker compose up svc` does.
		opts = append(opts, cli.WithSelectedServices(r.o.Services...))
	}
	po, err := cli.NewProjectOptions(r.files, opts...)
	if err != nil {
		return nil, explain(r.files, err)
	}
	p, err := po.LoadProject(ctx)
	if err != nil {
		if len(r.o.Services) > 0 && strings.Contains(err.Error(), "no such service") {
			return nil, r.unknownService(ctx)
		}
		return nil, explain(r.files, err)
	}
	return p, nil
}

// unselected lists the services of the project that p, loaded with a
// selection, does not hold. Environment resolution is skipped: it is what
// could fail (a missing env_file) for a service that was not selected.
func (r *resolved) unselected(ctx context.Context, p *model.Project) []string {
	all := *r
	all.o.Services = nil
	var cp *types.Project
	_, err := collectWarnings(func() (err error) {
		cp, err = all.load(ctx, func(lo *loader.Options) { lo.SkipResolveEnvironment = true })
		return err
	})
	out := slices.Clone(p.Disabled)
	if err == nil {
		for _, name := range slices.Concat(cp.ServiceNames(), cp.DisabledServiceNames()) {
			if _, ok := p.Service(name); !ok && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// unknownService explains a selection naming a service the project lacks.
func (r *resolved) unknownService(ctx context.Context) error {
	all := *r
	all.o.Services = nil
	p, err := all.load(ctx)
	if err != nil {
		return err
	}
	names := slices.Concat(p.ServiceNames(), p.DisabledServiceNames())
	slices.Sort(names)
	var unknown []string
	for _, s := range r.o.Services {
		if !slices.Contains(names, s) {
			unknown = append(unknown, s)
		}
	}
	return &Error{Message: fmt.Sprintf("no such service: %s", quoteList(unknown)),
		Hint: "the project has " + strings.Join(names, ", ")}
}

// lookup returns the value of key in a KEY=VALUE list ("" when unset).
func lookup(env []string, key string) string {
	v, _ := lookupOK(env, key)
	return v
}
