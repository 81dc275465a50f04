package load

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/format"
	"github.com/compose-spec/compose-go/v2/types"

	"devstack/engine/model"
)

// ParseVolumeFlag reads a `run -v` value in the compose file's short
// syntax (SOURCE:TARGET[:ro], a named volume, or TARGET alone for an
// anonymous one), as Compose's run does. A relative or ~ bind source is
// taken from dir (the project directory), as in the file.
func ParseVolumeFlag(spec, dir string) (model.Mount, error) {
	v, err := format.ParseVolume(spec)
	if err != nil {
		return model.Mount{}, fmt.Errorf("invalid --volume %q: %v: write SOURCE:TARGET[:ro], e.g. ./data:/data or cache:/var/cache", spec, err)
	}
	if v.Type == types.VolumeTypeBind {
		v.Source = bindSource(v.Source, dir)
		// Short syntax makes a missing host directory, as in the file.
		v.Bind = &types.ServiceVolumeBind{CreateHostPath: true}
	}
	m, ok := mount(v)
	if !ok || !strings.HasPrefix(v.Target, "/") {
		return model.Mount{}, fmt.Errorf("invalid --volume %q: write SOURCE:TARGET[:ro], e.g. ./data:/data or cache:/var/cache", spec)
	}
	return m, nil
}

func bindSource(src, dir string) string {
	if src == "~" || strings.HasPrefix(src, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, src[1:])
		}
	}
	if filepath.IsAbs(src) || dir == "" {
		return src
	}
	return filepath.Join(dir, src)
}

// ParsePublishFlag reads a `run -p` value ([HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL],
// ranges allowed), as the ports: short syntax.
func ParsePublishFlag(spec string) ([]model.Port, error) {
	ps, err := types.ParsePortConfig(spec)
	if err != nil {
		return nil, fmt.Errorf("invalid --publish %q: %v: write [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL], e.g. 127.0.0.1:8080:80", spec, err)
	}
	out := make([]model.Port, 0, len(ps))
	for _, p := range ps {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		out = append(out, model.Port{Target: p.Target, Published: p.Published, HostIP: p.HostIP, Protocol: proto})
	}
	return out, nil
}

// ProfileNames lists, sorted, every profile the project's services name,
// for shell completion of --profile.
func ProfileNames(ctx context.Context, o Options) ([]string, error) {
	o.Profiles = []string{"*"}
	r, err := o.resolve()
	if err != nil {
		return nil, err
	}
	var cp *types.Project
	if _, err := collectWarnings(func() (err error) {
		cp, err = r.load(ctx)
		return err
	}); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, s := range cp.Services {
		for _, p := range s.Profiles {
			seen[p] = true
		}
	}
	return slices.Sorted(maps.Keys(seen)), nil
}
