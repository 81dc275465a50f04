package engine

import (
	"reflect"
	"testing"

	"devstack/engine/model"
)

func TestDependsOnLabel(t *testing.T) {
	got := dependsOn("cache:service_started:true,db:service_healthy:false, old")
	want := map[string]model.Dependency{
		"cache": {Condition: model.ConditionStarted, Required: true, Restart: true},
		"db":    {Condition: model.ConditionHealthy, Required: true},
		"old":   {Condition: model.ConditionStarted, Required: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
	if got := dependsOn(""); len(got) != 0 {
		t.Fatalf("empty label: %+v", got)
	}
}
