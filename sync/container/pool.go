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
// batches); the others start when a batch first needs them.
type Pool struct {
	api  API
	id   string
	size int

	mu     sync.Mutex // one Apply or List at a time
	agents []*Agent   // agents[0] always set; guarded by mu
}

// StartPool starts the first exec (see StartAgent for its errors).
func StartPool(ctx context.Context, api API, id string, size int) (*Pool, error) {
	a, err := StartAgent(ctx, api, id)
	if err != nil {
		return nil, err
	}
	return &Pool{api: api, id: id, size: max(size, 1), agents: []*Agent{a}}, nil
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
	p.mu.Lock()
	defer p.mu.Unlock()
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
			errs[i] = a.Apply(ctx, Batch{Parts: shares[i]})
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// grow returns n live execs, starting missing ones; fewer when they
// cannot start (the first one is enough to make progress).
func (p *Pool) grow(ctx context.Context, n int) []*Agent {
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
		started := make([]*Agent, missing)
		var wg sync.WaitGroup
		for i := range started {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if a, err := StartAgent(ctx, p.api, p.id); err == nil {
					started[i] = a
				}
			}()
		}
		wg.Wait()
		for _, a := range started {
			if a != nil {
				p.agents = append(p.agents, a)
			}
		}
	}
	return p.agents[:min(n, len(p.agents))]
}
