package scratch

import (
	"reflect"
	"testing"

	"devstack/engine/event"
)

// BuildKit runs steps in parallel: the failure is the failed step's, even
// when another step's output comes after it.
func TestRecorderNamesTheFailedBuildKitStep(t *testing.T) {
	rec := newRecorder(nil)
	pub := func(e event.BuildStep) { e.Service = "app"; rec.Publish(e) }
	pub(event.BuildStep{Step: "[deps 2/2] RUN go mod download", Status: event.StepStarted})
	pub(event.BuildStep{Step: "[build 3/4] RUN go build ./...", Status: event.StepStarted})
	pub(event.BuildStep{Step: "[build 3/4] RUN go build ./...", Line: "main.go:3: undefined: cached"})
	pub(event.BuildStep{Step: "[build 3/4] RUN go build ./...", Status: event.StepFailed, Error: "exit code: 1",
		Tail: []string{"main.go:3: undefined: cached"}})
	pub(event.BuildStep{Step: "[deps 2/2] RUN go mod download", Line: "go: downloading example.com/x"})
	pub(event.BuildStep{Step: "[deps 2/2] RUN go mod download", Status: event.StepDone})
	rec.Publish(event.Progress{Kind: event.KindImage, Service: "app", Name: "img", Action: event.Failed, Error: "boom"})
	f := rec.failure()
	if f.Phase != "build" || f.Step != "[build 3/4] RUN go build ./..." || !reflect.DeepEqual(f.Tail, []string{"main.go:3: undefined: cached"}) {
		t.Fatalf("failure %+v", f)
	}
	if got := rec.failedBuildImages(); len(got) != 0 {
		t.Errorf("BuildKit leaves no intermediate images, yet: %v", got)
	}
}
