package load

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"

	"github.com/compose-spec/compose-go/v2/types"

	"devstack/engine/model"
)

// convert maps a loaded compose-go project onto the model. files are the
// compose files, for the positions in error messages.
func convert(cp *types.Project, files []string) (*model.Project, error) {
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
		p.Volumes[key] = model.Volume{Name: resourceName(cp.Name, key, v.Name, bool(v.External)),
			Driver: v.Driver, External: bool(v.External), Labels: nilIfEmptyMap(v.Labels), Options: nilIfEmptyMap(v.DriverOpts)}
	}
	for key, s := range cp.Secrets {
		p.Secrets[key] = fileObject(cp.Name, key, types.FileObjectConfig(s))
	}
	for key, c := range cp.Configs {
		p.Configs[key] = fileObject(cp.Name, key, types.FileObjectConfig(c))
	}
	ext, err := projectExtension(cp, files)
	if err != nil {
		return nil, err
	}
	p.Ext = ext
	for _, name := range slices.Sorted(maps.Keys(cp.Services)) {
		cs := cp.Services[name]
		if cs.UseAPISocket {
			cs = withAPISocket(cs)
			p.Configs[apiSocketConfig] = model.FileObject{Name: apiSocketConfig, Credentials: true}
		}
		svc, err := convertService(cp, cs, files)
		if err != nil {
			return nil, err
		}
		svc.ConfigHash = composeHash(cs)
		svc.RefHashTemplate = refHashTemplate(cs)
		if h, ok := svc.RefHash(nil); ok {
			svc.ConfigHash = h // volumes_from only containers: no ID to wait for
		}
		p.Services = append(p.Services, svc)
	}
	if err := checkFileObjects(p, files); err != nil {
		return nil, err
	}
	return p, nil
}

// resourceName is the engine-side name of a network or volume: compose
// prefixes the project name unless name: is set or the resource is
// external (compose-go's normalisation has usually filled it already).
func resourceName(project, key, name string, external bool) string {
	switch {
	case name != "":
		return name
	case external:
		return key
	}
	return project + "_" + key
}

func convertNetwork(project, key string, n types.NetworkConfig) model.Network {
	out := model.Network{Name: resourceName(project, key, n.Name, bool(n.External)), Driver: n.Driver,
		Internal: n.Internal, Attachable: n.Attachable, External: bool(n.External),
		Labels: nilIfEmptyMap(n.Labels), Options: nilIfEmptyMap(n.DriverOpts)}
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

func fileObject(project, key string, f types.FileObjectConfig) model.FileObject {
	name := f.Name
	if name == "" {
		name = project + "_" + key
	}
	return model.FileObject{Name: name, File: f.File, Content: f.Content, Environment: f.Environment, External: bool(f.External)}
}

// checkFileObjects fails early, with the place to fix, when a secret or
// config that a service uses names a file that does not exist: compose
// would only find out when creating the container.
func checkFileObjects(p *model.Project, files []string) error {
	check := func(section, kind string, objs map[string]model.FileObject, refs func(*model.Service) []model.FileRef) error {
		for _, svc := range p.Services {
			for _, ref := range refs(&svc) {
				obj, ok := objs[ref.Source]
				if !ok || obj.File == "" || obj.External {
					continue
				}
				if _, err := os.Stat(obj.File); err != nil {
					e := &Error{Service: svc.Name, Err: err,
						Message: fmt.Sprintf("%s %q (used by service %q) reads %s, which does not exist", kind, ref.Source, svc.Name, obj.File),
						Hint:    fmt.Sprintf("create the file or fix %s.%s.file", section, ref.Source)}
					return e.at(files, section, ref.Source, "file")
				}
			}
		}
		return nil
	}
	if err := check("secrets", "secret", p.Secrets, func(s *model.Service) []model.FileRef { return s.Secrets }); err != nil {
		return err
	}
	return check("configs", "config", p.Configs, func(s *model.Service) []model.FileRef { return s.Configs })
}

func nilIfEmptyMap[M ~map[string]string](m M) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}
