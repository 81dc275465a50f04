package main

import (
	"slices"
	"testing"
	"time"

	"devstack/engine/event"
	"devstack/engine/model"
)

func TestExitPolicy(t *testing.T) {
	type exit struct {
		service string
		code    int
	}
	for _, tc := range []struct {
		name    string
		cascade cascade
		from    string
		exits   []exit
		aborts  []bool
		wantErr int
	}{
		{"no flag, all clean", cascadeIgnore, "", []exit{{"a", 0}, {"b", 0}}, []bool{false, false}, 0},
		{"no flag, first failure wins", cascadeIgnore, "", []exit{{"a", 0}, {"b", 2}, {"c", 5}}, []bool{false, false, false}, 2},
		{"abort on exit: first exit's code", cascadeExit, "", []exit{{"a", 4}, {"b", 143}}, []bool{true, false}, 4},
		{"abort on exit: a clean first exit", cascadeExit, "", []exit{{"a", 0}, {"b", 137}}, []bool{true, false}, 0},
		{"abort on failure skips clean exits", cascadeFailure, "", []exit{{"a", 0}, {"b", 3}, {"c", 1}}, []bool{false, true, false}, 3},
		{"exit-code-from the first to exit", cascadeExit, "tests", []exit{{"tests", 1}, {"db", 0}}, []bool{true, false}, 1},
		{"exit-code-from stopped by the abort", cascadeExit, "tests", []exit{{"db", 0}, {"tests", 143}}, []bool{true, false}, 143},
		{"exit-code-from, first of its replicas", cascadeExit, "tests", []exit{{"tests", 0}, {"tests", 9}}, []bool{true, false}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &exitPolicy{cascade: tc.cascade, from: tc.from}
			for i, e := range tc.exits {
				if got := p.stopped(e.service, e.code); got != tc.aborts[i] {
					t.Errorf("exit %d (%s %d): abort=%v, want %v", i, e.service, e.code, got, tc.aborts[i])
				}
			}
			if got := p.exitCode(); got != tc.wantErr {
				t.Errorf("exit code %d, want %d", got, tc.wantErr)
			}
		})
	}
}

func TestAttachTargets(t *testing.T) {
	off := false
	p := &model.Project{Services: []model.Service{{Name: "app"}, {Name: "db", Attach: &off}, {Name: "tests"}, {Name: "web"}}}
	for _, tc := range []struct {
		name                    string
		named, attach, noAttach []string
		from                    string
		want                    []string
		wantErr                 bool
	}{
		{name: "all but attach: false", want: []string{"app", "tests", "web"}},
		{name: "named", named: []string{"web", "db"}, want: []string{"db", "web"}},
		{name: "--attach replaces", named: []string{"web"}, attach: []string{"tests"}, want: []string{"tests"}},
		{name: "--no-attach removes", noAttach: []string{"web"}, want: []string{"app", "tests"}},
		{name: "exit-code-from is always attached", attach: []string{"app"}, from: "db", want: []string{"app", "db"}},
		{name: "unknown service", attach: []string{"nope"}, wantErr: true},
		{name: "exit-code-from not attached", noAttach: []string{"tests"}, from: "tests", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := attachTargets(p, tc.named, tc.attach, tc.noAttach, tc.from)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, wantErr %v", err, tc.wantErr)
			}
			if !tc.wantErr && !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSecondsOrDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"30": 30 * time.Second, "2m": 2 * time.Minute, "0": 0, "1m30s": 90 * time.Second} {
		var d secondsOrDuration
		if err := d.Set(in); err != nil || time.Duration(d) != want {
			t.Errorf("%q: %v, %v; want %v", in, time.Duration(d), err, want)
		}
	}
	for _, in := range []string{"soon", "-5", "-1s", ""} {
		var d secondsOrDuration
		if err := d.Set(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestQuietPullDropsOnlyPullProgress(t *testing.T) {
	var got []event.Event
	q := pullEvents{next: event.Func(func(e event.Event) { got = append(got, e) })}
	q.Publish(event.Progress{Kind: event.KindImage, Action: event.Pulling, Name: "busybox"})
	q.Publish(event.Progress{Kind: event.KindContainer, Action: event.Started, Name: "web-1"})
	if len(got) != 1 || got[0].(event.Progress).Name != "web-1" {
		t.Fatalf("got %v, want only the container's event", got)
	}
}
