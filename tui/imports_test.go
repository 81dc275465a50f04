package tui

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsOnlyEventAndModel keeps the dashboard independent of the
// engine's machinery: of devstack it may use engine/event and
// engine/model (and its own packages), and never moby or compose-go,
// directly or through anything else.
func TestImportsOnlyEventAndModel(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "devstack/tui/...").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed only %v: the test cannot judge", deps)
	}
	allowed := map[string]bool{"devstack/engine/event": true, "devstack/engine/model": true}
	for _, d := range deps {
		switch {
		case strings.HasPrefix(d, "github.com/moby/"), strings.HasPrefix(d, "github.com/docker/"),
			strings.HasPrefix(d, "github.com/compose-spec/"),
			strings.HasPrefix(d, "k8s.io/"):
			t.Errorf("tui depends on %s", d)
		case strings.HasPrefix(d, "devstack/") && !strings.HasPrefix(d, "devstack/tui") && !allowed[d]:
			t.Errorf("tui depends on %s; only engine/event and engine/model are allowed", d)
		}
	}
}
