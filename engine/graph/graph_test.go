package graph

import (
	"errors"
	"reflect"
	"testing"

	"devstack/engine/model"
)

func project(edges map[string][]string) *model.Project {
	p := &model.Project{Name: "t"}
	for name, deps := range edges {
		s := model.Service{Name: name, DependsOn: map[string]model.Dependency{}}
		for _, d := range deps {
			s.DependsOn[d] = model.Dependency{Condition: model.ConditionStarted, Required: true}
		}
		p.Services = append(p.Services, s)
	}
	return p
}

func TestOrderPutsDependenciesFirst(t *testing.T) {
	g, err := New(project(map[string][]string{
		"web": {"api"}, "api": {"db", "cache"}, "db": nil, "cache": nil, "worker": {"cache"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := g.Order()
	want := []string{"cache", "db", "api", "web", "worker"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Order() = %v, want %v", got, want)
	}
	if d := g.Dependents("cache"); !reflect.DeepEqual(d, []string{"api", "worker"}) {
		t.Fatalf("Dependents(cache) = %v", d)
	}
	if c := g.Closure([]string{"web"}); !reflect.DeepEqual(c, []string{"api", "cache", "db", "web"}) {
		t.Fatalf("Closure(web) = %v", c)
	}
}

func TestCycleIsReportedWithItsPath(t *testing.T) {
	_, err := New(project(map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": nil}))
	var ce *CycleError
	if !errors.As(err, &ce) {
		t.Fatalf("want a CycleError, got %v", err)
	}
	if want := "dependency cycle between services: a -> b -> c -> a (break it by removing one depends_on entry)"; err.Error() != want {
		t.Fatalf("error = %q, want %q", err, want)
	}
}

func TestSelfDependencyIsACycle(t *testing.T) {
	_, err := New(project(map[string][]string{"a": {"a"}}))
	var ce *CycleError
	if !errors.As(err, &ce) || !reflect.DeepEqual(ce.Path, []string{"a", "a"}) {
		t.Fatalf("got %v", err)
	}
}

func TestMissingDependency(t *testing.T) {
	p := project(map[string][]string{"web": {"db"}})
	_, err := New(p)
	var me *MissingError
	if !errors.As(err, &me) || me.Service != "web" || me.Dependency != "db" {
		t.Fatalf("got %v", err)
	}
	// An optional dependency on a missing service is dropped, not an error.
	p.Services[0].DependsOn["db"] = model.Dependency{Condition: model.ConditionStarted, Required: false}
	g, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Dependencies("web")) != 0 {
		t.Fatalf("optional missing dependency kept: %v", g.Dependencies("web"))
	}
}

func TestNewDoesNotMutateTheProject(t *testing.T) {
	p := project(map[string][]string{"web": {"db"}, "db": nil})
	before := len(p.Services[0].DependsOn) + len(p.Services[1].DependsOn)
	if _, err := New(p); err != nil {
		t.Fatal(err)
	}
	after := len(p.Services[0].DependsOn) + len(p.Services[1].DependsOn)
	if before != after {
		t.Fatal("New changed the project's depends_on")
	}
}
