// Package load reads compose files with compose-go — interpolation,
// .env, profiles, extends, include, normalisation — and turns the result
// into devstack's own model. It is the only package that imports
// compose-go: everything after it works on model.Project.
package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"devstack/engine/model"
)

// Options say which compose project to load, as compose's global flags do.
type Options struct {
	Files       []string // -f; empty: COMPOSE_FILE, else discovery upwards from WorkDir
	ProjectName string   // -p; else COMPOSE_PROJECT_NAME, the file's name:, the directory
	Profiles    []string // --profile; else COMPOSE_PROFILES
	EnvFiles    []string // --env-file; else the project directory's .env
	ProjectDir  string   // --project-directory
	WorkDir     string   // the current directory; "" means os.Getwd()
	Env         []string // the process environment; nil means os.Environ()
	// NoShellEnv interpolates only from .env/env files and the compose
	// file, never the process environment (scratch rebuilds).
	NoShellEnv bool
	Services   []string // when set, these services and their dependencies only
}

// NotFoundError says no compose file was found and where the search went.
type NotFoundError struct{ Dir string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("no compose file found in %s or any parent directory (looked for %s): create one with `devstack init`, or name it with -f",
		e.Dir, strings.Join(cli.DefaultFileNames, ", "))
}

// Load reads the project the options name.
func Load(ctx context.Context, o Options) (*model.Project, error) {
	var cp *types.Project
	warnings, err := collectWarnings(func() (err error) {
		cp, err = loadCompose(ctx, o)
		return err
	})
	if err != nil {
		return nil, err
	}
	p, err := convert(cp)
	if err != nil {
		return nil, err
	}
	p.Warnings = append(warnings, p.Warnings...)
	return p, nil
}

// Config renders the loaded, normalised project as `docker compose config`
// does, in "yaml" or "json".
func Config(ctx context.Context, o Options, format string) ([]byte, error) {
	var cp *types.Project
	_, err := collectWarnings(func() (err error) {
		cp, err = loadCompose(ctx, o)
		return err
	})
	if err != nil {
		return nil, err
	}
	switch format {
	case "json":
		return cp.MarshalJSON()
	case "yaml", "":
		return cp.MarshalYAML()
	}
	return nil, fmt.Errorf("unknown format %q: use yaml or json", format)
}

func (o *Options) workDir() (string, error) {
	if o.WorkDir != "" {
		return filepath.Abs(o.WorkDir)
	}
	return os.Getwd()
}

func (o *Options) env() []string {
	if o.Env != nil {
		return o.Env
	}
	return os.Environ()
}

func lookup(env []string, key string) (string, bool) {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// configFiles resolves -f, COMPOSE_FILE and discovery into absolute paths.
func (o *Options) configFiles() ([]string, error) {
	wd, err := o.workDir()
	if err != nil {
		return nil, err
	}
	abs := func(files []string) []string {
		out := make([]string, 0, len(files))
		for _, f := range files {
			if f == "-" || filepath.IsAbs(f) {
				out = append(out, f)
			} else {
				out = append(out, filepath.Join(wd, f))
			}
		}
		return out
	}
	if len(o.Files) > 0 {
		return abs(o.Files), nil
	}
	if v, ok := lookup(o.env(), "COMPOSE_FILE"); ok && v != "" {
		sep := string(os.PathListSeparator)
		if s, ok := lookup(o.env(), "COMPOSE_PATH_SEPARATOR"); ok && s != "" {
			sep = s
		}
		return abs(strings.Split(v, sep)), nil
	}
	start := wd
	if o.ProjectDir != "" {
		start = o.ProjectDir
		if !filepath.IsAbs(start) {
			start = filepath.Join(wd, start)
		}
	}
	for dir := start; ; dir = filepath.Dir(dir) {
		for _, name := range cli.DefaultFileNames {
			f := filepath.Join(dir, name)
			if st, err := os.Stat(f); err == nil && !st.IsDir() {
				files := []string{f}
				for _, over := range cli.DefaultOverrideFileNames {
					if st, err := os.Stat(filepath.Join(dir, over)); err == nil && !st.IsDir() {
						files = append(files, filepath.Join(dir, over))
						break
					}
				}
				return files, nil
			}
		}
		if filepath.Dir(dir) == dir {
			return nil, &NotFoundError{Dir: start}
		}
	}
}

// loadCompose runs compose-go with the options, the way the compose CLI does.
func loadCompose(ctx context.Context, o Options) (*types.Project, error) {
	files, err := o.configFiles()
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if f == "-" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("compose file %s: %w", f, errors.Unwrap(err))
		}
	}
	projectDir := o.ProjectDir
	if projectDir != "" && !filepath.IsAbs(projectDir) {
		wd, _ := o.workDir()
		projectDir = filepath.Join(wd, projectDir)
	}
	if projectDir == "" {
		projectDir = filepath.Dir(files[0])
	}
	env := o.env()
	var envFiles []string
	for _, f := range o.EnvFiles {
		if !filepath.IsAbs(f) {
			wd, _ := o.workDir()
			f = filepath.Join(wd, f)
		}
		envFiles = append(envFiles, f)
	}
	opts := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(projectDir),
	}
	if o.NoShellEnv {
		// Compose's own variables still steer the loader, but nothing of
		// the user's shell reaches interpolation.
		var keep []string
		for _, kv := range env {
			if strings.HasPrefix(kv, "COMPOSE_") {
				keep = append(keep, kv)
			}
		}
		opts = append(opts, cli.WithEnv(keep))
	} else {
		opts = append(opts, cli.WithEnv(env))
	}
	opts = append(opts,
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(o.Profiles...),
		cli.WithName(o.ProjectName),
		cli.WithResolvedPaths(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
	)
	if o.ProjectName == "" {
		if name, ok := lookup(env, "COMPOSE_PROJECT_NAME"); ok && name != "" {
			opts = append(opts, cli.WithName(name))
		}
	}
	po, err := cli.NewProjectOptions(files, opts...)
	if err != nil {
		return nil, explain(files, err)
	}
	p, err := po.LoadProject(ctx)
	if err != nil {
		return nil, explain(files, err)
	}
	if len(o.Services) > 0 {
		for _, s := range o.Services {
			if _, err := p.GetService(s); err != nil {
				return nil, fmt.Errorf("no such service: %q (the project has: %s)", s, strings.Join(p.ServiceNames(), ", "))
			}
		}
		p, err = p.WithSelectedServices(o.Services)
		if err != nil {
			return nil, explain(files, err)
		}
	}
	return p, nil
}

