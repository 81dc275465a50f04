package scratch

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"devstack/engine/event"
	"devstack/engine/model"
)

func tarOf(t *testing.T, entries ...string) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range entries {
		h := &tar.Header{Name: name, Mode: 0o644, Typeflag: tar.TypeReg, Size: 2}
		if strings.HasSuffix(name, "/") {
			h.Typeflag, h.Size, h.Mode = tar.TypeDir, 0, 0o700
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("hi"))
		}
	}
	tw.Close()
	return &buf
}

func TestRebaseMovesAVolumeArchive(t *testing.T) {
	var out bytes.Buffer
	names, err := rebase(tarOf(t, "from/", "from/PG_VERSION", "from/base/", "from/base/1"), &out, "from")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"PG_VERSION", "base/", "base/1"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("names %v", names)
	}
	tr := tar.NewReader(&out)
	var got []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		got = append(got, h.Name)
	}
	// The root keeps its own entry: its owner and mode travel with it.
	if want := []string{"./", "PG_VERSION", "base/", "base/1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("archive %v", got)
	}
	for _, bad := range []string{"from/../../etc/passwd", "elsewhere/x", "fromage"} {
		if _, err := rebase(tarOf(t, "from/", bad), &bytes.Buffer{}, "from"); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestRecorderKeepsWhatFailedBuildsMade(t *testing.T) {
	rec := newRecorder(nil)
	step := func(svc, step, line string) {
		rec.Publish(event.BuildStep{Service: svc, Step: step, Line: line})
	}
	from := "Step 1/3 : FROM devstack-test/busybox:1"
	step("app", from, from)
	step("app", from, " ---> 1111111111aa") // the base image: never ours
	s2 := "Step 2/3 : ARG URL"
	step("app", s2, s2)
	step("app", s2, " ---> Using cache")
	step("app", s2, " ---> 2222222222bb") // the dev environment's layer
	s3 := "Step 3/3 : RUN wget $URL"
	step("app", s3, s3)
	step("app", s3, " ---> Running in 3333333333cc")
	step("app", s3, " ---> 4444444444dd")
	step("ok", from, " ---> 5555555555ee")
	step("ok", "Step 2/2 : RUN true", " ---> 6666666666ff")
	rec.Publish(event.Progress{Kind: event.KindImage, Service: "app", Name: "img", Action: event.Failed, Error: "boom"})
	if got := rec.failedBuildImages(); !reflect.DeepEqual(got, []string{"4444444444dd"}) {
		t.Fatalf("images to remove: %v", got)
	}
	f := rec.failure()
	if f.Phase != "build" || f.Service != "app" || f.Step != s3 || len(f.Tail) == 0 {
		t.Fatalf("failure %+v", f)
	}
}

func TestFailSplitsTheLogTailOff(t *testing.T) {
	rec := newRecorder(nil)
	rec.Publish(event.Progress{Kind: event.KindContainer, Service: "web", Action: event.Failed,
		Error: "unable to wait healthy x: service \"web\" exited: code 1; its last log lines:\n    cache is not there\n    bye"})
	run := &stackRun{}
	run.fail(context.Background(), rec, "start", errors.New("ignored"))
	if run.failure.Message != `unable to wait healthy x: service "web" exited: code 1` || !reflect.DeepEqual(run.failure.Tail, []string{"cache is not there", "bye"}) {
		t.Fatalf("%+v", run.failure)
	}
}

func TestJudge(t *testing.T) {
	svc := &model.Service{Name: "s"}
	always := &model.Service{Name: "s", Restart: "always"}
	cases := []struct {
		svc  *model.Service
		c    model.Container
		up   time.Duration
		want verdict
	}{
		{svc, model.Container{State: model.StateRunning}, 0, pending},    // just started: may yet crash
		{svc, model.Container{State: model.StateRunning}, settle, ready}, // stayed up
		{svc, model.Container{State: model.StateExited}, 0, ready},       // a job done
		{always, model.Container{State: model.StateExited}, 0, broken},   // would be restarted
		{svc, model.Container{State: model.StateExited, ExitCode: 1}, 0, broken},
		{svc, model.Container{State: model.StateRunning, Health: model.HealthStarting}, time.Hour, pending},
		{svc, model.Container{State: model.StateRunning, Health: model.HealthHealthy}, 0, ready},
		{svc, model.Container{State: model.StateRunning, Health: model.HealthUnhealthy}, 0, broken},
		{svc, model.Container{State: model.StateRunning, Restarts: 2}, time.Hour, broken},
		{svc, model.Container{State: model.StateRestarting}, 0, broken},
	}
	for i, c := range cases {
		if got, why := judge(c.svc, c.c, false, c.up); got != c.want {
			t.Errorf("case %d: %v (%s), want %v", i, got, why, c.want)
		}
	}
}

func TestListTar(t *testing.T) {
	got := listTar(tarOf(t, "app/", "app/start.sh", "app/lib/x.sh"), "app")
	if !got["start.sh"] || !got["lib/x.sh"] || !got["."] || len(got) != 3 {
		t.Fatalf("%v", got)
	}
}
