package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

func TestHelpGroupsComposeCommandsApart(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, strings.NewReader(""), &out, io.Discard); code != 0 {
		t.Fatalf("--help exited %d", code)
	}
	help := out.String()
	compose, own, ok := strings.Cut(help, "devstack's own commands:")
	if !ok || !strings.Contains(compose, "Compose commands") {
		t.Fatalf("no two groups in:\n%s", help)
	}
	own, _, _ = strings.Cut(own, "Flags:")
	for _, c := range []string{"cp", "ls", "up", "wait", "attach", "scale"} {
		if !strings.Contains(compose, "\n  "+c+" ") {
			t.Errorf("%s is not among the Compose commands", c)
		}
	}
	for _, c := range []string{"scratch", "ui", "init", "sync"} {
		if !strings.Contains(own, "\n  "+c+" ") {
			t.Errorf("%s is not among devstack's own commands", c)
		}
	}
	if strings.Contains(help, "Additional Commands") || strings.Contains(help, "Available Commands") {
		t.Errorf("a command is in no group:\n%s", help)
	}
}
