package engine

import (
	"testing"

	"devstack/engine/model"
)

func TestSummariseCountsStatesPerProjectAsCompose(t *testing.T) {
	c := func(project, state, files string) model.Container {
		return model.Container{State: state, Labels: map[string]string{model.LabelProject: project, model.LabelConfigFiles: files}}
	}
	got := Summarise([]model.Container{
		c("b", "running", "/b/compose.yaml"), c("a", "running", "/a/compose.yaml,/a/override.yaml"),
		c("b", "exited", "/b/compose.yaml"), c("b", "running", "/b/compose.yaml"), c("", "running", ""),
	})
	want := []model.ProjectSummary{
		{Name: "a", Status: "running(1)", ConfigFiles: "/a/compose.yaml,/a/override.yaml"},
		{Name: "b", Status: "exited(1), running(2)", ConfigFiles: "/b/compose.yaml"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("project %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}
