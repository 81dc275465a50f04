package main

import (
	"slices"
	"testing"

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
