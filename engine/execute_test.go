package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"devstack/engine/plan"
)

func dag(deps ...[]int) *plan.Plan {
	pl := &plan.Plan{}
	for i, d := range deps {
		pl.Ops = append(pl.Ops, &plan.Op{ID: i + 1, Kind: plan.Start, Name: string(rune('a' + i)), Deps: d})
	}
	return pl
}

func TestExecuteRunsEachOpAfterItsDependencies(t *testing.T) {
	// 1 -> 2, 1 -> 3, {2,3} -> 4
	pl := dag(nil, []int{1}, []int{1}, []int{2, 3})
	var mu sync.Mutex
	done := map[int]bool{}
	err := execute(context.Background(), pl, 0, func(_ context.Context, o *plan.Op) error {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range o.Deps {
			if !done[d] {
				t.Errorf("op %d ran before its dependency %d", o.ID, d)
			}
		}
		done[o.ID] = true
		return nil
	})
	if err != nil || len(done) != 4 {
		t.Fatalf("err=%v done=%v", err, done)
	}
}

func TestExecuteSkipsWhatFollowsAFailureButRunsTheRest(t *testing.T) {
	// 1 fails; 2 follows 1; 3 follows 2; 4 is independent.
	pl := dag(nil, []int{1}, []int{2}, nil)
	var mu sync.Mutex
	var ran []string
	err := execute(context.Background(), pl, 0, func(_ context.Context, o *plan.Op) error {
		mu.Lock()
		ran = append(ran, o.Name)
		mu.Unlock()
		if o.ID == 1 {
			return errors.New("boom")
		}
		return nil
	})
	if err == nil || err.Error() != "boom" {
		t.Fatalf("err = %v", err)
	}
	if strings.Join(ran, "") != "ad" && strings.Join(ran, "") != "da" {
		t.Fatalf("ran %v, want a and d only", ran)
	}
}

func TestExecuteRespectsTheLimit(t *testing.T) {
	pl := dag(nil, nil, nil, nil, nil, nil)
	var mu sync.Mutex
	cur, peak := 0, 0
	release := make(chan struct{})
	started := make(chan struct{}, 6)
	go func() {
		// Let ops finish one by one once two are in flight.
		for i := 0; i < 6; i++ {
			<-started
			release <- struct{}{}
		}
	}()
	err := execute(context.Background(), pl, 2, func(_ context.Context, o *plan.Op) error {
		mu.Lock()
		cur++
		if cur > peak {
			peak = cur
		}
		mu.Unlock()
		started <- struct{}{}
		<-release
		mu.Lock()
		cur--
		mu.Unlock()
		return nil
	})
	if err != nil || peak > 2 {
		t.Fatalf("err=%v peak=%d, want at most 2 at once", err, peak)
	}
}

func TestExecuteStopsLaunchingWhenCancelled(t *testing.T) {
	pl := dag(nil, []int{1}, []int{2})
	ctx, cancel := context.WithCancel(context.Background())
	ran := 0
	err := execute(ctx, pl, 1, func(_ context.Context, o *plan.Op) error {
		ran++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || ran != 1 {
		t.Fatalf("err=%v ran=%d", err, ran)
	}
}
