package scratch

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"devstack/engine/event"
	"devstack/engine/model"
)

func TestRankFollowsTheEvidence(t *testing.T) {
	s := suspects{
		builds:       true,
		shellVars:    []string{"TOKEN"},
		envServices:  map[string]bool{"api": true},
		dropped:      map[string]bool{"api": true, "web": true},
		hidden:       map[string]bool{"web": true},
		devVolumes:   map[string]bool{"db": true},
		scratchOrder: []string{"worker", "web", "db", "api", "cache"},
		devOrder:     []string{"cache", "db", "api", "web", "worker"},
	}
	cases := []struct {
		f    Failure
		want []string
	}{
		// A failed build: only the cache and the shell can matter.
		{Failure{Phase: "build", Service: "api"}, []string{BuildCache, HostEnv}},
		{Failure{Phase: "load"}, []string{HostEnv}},
		// The image lacks what web's mount provided.
		{Failure{Phase: "ready", Service: "web"}, []string{BindMount, HostEnv, StartOrder, BuildCache, VolumeState}},
		{Failure{Phase: "ready", Service: "db"}, []string{VolumeState, HostEnv, StartOrder, BuildCache, BindMount}},
		{Failure{Phase: "ready", Service: "api"}, []string{HostEnv, BindMount, StartOrder, BuildCache, VolumeState}},
		// cache starts first in the dev order: the order cannot explain it.
		{Failure{Phase: "ready", Service: "cache"}, []string{HostEnv, BuildCache, BindMount, VolumeState}},
	}
	for _, c := range cases {
		if got := rank(&c.f, s); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %s: %v, want %v", c.f.Phase, c.f.Service, got, c.want)
		}
	}
	// A shell that changes nothing the stack is made of is no suspect.
	s.envServices = map[string]bool{}
	if got := rank(&Failure{Phase: "ready", Service: "db"}, s); strings.Contains(strings.Join(got, " "), HostEnv) {
		t.Errorf("host-env ranked: %v", got)
	}
}

func TestOrderSuspects(t *testing.T) {
	got := orderSuspects("web", []string{"worker", "web", "db", "api", "cache"}, []string{"cache", "db", "api", "web", "worker"})
	if want := []string{"cache", "db", "api"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// fakeBisect runs the bisection with a stack runner that fails as
// decide says, recording the ingredients of each run.
func fakeBisect(t *testing.T, decide func(in ingredients) *Failure) (*Report, []ingredients) {
	t.Helper()
	dev := devProject()
	base, _ := copyProject(dev)
	api, _ := base.Service("api")
	api.Environment = map[string]*string{"TOKEN": new(string)} // the shell set it in dev
	api.ConfigHash = model.Hash(*api)
	r := &rebuild{o: Options{}, id: "t", now: time.Now, sink: event.Discard, reuse: map[string]string{},
		report: &Report{Findings: []event.Finding{}}, dev: dev, base: base, shellVars: []string{"TOKEN"},
		devVolumes: map[string]string{"data": "shop_data"}}
	var seen []ingredients
	r.stackRunner = func(_ context.Context, n int, in ingredients) *stackRun {
		seen = append(seen, in)
		src := base
		if in.shellEnv {
			src = dev
		}
		st, err := NewStack(src, StackOptions{Name: "shop-scratch-t", ImageTag: "t", KeepBinds: in.binds, DevOrder: in.devOrder})
		if err != nil {
			t.Fatal(err)
		}
		run := &stackRun{result: RunResult{N: n, Restored: in.restored()}, stack: st, failure: decide(in)}
		if in.volumes {
			run.copies = []volumeCopy{{Key: "data", DevName: "shop_data", Entries: []string{"PG_VERSION", "base/"}}}
		}
		r.report.Runs = append(r.report.Runs, run.result)
		return run
	}
	first := r.stackRunner(context.Background(), 1, ingredients{})
	if first.failure == nil {
		r.report.Status = StatusPass
		return r.report, seen
	}
	r.report.Status = StatusFail
	findings, err := r.bisect(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	r.report.Findings = findings
	return r.report, seen
}

func TestBisectStopsAtTheFirstIngredientThatFixesIt(t *testing.T) {
	rep, seen := fakeBisect(t, func(in ingredients) *Failure {
		if in.volumes {
			return nil
		}
		return &Failure{Phase: "ready", Service: "db", Message: "db is unhealthy"}
	})
	if len(seen) != 2 || !seen[1].volumes {
		t.Fatalf("runs: %+v", seen)
	}
	if rep.Status != StatusFail || len(rep.Findings) != 1 || rep.Findings[0].Category != VolumeState || rep.Findings[0].Service != "db" {
		t.Fatalf("report: %+v", rep.Findings)
	}
	if ev := rep.Findings[0].Evidence; !strings.Contains(ev, "shop_data (mounted at /var/lib/postgresql/data in db, /data in api) holds 2 entries") {
		t.Errorf("evidence: %s", ev)
	}
}

func TestBisectFindsTwoHiddenDependencies(t *testing.T) {
	// api needs the shell's TOKEN; once it has it, cache (started after
	// it) needs data from the dev volume.
	rep, seen := fakeBisect(t, func(in ingredients) *Failure {
		switch {
		case !in.shellEnv:
			return &Failure{Phase: "ready", Service: "api", Message: "TOKEN is empty"}
		case !in.volumes:
			return &Failure{Phase: "check", Service: "cache", Check: "cache warm", Message: "no data"}
		}
		return nil
	})
	var cats []string
	for _, f := range rep.Findings {
		cats = append(cats, f.Category+"/"+f.Service)
	}
	if got := strings.Join(cats, " "); got != "host-env/api volume-state/cache" {
		t.Fatalf("findings %s", got)
	}
	if len(seen) > maxRuns {
		t.Fatalf("%d runs", len(seen))
	}
	for _, in := range seen[2:] {
		if !in.shellEnv {
			t.Fatalf("host-env was not kept once it moved the failure: %+v", seen)
		}
	}
}

func TestBisectGivesUpWithinTheBudget(t *testing.T) {
	rep, seen := fakeBisect(t, func(ingredients) *Failure {
		return &Failure{Phase: "ready", Service: "web", Message: "exited with code 1", Tail: []string{"panic: nil map"}}
	})
	if len(seen) > maxRuns {
		t.Fatalf("%d runs", len(seen))
	}
	if len(rep.Findings) != 1 || rep.Findings[0].Category != Unknown || !strings.Contains(rep.Findings[0].Evidence, "panic: nil map") {
		t.Fatalf("findings: %+v", rep.Findings)
	}
	if len(seen) != 6 {
		t.Errorf("%d runs, want every applicable ingredient tried once (6)", len(seen))
	}
}
