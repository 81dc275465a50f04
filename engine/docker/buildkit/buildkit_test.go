package buildkit

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	controlapi "github.com/moby/buildkit/api/services/control"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const sample = `# syntax=example.com/frontend:1
ARG BASE=busybox
FROM $BASE AS build
RUN --mount=type=cache,target=/root/.cache \
    make all
FROM build
COPY --from=shared /x /x
RUN echo "v=$VERSION"
`

func TestInstructionLines(t *testing.T) {
	df := ParseDockerfile("Dockerfile", []byte(sample))
	if df.Syntax != "example.com/frontend:1" || df.SyntaxLine != 1 {
		t.Errorf("syntax %q at %d", df.Syntax, df.SyntaxLine)
	}
	cases := []struct {
		step string
		line int
		ok   bool
	}{
		{"[build 2/2] RUN --mount=type=cache,target=/root/.cache make all", 4, true},
		{`[stage-1 2/2] RUN echo "v=1.2"`, 8, true}, // a build argument expanded
		{"[stage-1 1/2] COPY --from=shared /x /x", 7, true},
		{"[internal] load .dockerignore", 0, false},
		{"[3/3] RUN something else", 0, false},
	}
	for _, c := range cases {
		line, _, ok := df.Instruction(c.step)
		if line != c.line || ok != c.ok {
			t.Errorf("%s: line %d %v, want %d %v", c.step, line, ok, c.line, c.ok)
		}
	}

	// Stages standing for additional contexts go before the first FROM;
	// lines are still the user's.
	out, err := df.WithStages([]byte(sample), map[string]string{"shared": "example/img:1"})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(string(out), "\n")
	if got[0] != "# syntax=example.com/frontend:1" || got[1] != "ARG BASE=busybox" || got[2] != "FROM example/img:1 AS shared" || got[3] != "FROM $BASE AS build" {
		t.Errorf("rewritten:\n%s", out)
	}
	if line, _, ok := df.Instruction("[stage-2 2/2] COPY --from=shared /x /x"); !ok || line != 7 {
		t.Errorf("after the rewrite: line %d %v", line, ok)
	}
	if _, _, ok := df.Instruction("[shared 1/1] FROM example/img:1"); ok {
		t.Error("devstack's own stage was attributed to the user's Dockerfile")
	}
	if df.UserLine(9) != 8 || df.UserLine(2) != 2 {
		t.Errorf("user lines: %d %d", df.UserLine(9), df.UserLine(2))
	}
}

func trace(t *testing.T, resp *controlapi.StatusResponse) *controlapi.StatusResponse {
	t.Helper()
	raw, err := resp.MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	aux, _ := json.Marshal(raw) // what the engine sends: a base64 JSON string
	back, err := DecodeTrace(aux)
	if err != nil {
		t.Fatal(err)
	}
	return back
}

func TestTrackerFoldsProgress(t *testing.T) {
	start := time.Unix(100, 0)
	tr := NewTracker(2, func(s string) string { return strings.ReplaceAll(s, "hunter2", "****") })
	ch := tr.Add(trace(t, &controlapi.StatusResponse{
		Vertexes: []*controlapi.Vertex{{Digest: "a", Name: "[1/2] RUN make", Started: timestamppb.New(start)}},
		Logs:     []*controlapi.VertexLog{{Vertex: "a", Msg: []byte("one\ntwo password=hunter2\nthr")}},
	}))
	if len(ch) != 1 || !ch[0].Started || ch[0].Done || strings.Join(ch[0].Lines, "|") != "one|two password=****" {
		t.Fatalf("first: %+v", ch)
	}
	ch = tr.Add(trace(t, &controlapi.StatusResponse{
		Logs:     []*controlapi.VertexLog{{Vertex: "a", Msg: []byte("ee\nfour")}},
		Vertexes: []*controlapi.Vertex{{Digest: "a", Name: "[1/2] RUN make", Started: timestamppb.New(start), Completed: timestamppb.New(start.Add(1500 * time.Millisecond)), Error: "exit code: 2 hunter2"}},
	}))
	s := ch[0].Step
	if !ch[0].Done || s.Duration() != 1500*time.Millisecond || s.Error != "exit code: 2 ****" || strings.Join(s.Tail, "|") != "three|four" {
		t.Fatalf("second: %+v %+v", ch, s)
	}
	if tr.Failed() != s {
		t.Error("the failed step is not reported")
	}
	ch = tr.Add(trace(t, &controlapi.StatusResponse{Vertexes: []*controlapi.Vertex{{Digest: "b", Name: "[2/2] COPY . /", Cached: true,
		Started: timestamppb.New(start), Completed: timestamppb.New(start)}}}))
	if len(ch) != 1 || !ch[0].Done || !ch[0].Step.Cached || len(tr.Steps()) != 2 {
		t.Errorf("cached: %+v", ch)
	}
}
