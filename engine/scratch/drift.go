package scratch

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"devstack/engine/event"
	"devstack/engine/model"
)

// tagResolver is what the engine runtime offers to resolve a tag in its
// registry (engine/docker does); a runtime without it runs the dev tags.
type tagResolver interface {
	TagDigests(ctx context.Context, ref string) (model.TagDigests, error)
}

// resolveTags asks the registry what each pulled image's tag is now, as a
// fresh machine would pull it. Images the project builds are its own; an
// image whose registry cannot be asked (a local-only tag, no network)
// runs as the dev environment has it.
func (r *rebuild) resolveTags(ctx context.Context) {
	res, ok := r.rt.(tagResolver)
	if !ok {
		return
	}
	built := map[string]bool{}
	for _, s := range r.dev.Services {
		if s.Build != nil {
			built[s.Image] = true
		}
	}
	byRef := map[string][]string{}
	for _, s := range r.dev.Services {
		if s.Build == nil && s.Image != "" && s.Replicas > 0 && !built[s.Image] {
			byRef[s.Image] = append(byRef[s.Image], s.Name)
		}
	}
	r.digests = map[string]model.TagDigests{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for ref, services := range byRef {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			d, err := res.TagDigests(cctx, ref)
			if err != nil || d.Registry == "" {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, s := range services {
				r.digests[s] = d
			}
			if d.Drifted() {
				r.report.Drift = append(r.report.Drift, d)
			}
		}()
	}
	wg.Wait()
	sort.Slice(r.report.Drift, func(i, j int) bool { return r.report.Drift[i].Ref < r.report.Drift[j].Ref })
	for _, d := range r.report.Drift {
		r.record("image", d.Pinned)
	}
}

// pinned maps services to the references they run: the registry's image
// now, unless the dev images are put back.
func (r *rebuild) pinned(devImages bool) map[string]string {
	if devImages || len(r.digests) == 0 {
		return nil
	}
	out := map[string]string{}
	for s, d := range r.digests {
		out[s] = d.Pinned
	}
	return out
}

// removePulled removes the registry's images the rebuild pulled because
// they differ from the dev ones (the dev tags never pointed at them).
func (r *rebuild) removePulled(ctx context.Context) {
	if r.o.Keep {
		return
	}
	var refs []string
	for _, d := range r.report.Drift {
		refs = append(refs, d.Pinned)
	}
	if errs := removeImages(context.WithoutCancel(ctx), r.rt, refs); len(errs) > 0 {
		r.warn(fmt.Sprintf("the images pulled for the scratch rebuild were not all removed: %v", errs))
	}
}

// driftedServices are the services whose image drifted.
func (r *rebuild) driftedServices() map[string]bool {
	out := map[string]bool{}
	for s, d := range r.digests {
		if d.Drifted() {
			out[s] = true
		}
	}
	return out
}

func (r *rebuild) driftFinding(k found) event.Finding {
	f := k.before
	drifted := r.driftedServices()
	svc := f.Service
	if !drifted[svc] {
		var names []string
		for s := range drifted {
			names = append(names, s)
		}
		sort.Strings(names)
		if len(names) > 0 {
			svc = names[0]
		}
	}
	d := r.digests[svc]
	ev := fmt.Sprintf("%s runs %s: the registry now resolves it to %s, the dev environment runs %s; with the dev image it passes (run %d).\n%s",
		svc, d.Ref, d.Registry, d.DevDigest(), k.run.result.N, evidenceOf(f))
	repo, _, _ := strings.Cut(d.Pinned, "@")
	hint := fmt.Sprintf("a fresh machine pulls the new image: pin the one that works (image: %s@%s) until the stack is fixed for the new one", repo, d.DevDigest())
	if !strings.HasPrefix(d.DevDigest(), "sha256:") || len(d.Local) == 0 {
		hint = "a fresh machine pulls the new image: fix the stack for it, or pin a digest that works"
	}
	return event.Finding{Category: ImageDrift, Service: svc, Evidence: ev, Hint: hint}
}
