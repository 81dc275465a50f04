package buildkit

import (
	"reflect"
	"testing"
)

// Sources names the images a Dockerfile reads, and says when they cannot
// be known before building.
func TestDockerfileSources(t *testing.T) {
	v := func(s string) *string { return &s }
	cases := []struct {
		name   string
		df     string
		args   map[string]*string
		ctxs   []string
		images []string
		fixed  bool
	}{
		{"stages are not images", "FROM golang:1.22 AS build\nRUN go build\nFROM build AS test\nFROM alpine\nCOPY --from=build /app /app\nCOPY --from=0 /x /x\n",
			nil, nil, []string{"golang:1.22", "alpine"}, true},
		{"scratch is no image", "FROM scratch\nCOPY a /\n", nil, nil, nil, true},
		{"additional contexts are no images", "FROM base\nCOPY --from=Assets / /a\nRUN --mount=from=lib,target=/l ls\n", nil, []string{"base", "assets", "lib"}, nil, true},
		{"COPY --from and RUN --mount from= an image", "FROM alpine\nCOPY --from=nginx:1 /etc/nginx /n\nRUN --mount=type=bind,from=busybox:1,target=/b ls /b\n",
			nil, nil, []string{"alpine", "nginx:1", "busybox:1"}, true},
		{"global ARG default", "ARG BASE=alpine:3\nFROM ${BASE}\n", nil, nil, []string{"alpine:3"}, true},
		{"build argument overrides the default", "ARG BASE=alpine:3\nFROM $BASE\n", map[string]*string{"BASE": v("debian:12")}, nil, []string{"debian:12"}, true},
		{"ARG without a value", "ARG BASE\nFROM $BASE\n", nil, nil, nil, false},
		{"a variable in COPY --from", "FROM alpine\nARG SRC=nginx\nCOPY --from=$SRC /a /a\n", nil, nil, nil, false},
		{"ADD of a URL", "FROM alpine\nADD https://example.com/x.tgz /x\n", nil, nil, nil, false},
		{"ADD of a git repository", "FROM alpine\nADD git@github.com:o/r.git /r\n", nil, nil, nil, false},
		{"ADD of local files", "FROM alpine\nADD a.tgz b /x/\n", nil, nil, []string{"alpine"}, true},
		{"not a Dockerfile", "FROM alpine\nRUN <<EOF\n", nil, nil, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			images, fixed := ParseDockerfile("Dockerfile", []byte(c.df)).Sources(c.args, c.ctxs)
			if fixed != c.fixed || (fixed && !reflect.DeepEqual(images, c.images)) {
				t.Errorf("Sources = %q, %v; want %q, %v", images, fixed, c.images, c.fixed)
			}
		})
	}
}
