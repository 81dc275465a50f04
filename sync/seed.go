package sync

import (
	"context"
	"fmt"

	"devstack/sync/manifest"
)

// Seed fills a container that is created but not yet started with the
// host's files, for the service's sync rules made from bind mounts
// (model.WatchRule.FromBind): a process that reads its sources when it
// starts must find them, as it would in the bind mount. It goes through
// the engine's archive API (an exec needs a running container), sends
// what differs from the target (nothing at all into a target that
// already matches) and keeps the container's record, so the live sync
// that follows the start has nothing left to send. o.Services and
// o.Transport are set here; a service without such rules is left alone.
func Seed(ctx context.Context, o Options, service string, c Container) error {
	o.Services = []string{service}
	o.Transport = TransportArchive
	s, err := New(o)
	if err != nil {
		return err
	}
	sv := s.services[0]
	var bound []*rule
	for _, r := range sv.syncRules {
		if r.w.FromBind {
			bound = append(bound, r)
		}
	}
	if len(bound) == 0 {
		return nil
	}
	sv.syncRules = bound
	rp := newReplica(sv, c)
	defer rp.close()
	rp.noAgent = true
	start := s.o.Clock.Now()
	res := rp.resync(ctx)
	sv.publish("initial", start, nil, []result{res}, nil)
	if res.err == nil && len(res.conflicts) > 0 {
		res.err = &manifest.SymlinkError{Paths: res.conflicts}
	}
	if res.err != nil {
		return fmt.Errorf("unable to fill %s with this machine's files before it starts: %w", c.Name, res.err)
	}
	return nil
}
