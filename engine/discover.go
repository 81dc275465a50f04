package engine

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"devstack/engine/model"
)

// NoProjectError says the engine holds nothing of a project.
type NoProjectError struct{ Name string }

func (e *NoProjectError) Error() string {
	return fmt.Sprintf("the engine holds no container, network or volume of project %q", e.Name)
}

// Discover rebuilds a project from what the engine holds of it, the way
// Compose does when `-p NAME` is given without a compose file: services
// are what the containers' labels name, and their order comes from the
// depends_on label every container carries. Enough to list, log, start,
// stop and take down a stack; not to create anything.
func Discover(ctx context.Context, rt Runtime, name string) (*model.Project, error) {
	obs, err := rt.Observe(ctx, &model.Project{Name: name})
	if err != nil {
		return nil, err
	}
	if len(obs.Containers) == 0 && len(obs.Networks) == 0 && len(obs.Volumes) == 0 && len(obs.AnonymousVolumes) == 0 {
		return nil, &NoProjectError{Name: name}
	}
	p := &model.Project{Name: name}
	services := map[string]*model.Service{}
	for _, c := range obs.Containers {
		if c.OneOff || c.Service == "" {
			continue
		}
		if p.WorkingDir == "" {
			p.WorkingDir = c.Labels[model.LabelWorkingDir]
		}
		s := services[c.Service]
		if s == nil {
			s = &model.Service{Name: c.Service, Image: c.Image, DependsOn: dependsOn(c.Labels[model.LabelDependsOn])}
			services[c.Service] = s
		}
		s.Replicas++
	}
	for _, s := range services {
		// A dependency without a container left has nothing to order.
		for dep := range s.DependsOn {
			if services[dep] == nil {
				delete(s.DependsOn, dep)
			}
		}
		p.Services = append(p.Services, *s)
	}
	sort.Slice(p.Services, func(i, j int) bool { return p.Services[i].Name < p.Services[j].Name })
	return p, nil
}

// dependsOn parses Compose's depends_on label: "db:service_healthy:false,
// cache:service_started:true" (service:condition:restart).
func dependsOn(label string) map[string]model.Dependency {
	deps := map[string]model.Dependency{}
	for _, item := range strings.Split(label, ",") {
		f := strings.Split(strings.TrimSpace(item), ":")
		if f[0] == "" {
			continue
		}
		d := model.Dependency{Condition: model.ConditionStarted, Required: true}
		if len(f) > 1 && f[1] != "" {
			d.Condition = f[1]
		}
		if len(f) > 2 {
			d.Restart, _ = strconv.ParseBool(f[2])
		}
		deps[f[0]] = d
	}
	return deps
}
