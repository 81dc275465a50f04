package scratch

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"devstack/engine/event"
)

// findings turns what the re-runs showed into findings: one per
// ingredient that fixed a failure, and an "unknown" one when the stack
// still fails with everything tried.
func (r *rebuild) findings(kept []found, remaining *Failure, first *stackRun) []event.Finding {
	out := []event.Finding{}
	for _, k := range kept {
		out = append(out, r.finding(k, first))
	}
	if remaining != nil {
		out = append(out, event.Finding{
			Category: Unknown,
			Service:  remaining.Service,
			Evidence: evidenceOf(remaining),
			Hint: "putting back the build cache, the dev volumes, the bind mounts, the shell's variables and the dev start order " +
				"(those that apply) did not make it pass: the failure is the project's own — reproduce it with `devstack scratch --keep` and look at the kept stack",
		})
	}
	return out
}

func (r *rebuild) finding(k found, first *stackRun) event.Finding {
	f := k.before
	switch k.category {
	case BuildCache:
		return event.Finding{Category: BuildCache, Service: f.Service,
			Evidence: fmt.Sprintf("without the build cache the build fails; with the dev environment's cache it builds (run %d).\n%s", k.run.result.N, evidenceOf(f)),
			Hint: "the image builds only from a cached layer: what that step fetches no longer exists where it looks. Pin it to a version " +
				"that exists, vendor it into the build context, or fix the step; `devstack build --no-cache " + f.Service + "` shows it"}
	case HostEnv:
		return r.hostEnvFinding(k)
	case BindMount:
		return r.bindFinding(k, first)
	case VolumeState:
		return r.volumeFinding(k)
	case StartOrder:
		return r.orderFinding(k, first)
	case ImageDrift:
		return r.driftFinding(k)
	}
	return event.Finding{Category: Unknown, Service: f.Service, Evidence: evidenceOf(f)}
}

func (r *rebuild) hostEnvFinding(k found) event.Finding {
	f := k.before
	vars := r.shellVars
	svc := f.Service
	if svc == "" {
		// A load failure names no service: name the first one the
		// variables change.
		for _, s := range r.dev.Services {
			if b := r.base; b == nil {
				break
			} else if bs, ok := b.Service(s.Name); !ok || bs.ConfigHash != s.ConfigHash {
				svc = s.Name
				break
			}
		}
	}
	names := "variables"
	if len(vars) > 0 {
		names = strings.Join(vars, ", ")
	}
	ev := fmt.Sprintf("the compose file takes %s from the shell that runs devstack (not from .env, an env_file or the file itself); "+
		"with the shell's environment it passes (run %d).\nwithout: %s", names, k.run.result.N, evidenceOf(f))
	hint := "put the variable in the project's .env (commit a .env.example if it is secret) or give it a default: ${NAME:-value}"
	if len(vars) > 0 {
		hint = fmt.Sprintf("put %s in the project's .env (commit a .env.example if it is secret) or give it a default: ${%s:-value}", vars[0]+"=...", vars[0])
	}
	return event.Finding{Category: HostEnv, Service: svc, Evidence: ev, Hint: hint}
}

func (r *rebuild) bindFinding(k found, first *stackRun) event.Finding {
	f := k.before
	svc := f.Service
	if _, ok := first.gaps[svc]; !ok {
		// The failing service had no bind mount: name one that had.
		for _, s := range sortedKeys(first.gaps) {
			svc = s
			break
		}
	}
	var lines []string
	for _, g := range first.gaps[svc] {
		src := r.relative(g.Mount.Source)
		switch {
		case g.Err != "":
			lines = append(lines, fmt.Sprintf("%s is mounted over %s in dev (%s)", src, g.Mount.Target, g.Err))
		case len(g.Missing) == 0:
			lines = append(lines, fmt.Sprintf("%s is mounted over %s in dev; the image has all %d of its files there (their content may differ)", src, g.Mount.Target, g.Listed))
		default:
			lines = append(lines, fmt.Sprintf("%s is mounted over %s in dev; the image lacks %d of its %d files there: %s",
				src, g.Mount.Target, len(g.Missing), g.Listed, few(g.Missing)))
		}
	}
	lines = append(lines, fmt.Sprintf("with the bind mounts (read-only) it passes (run %d); without: %s", k.run.result.N, evidenceOf(f)))
	return event.Finding{Category: BindMount, Service: svc, Evidence: strings.Join(lines, "\n"),
		Hint: "COPY those files into the image in its Dockerfile (the mount should only override them while developing); " +
			"if the mount is meant to stay, list its path in x-devstack.scratch.keep_mounts"}
}

