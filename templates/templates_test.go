package templates

import (
	"io/fs"
	"strings"
	"testing"
)

// Each template's package-manager step keeps its download cache in a
// BuildKit cache mount, so a rebuild after a dependency change does not
// fetch everything again (and the cache stays out of the image).
func TestPackageManagersUseCacheMounts(t *testing.T) {
	steps := map[string]string{"go": "go mod download", "python": "pip install", "node": "npm install"}
	for name, step := range steps {
		tpl, ok := Get(name)
		if !ok {
			t.Fatalf("no template %s", name)
		}
		data, err := fs.ReadFile(tpl.Files, "Dockerfile")
		if err != nil {
			t.Fatal(err)
		}
		// Instructions as the builder reads them: continuations joined.
		joined := strings.ReplaceAll(string(data), "\\\n", " ")
		found := false
		for _, line := range strings.Split(joined, "\n") {
			if strings.HasPrefix(line, "RUN ") && strings.Contains(line, step) {
				found = true
				if !strings.Contains(line, "--mount=type=cache,target=") {
					t.Errorf("%s: %q runs without a cache mount", name, line)
				}
			}
		}
		if !found {
			t.Errorf("%s: no RUN step with %q", name, step)
		}
	}
}
