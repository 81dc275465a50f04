package load

import (
	"context"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
)

// ShellVariables returns the names of the variables the project reads
// that only the process environment provides: set in Options.Env and not
// in .env or an --env-file. A project that needs them works in one
// person's shell and nobody else's; scratch rebuilds report them as
// host-env dependencies.
//
// "Reads" covers ${VAR} interpolation anywhere in the compose files
// (included and extended ones too), service environment entries without
// a value (`environment: [AWS_PROFILE]`, passed through from the shell),
// and secrets or configs with `environment: VAR`.
//
// It works by loading twice, without hooks into compose-go's lookups
// (an included file interpolates through its own lookup function, out of
// a hook's reach): once without interpolation, to list the variables the
// files mention, and once for the env files alone, to know which of them
// the files provide.
func ShellVariables(ctx context.Context, o Options) ([]string, error) {
	r, err := o.resolve()
	if err != nil {
		return nil, err
	}
	var raw map[string]any
	_, err = collectWarnings(func() error {
		po, err := cli.NewProjectOptions(r.files,
			cli.WithWorkingDirectory(r.projectDir),
			cli.WithName("probe"),
			cli.WithInterpolation(false),
			cli.WithNormalization(false),
			cli.WithResolvedPaths(false),
			cli.WithConsistency(false),
			cli.WithLoadOptions(func(lo *loader.Options) {
				// Uninterpolated values ("${PORT}:80") need not be valid.
				lo.SkipValidation = true
			}))
		if err != nil {
			return err
		}
		raw, err = po.LoadModel(ctx)
		return err
	})
	if err != nil {
		return nil, explain(r.files, err)
	}
	used := map[string]bool{}
	for name := range template.ExtractVariables(raw, template.DefaultPattern) {
		used[name] = true
	}
	for _, name := range passThrough(raw) {
		used[name] = true
	}

	fromFiles, err := r.envFileVariables()
	if err != nil {
		return nil, err
	}
	var out []string
	for name := range used {
		if _, inFiles := fromFiles[name]; inFiles {
			continue
		}
		if _, inShell := lookupOK(r.shell, name); inShell {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// envFileVariables reads .env or the --env-file files as the loader does.
func (r *resolved) envFileVariables() (map[string]string, error) {
	po, err := cli.NewProjectOptions(r.files,
		cli.WithWorkingDirectory(r.projectDir),
		cli.WithEnvFiles(r.envFiles...),
		cli.WithDotEnv)
	if err != nil {
		return nil, explain(r.files, err)
	}
	return po.Environment, nil
}

// passThrough lists the variables the raw model takes from the
// environment by name: service environment entries without a value, and
// secrets and configs declared with environment:.
func passThrough(raw map[string]any) []string {
	var out []string
	services, _ := raw["services"].(map[string]any)
	for _, s := range services {
		svc, _ := s.(map[string]any)
		switch env := svc["environment"].(type) {
		case []any:
			for _, e := range env {
				if s, ok := e.(string); ok && !strings.Contains(s, "=") {
					out = append(out, s)
				}
			}
		case map[string]any:
			for k, v := range env {
				if v == nil {
					out = append(out, k)
				}
			}
		}
	}
	for _, section := range []string{"secrets", "configs"} {
		objs, _ := raw[section].(map[string]any)
		for _, o := range objs {
			obj, _ := o.(map[string]any)
			if name, ok := obj["environment"].(string); ok && name != "" {
				out = append(out, name)
			}
		}
	}
	return out
}

func lookupOK(env []string, key string) (string, bool) {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}
