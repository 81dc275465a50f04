package load

import (
	"context"
	"sort"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/template"
)

// ShellVariables returns the names of the variables the compose files
// interpolate that only the process environment provides: not .env, not
// --env-file. A project that needs them works for one person's shell and
// nobody else's; scratch rebuilds report them as host-env dependencies.
func ShellVariables(ctx context.Context, o Options) ([]string, error) {
	files, err := o.configFiles()
	if err != nil {
		return nil, err
	}
	po, err := cli.NewProjectOptions(files, cli.WithInterpolation(false), cli.WithNormalization(false),
		cli.WithResolvedPaths(false), cli.WithConsistency(false), cli.WithName("probe"))
	if err != nil {
		return nil, err
	}
	var raw map[string]any
	_, err = collectWarnings(func() (err error) {
		raw, err = po.LoadModel(ctx)
		return err
	})
	if err != nil {
		return nil, explain(files, err)
	}
	used := template.ExtractVariables(raw, template.DefaultPattern)

	isolated := o
	isolated.NoShellEnv = true
	fromFiles := map[string]string{}
	_, _ = collectWarnings(func() error {
		cp, err := loadCompose(ctx, isolated)
		if err == nil {
			fromFiles = cp.Environment
		}
		return err
	})
	var out []string
	for name := range used {
		if _, ok := lookup(o.env(), name); !ok {
			continue
		}
		if _, ok := fromFiles[name]; ok {
			continue
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out, nil
}