func (r *rebuild) volumeFinding(k found) event.Finding {
	f := k.before
	svc := f.Service
	var lines []string
	for _, c := range k.run.copies {
		where := mountsOf(k.run.stack.Project, c.Key)
		if svc == "" {
			for _, s := range sortedKeys(where) {
				svc = s
				break
			}
		}
		// The failing service's mount first, then the others.
		var at []string
		if target, ok := where[svc]; ok {
			at = append(at, target+" in "+svc)
		}
		for _, s := range sortedKeys(where) {
			if s != svc {
				at = append(at, where[s]+" in "+s)
			}
		}
		lines = append(lines, fmt.Sprintf("the dev volume %s (mounted at %s) holds %d entries a fresh volume starts without, e.g. %s",
			c.DevName, strings.Join(at, ", "), len(c.Entries), few(c.Entries)))
	}
	lines = append(lines, fmt.Sprintf("with a copy of the dev volumes it passes (run %d); with fresh ones: %s", k.run.result.N, evidenceOf(f)))
	return event.Finding{Category: VolumeState, Service: svc, Evidence: strings.Join(lines, "\n"),
		Hint: "the stack needs data someone put in the volume by hand: create it from the project — a seed or migration service " +
			"that others depend on with condition: service_completed_successfully, or an entrypoint that initialises an empty volume"}
}

func (r *rebuild) orderFinding(k found, first *stackRun) event.Finding {
	f := k.before
	devOrder := k.run.stack.Order
	scratchOrder := first.stackOrder()
	need := orderSuspects(f.Service, scratchOrder, devOrder)
	ev := fmt.Sprintf("%s fails when it starts before %s (order %s); in the dev order (%s) it passes (run %d).\n%s",
		f.Service, strings.Join(need, ", "), strings.Join(scratchOrder, ", "), strings.Join(devOrder, ", "), k.run.result.N, evidenceOf(f))
	hint := fmt.Sprintf("declare what %s needs at start-up: depends_on: {%s: {condition: service_started}} (service_healthy when it has a healthcheck), or make %s wait and retry",
		f.Service, strings.Join(need, ", "), f.Service)
	if len(need) > 1 {
		hint = fmt.Sprintf("declare which of %s %s needs at start-up in its depends_on (condition service_started, or service_healthy), or make it wait and retry",
			strings.Join(need, ", "), f.Service)
	}
	return event.Finding{Category: StartOrder, Service: f.Service, Evidence: ev, Hint: hint}
}

// evidenceOf describes a failure with its step and last lines.
func evidenceOf(f *Failure) string {
	if f == nil {
		return ""
	}
	s := f.Summary()
	if len(f.Tail) > 0 {
		tail := f.Tail
		if len(tail) > 5 {
			tail = tail[len(tail)-5:]
		}
		s += "\nlast output:\n  " + strings.Join(tail, "\n  ")
	}
	return s
}

// few lists up to five names.
func few(names []string) string {
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	if len(sorted) > 5 {
		return strings.Join(sorted[:5], ", ") + fmt.Sprintf(" and %d more", len(sorted)-5)
	}
	return strings.Join(sorted, ", ")
}

// relative shows a host path relative to the project directory.
func (r *rebuild) relative(p string) string {
	if rel, err := filepath.Rel(r.dev.WorkingDir, p); err == nil && !strings.HasPrefix(rel, "..") {
		return "./" + filepath.ToSlash(rel)
	}
	return p
}
