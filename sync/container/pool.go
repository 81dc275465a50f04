package container

import (
	"context"
	"errors"
	"io"
	"sync"

	"devstack/sync/manifest"
)

// Pool is the exec transport with up to Size execs in the container: a
// batch in several parts is extracted by several tar processes at once.
// The first exec does everything else (deletions, listings, one-part
// batches); the others start in the background, ready for the first big
// batch.
type Pool struct {
	api  API
	id   string
	user string // who the execs run as
	size int

	warm  chan struct{} // closed once the background execs started
	extra []*Agent      // the background execs; written before warm is closed

	mu     sync.Mutex // one Apply or List at a time
	agents []*Agent   // agents[0] always set; guarded by mu
	merged bool       // extra joined agents; guarded by mu
}

// StartPool starts the first exec (see StartAgent for its errors) and the
// others in the background.
func StartPool(ctx context.Context, api API, id string, size int) (*Pool, error) {
	return StartPoolAs(ctx, api, id, size, rootUser)
}

// StartPoolAs is StartPool with every exec running as user ("uid:gid").
func StartPoolAs(ctx context.Context, api API, id string, size int, user string) (*Pool, error) {
	a, err := StartAgentAs(ctx, api, id, user)
	if err != nil {
		return nil, err
	}
	p := &Pool{api: api, id: id, user: user, size: max(size, 1), agents: []*Agent{a}, warm: make(chan struct{})}
	go func() {
		defer close(p.warm)
		p.extra = p.start(context.WithoutCancel(ctx), p.size-1)
	}()
	return p, nil
}

// start starts n execs at once; those that fail are left out.
func (p *Pool) start(ctx context.Context, n int) []*Agent {
	started := make([]*Agent, n)
	var wg sync.WaitGroup
	for i := range started {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if a, err := StartAgentAs(ctx, p.api, p.id, p.user); err == nil {
				started[i] = a
			}
		}()
	}
	wg.Wait()
	var out []*Agent
	for _, a := range started {
		if a != nil {
			out = append(out, a)
		}
	}
	return out
}

// Kind names the transport.
func (p *Pool) Kind() string { return "exec" }

// Alive reports whether the first exec still runs and is in step.
func (p *Pool) Alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.agents[0].Alive()
}

// Close ends every exec.
func (p *Pool) Close() {
	<-p.warm
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mergeLocked()
	var wg sync.WaitGroup
	for _, a := range p.agents {
		wg.Add(1)
		go func() { defer wg.Done(); a.Close() }()
	}
	wg.Wait()
}

// List lists dir through the first exec.
func (p *Pool) List(ctx context.Context, dir string) (manifest.Manifest, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.agents[0].List(ctx, dir)
}

// Digest digests files through the first exec.
func (p *Pool) Digest(ctx context.Context, paths []string) (map[string]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.agents[0].Digest(ctx, paths)
}

// Apply deletes through the first exec, then spreads the parts over the
// execs, each extracting its share in turn.
func (p *Pool) Apply(ctx context.Context, b Batch) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(b.Parts) <= 1 {
		return p.agents[0].Apply(ctx, b)
	}
	if len(b.Delete) > 0 {
		if err := p.agents[0].Apply(ctx, Batch{Delete: b.Delete}); err != nil {
			return err
		}
	}
	agents := p.grow(ctx, min(len(b.Parts), p.size))
	shares := make([][]func(io.Writer) error, len(agents))
	for i, part := range b.Parts {
		shares[i%len(agents)] = append(shares[i%len(agents)], part)
	}
	errs := make([]error, len(agents))
	var wg sync.WaitGroup
	for i, a := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = a.Apply(ctx, Batch{Parts: shares[i], Dirs: b.Dirs, RootOwned: b.RootOwned, Compress: b.Compress})
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// mergeLocked adds the background execs once they are there.
func (p *Pool) mergeLocked() {
	if !p.merged {
		p.agents = append(p.agents, p.extra...)
		p.merged = true
	}
}

// grow returns n live execs, starting missing ones; fewer when they
// cannot start (the first one is enough to make progress).
func (p *Pool) grow(ctx context.Context, n int) []*Agent {
	<-p.warm
	p.mergeLocked()
	live := p.agents[:1]
	for _, a := range p.agents[1:] {
		if a.Alive() {
			live = append(live, a)
		} else {
			a.Close()
		}
	}
	p.agents = live
	if missing := n - len(p.agents); missing > 0 {
		p.agents = append(p.agents, p.start(ctx, missing)...)
	}
	return p.agents[:min(n, len(p.agents))]
}
