package model

import (
	"slices"
	"testing"
)

func TestParseVolumesFrom(t *testing.T) {
	for in, want := range map[string]struct {
		ref    VolumesFromRef
		engine string // with source "ID"
	}{
		"db":                  {VolumesFromRef{Service: "db"}, "ID"},
		"db:ro":               {VolumesFromRef{Service: "db", Mode: "ro"}, "ID:ro"},
		"container:legacy":    {VolumesFromRef{Container: "legacy"}, "ID"},
		"container:legacy:rw": {VolumesFromRef{Container: "legacy", Mode: "rw"}, "ID:rw"},
		"container":           {VolumesFromRef{Service: "container"}, "ID"}, // a service of that name
	} {
		got := ParseVolumesFrom(in)
		if got != want.ref {
			t.Errorf("%q: %+v, want %+v", in, got, want.ref)
		}
		if e := got.Engine("ID"); e != want.engine {
			t.Errorf("%q: engine form %q, want %q", in, e, want.engine)
		}
	}
}

func TestParseLink(t *testing.T) {
	for in, want := range map[string][2]string{"db": {"db", "db"}, "db:database": {"db", "database"}} {
		if s, a := ParseLink(in); s != want[0] || a != want[1] {
			t.Errorf("%q: %s, %s; want %s, %s", in, s, a, want[0], want[1])
		}
	}
}

// The container a reference means is the service's of the lowest name,
// one-off containers aside, whatever order the engine listed them in.
func TestServiceContainers(t *testing.T) {
	cs := []Container{
		{ID: "3", Name: "p-db-3", Service: "db"},
		{ID: "r", Name: "p-db-run-1a2b", Service: "db", OneOff: true},
		{ID: "a", Name: "p-api-1", Service: "api"},
		{ID: "1", Name: "p-db-1", Service: "db"},
		{ID: "2", Name: "p-db-2", Service: "db"},
	}
	var ids []string
	for _, c := range ServiceContainers(cs, "db") {
		ids = append(ids, c.ID)
	}
	if !slices.Equal(ids, []string{"1", "2", "3"}) {
		t.Errorf("db's containers: %v, want [1 2 3]", ids)
	}
	if got := ServiceContainers(cs, "web"); len(got) != 0 {
		t.Errorf("web has no container, got %v", got)
	}
}