// convert maps a compose-go project onto the model.
func convert(cp *types.Project) (*model.Project, error) {
	p := &model.Project{
		Name:        cp.Name,
		WorkingDir:  cp.WorkingDir,
		ConfigFiles: cp.ComposeFiles,
		Environment: map[string]string(cp.Environment),
		Networks:    map[string]model.Network{},
		Volumes:     map[string]model.Volume{},
		Secrets:     map[string]model.FileObject{},
		Configs:     map[string]model.FileObject{},
		Disabled:    cp.DisabledServiceNames(),
	}
	sort.Strings(p.Disabled)
	for key, n := range cp.Networks {
		p.Networks[key] = convertNetwork(cp.Name, key, n)
	}
	for key, v := range cp.Volumes {
		name := v.Name
		if name == "" {
			name = cp.Name + "_" + key
		}
		p.Volumes[key] = model.Volume{Name: name, Driver: v.Driver, External: bool(v.External), Labels: v.Labels, Options: v.DriverOpts}
	}
	for key, s := range cp.Secrets {
		p.Secrets[key] = fileObject(types.FileObjectConfig(s))
	}
	for key, c := range cp.Configs {
		p.Configs[key] = fileObject(types.FileObjectConfig(c))
	}
	ext, warnings, err := projectExtension(cp)
	if err != nil {
		return nil, err
	}
	p.Ext = ext
	p.Warnings = append(p.Warnings, warnings...)
	for _, name := range cp.ServiceNames() {
		cs := cp.Services[name]
		svc, warns, err := convertService(cp, cs)
		if err != nil {
			return nil, err
		}
		p.Warnings = append(p.Warnings, warns...)
		svc.ConfigHash = model.Hash(svc)
		p.Services = append(p.Services, svc)
	}
	sort.Slice(p.Services, func(i, j int) bool { return p.Services[i].Name < p.Services[j].Name })
	return p, nil
}

func convertNetwork(project, key string, n types.NetworkConfig) model.Network {
	name := n.Name
	if name == "" {
		name = project + "_" + key
	}
	out := model.Network{Name: name, Driver: n.Driver, Internal: n.Internal, Attachable: n.Attachable,
		External: bool(n.External), Labels: n.Labels, Options: n.DriverOpts}
	if n.EnableIPv6 != nil {
		out.EnableIPv6 = *n.EnableIPv6
	}
	for _, pool := range n.Ipam.Config {
		if pool != nil && pool.Subnet != "" {
			out.Subnets = append(out.Subnets, pool.Subnet)
		}
	}
	return out
}

func fileObject(f types.FileObjectConfig) model.FileObject {
	return model.FileObject{Name: f.Name, File: f.File, Content: f.Content, Environment: f.Environment, External: bool(f.External)}
}

// rawExtension re-encodes an extension value (a map from YAML) as JSON so
// it can be decoded into a typed struct.
func rawExtension(v any) ([]byte, error) { return json.Marshal(v) }
