package scratch

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"devstack/engine/event"
	"devstack/engine/model"
)

// externalLooker is what the engine runtime offers to look at networks
// and volumes by name (engine/docker does).
type externalLooker interface {
	NetworkLabels(ctx context.Context, name string) (bool, map[string]string, error)
	VolumeInfo(ctx context.Context, name string) (model.VolumeInfo, error)
}

// machineLocal names the external networks, volumes, secrets and configs
// the stack uses: `external: true` means no `up` ever creates them, so
// the dev environment works only because they exist on this engine. The
// scratch stack makes its own in their place (sharing the dev ones would
// let it see the dev data), so it would not fail on them: a fresh machine
// would, with "declared external, but the engine has none".
func (r *rebuild) machineLocal(ctx context.Context) []event.Finding {
	p := r.dev
	users := map[string][]string{} // "network NAME" -> services
	for _, s := range p.Services {
		if s.Replicas == 0 {
			continue
		}
		for key := range s.Networks {
			if n, ok := p.Networks[key]; ok && n.External {
				users["network "+n.Name] = append(users["network "+n.Name], s.Name)
			}
		}
		for _, m := range s.Volumes {
			if v, ok := p.Volumes[m.Source]; ok && v.External && m.Type == model.MountVolume {
				users["volume "+v.Name] = append(users["volume "+v.Name], s.Name)
			}
		}
		for _, f := range s.Secrets {
			if o, ok := p.Secrets[f.Source]; ok && o.External {
				users["secret "+o.Name] = append(users["secret "+o.Name], s.Name)
			}
		}
		for _, f := range s.Configs {
			if o, ok := p.Configs[f.Source]; ok && o.External {
				users["config "+o.Name] = append(users["config "+o.Name], s.Name)
			}
		}
	}
	keys := make([]string, 0, len(users))
	for k := range users {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	look, _ := r.rt.(externalLooker)
	var out []event.Finding
	for _, k := range keys {
		kind, name, _ := strings.Cut(k, " ")
		services := users[k]
		sort.Strings(services)
		why := "it was made outside the project (by hand, or by another tool)"
		exists := true
		var labels map[string]string
		if look != nil {
			switch kind {
			case "network":
				exists, labels, _ = look.NetworkLabels(ctx, name)
			case "volume":
				info, err := look.VolumeInfo(ctx, name)
				exists, labels = err == nil && info.Found, info.Labels
			}
		}
		if owner := labels[model.LabelProject]; owner != "" && owner != p.Name {
			why = fmt.Sprintf("project %s's stack made it", owner)
		}
		ev := fmt.Sprintf("%s %s is declared external: true (used by %s), so no `up` creates it; it exists on this engine only because %s. On a fresh machine the stack fails: %s %q is declared external, but the engine has none.",
			kind, name, few(services), why, kind, name)
		if !exists {
			ev = fmt.Sprintf("%s %s is declared external: true (used by %s), so no `up` creates it, and this engine has none either: the stack cannot start anywhere until someone makes it.", kind, name, few(services))
		}
		if kind == "secret" || kind == "config" {
			ev = fmt.Sprintf("%s %s is declared external: true (used by %s): it must exist on the engine already (a swarm %s made on this machine), and a fresh machine has none.", kind, name, few(services), kind)
		}
		hint := fmt.Sprintf("let the project make it: drop `external: true` (keep `name: %s` if other stacks join it), or make the setup that creates it part of the project (e.g. `docker %s create %s` in its README or a setup script)", name, kind, name)
		out = append(out, event.Finding{Category: MachineLocal, Service: services[0], Evidence: ev, Hint: hint})
	}
	return out
}
