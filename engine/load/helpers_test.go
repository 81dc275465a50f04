package load

import (
	"context"
	"path/filepath"
	"testing"

	"devstack/engine/model"
)

// fixture returns the absolute path of testdata/load/<name>.
func fixture(t *testing.T, name string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "testdata", "load", name))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// mustLoad loads with an empty process environment unless the options
// give one, so that the developer's shell cannot change what tests see.
func mustLoad(t *testing.T, o Options) *model.Project {
	t.Helper()
	if o.Env == nil {
		o.Env = []string{}
	}
	p, err := Load(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func service(t *testing.T, p *model.Project, name string) *model.Service {
	t.Helper()
	s, ok := p.Service(name)
	if !ok {
		t.Fatalf("no service %q in %v", name, p.ServiceNames())
	}
	return s
}

func ptr[T any](v T) *T { return &v }
