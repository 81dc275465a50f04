package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// TestImportArrows keeps ARCHITECTURE.md true: data flows one way, and the
// heavy libraries stay inside the one package that adapts each of them.
func TestImportArrows(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "devstack/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	type pkg struct {
		ImportPath string
		Imports    []string
		Deps       []string
	}
	rules := []struct {
		from   string // package path prefix the rule applies to
		banned string // import path prefix it must not depend on
		direct bool   // only direct imports (Deps otherwise)
	}{
		{"devstack/engine", "devstack/cmd", false},
		{"devstack/engine", "devstack/tui", false},
		{"devstack/engine", "devstack/sync", false},
		{"devstack/tui", "github.com/moby/", false},
		{"devstack/tui", "github.com/compose-spec/", false},
		{"devstack/tui", "devstack/cmd", false},
		{"devstack/sync", "devstack/engine/docker", false},
		{"devstack/sync", "devstack/engine/load", false},
		{"devstack/sync", "github.com/compose-spec/", false},
		{"devstack/engine/model", "devstack/", true},
		{"devstack/engine/event", "devstack/", true},
		{"devstack/engine/state", "devstack/", true},
		{"devstack/engine/plan", "github.com/moby/", false},
		{"devstack/engine/plan", "github.com/compose-spec/", false},
	}
	// Only these may import compose-go and moby directly.
	owners := map[string]string{
		"github.com/compose-spec/compose-go": "devstack/engine/load",
		"github.com/moby/moby":               "devstack/engine/docker",
		"github.com/moby/buildkit":           "devstack/engine/docker", // its session libraries: engine/docker/buildkit
	}
	seen := 0
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		for _, r := range rules {
			if !strings.HasPrefix(p.ImportPath, r.from) {
				continue
			}
			list := p.Deps
			if r.direct {
				list = p.Imports
			}
			for _, d := range list {
				if strings.HasPrefix(d, r.banned) && !strings.HasPrefix(d, "devstack/engine/enginetest") {
					t.Errorf("%s imports %s: the arrow points the wrong way (see ARCHITECTURE.md)", p.ImportPath, d)
				}
			}
		}
		for _, imp := range p.Imports {
			for lib, owner := range owners {
				if strings.HasPrefix(imp, lib) && !strings.HasPrefix(p.ImportPath, owner) && !strings.HasPrefix(p.ImportPath, "devstack/engine/enginetest") {
					t.Errorf("%s imports %s directly; only %s may", p.ImportPath, imp, owner)
				}
			}
		}
	}
	if seen < 5 {
		t.Fatalf("go list saw only %d packages", seen)
	}
}
