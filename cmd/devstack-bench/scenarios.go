package main

import (
	"fmt"
	"strings"
)

// scenario measures one thing and returns its rows of the table.
type scenario struct {
	name string
	run  func(b *bench) ([]result, error)
}

// scenarios is the registration point. To add one, write
//
//	func benchX(b *bench) ([]result, error)
//
// in its own file and list it here. A scenario runs b.n times where that
// makes sense, alternates the tools run by run (so drift on a busy machine
// hits both alike), uses a distinct project name per tool, and registers the
// teardown of every project it starts with b.atCleanup before starting it.
var scenarios = []scenario{
	{"dag20", benchDag20},
	{"flat200", benchFlat200},
	{"sync", benchSync},
	{"dashboard", benchDashboard},
	{"build", benchBuild},
	{"snapshot", benchSnapshot},
}

func scenarioNames() []string {
	var names []string
	for _, s := range scenarios {
		names = append(names, s.name)
	}
	return names
}

// selectScenarios returns the scenarios named in the comma-separated list
// (all of them when it is empty), in registration order.
func selectScenarios(only string) ([]scenario, error) {
	if strings.TrimSpace(only) == "" {
		return scenarios, nil
	}
	want := map[string]bool{}
	for _, name := range strings.Split(only, ",") {
		if name = strings.TrimSpace(name); name != "" {
			want[name] = true
		}
	}
	var out []scenario
	for _, s := range scenarios {
		if want[s.name] {
			out = append(out, s)
			delete(want, s.name)
		}
	}
	for name := range want {
		return nil, fmt.Errorf("no scenario %q (there are: %s)", name, strings.Join(scenarioNames(), ", "))
	}
	return out, nil
}
