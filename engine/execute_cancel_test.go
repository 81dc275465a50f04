package engine

import (
	"context"
	"errors"
	"sync"
	"testing"

	"devstack/engine/plan"
)

// An interrupted run must say so: a plan cut short by its context is not
// a plan carried out, even when the one operation in flight gave up with
// the context's own error and everything after it was skipped. (up -d and
// down once exited 0 after Ctrl-C, with the stack half made or half gone.)
func TestExecuteCutShortByItsContextFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		deps [][]int
	}{
		{"chain", [][]int{nil, {1}, {2}}},            // 1 -> 2 -> 3, cut in 1
		{"one op", [][]int{nil}},                     // the only op, cut
		{"fan-out", [][]int{nil, {1}, {1}, {2, 3}}},  // cut in 1
		{"independent", [][]int{nil, nil, {1}, {2}}}, // both roots cut
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var mu sync.Mutex
			ran := map[int]bool{}
			err := execute(ctx, dag(tc.deps...), 0, func(ctx context.Context, o *plan.Op) error {
				mu.Lock()
				ran[o.ID] = true
				mu.Unlock()
				cancel() // Ctrl-C while this op waits on the engine
				<-ctx.Done()
				return ctx.Err()
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("execute cut short returned %v, want context.Canceled", err)
			}
			for _, o := range dag(tc.deps...).Ops {
				if len(o.Deps) > 0 && ran[o.ID] {
					t.Errorf("op %d ran after the context was cancelled", o.ID)
				}
			}
		})
	}
}

// Work that was finished when the context was cancelled is not a failure:
// the plan was carried out.
func TestExecuteCancelledAfterTheLastOpSucceeds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := execute(ctx, dag(nil, []int{1}), 0, func(_ context.Context, o *plan.Op) error {
		if o.ID == 2 {
			cancel() // interrupted as the last op returns: it did its work
		}
		return nil
	})
	if err != nil {
		t.Fatalf("execute whose every op succeeded returned %v", err)
	}
}
