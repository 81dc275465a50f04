package scratch

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"devstack/engine/enginetest"
	"devstack/engine/event"
)

// registry runs Debian's docker-registry on a free loopback port (the
// engine speaks plain HTTP to loopback registries) until the test ends.
func registry(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Skip("docker-registry is not installed (apt-get install docker-registry)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s}, delete: {enabled: true}}\nhttp: {addr: %s}\n", filepath.Join(dir, "data"), addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve", cfg)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("registry said:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("the registry does not listen on %s:\n%s", addr, logs.String())
		}
		time.Sleep(50 * time.Millisecond) // polling for the listener, bounded by the deadline
	}
}

func dockerCLI(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	cmd := exec.Command("docker", args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// buildTo builds a one-line variation of the test image and tags it.
func buildTo(t *testing.T, tag, run string) string {
	t.Helper()
	ctxTar, err := enginetest.ContextTar(map[string][]byte{"Dockerfile": []byte("FROM " + enginetest.BusyboxImage + "\nRUN " + run + "\n")})
	if err != nil {
		t.Fatal(err)
	}
	out := dockerCLI(t, ctxTar, "build", "-q", "-t", tag, "-")
	return out[strings.LastIndex(out, "\n")+1:] // the ID, after the CLI's notices
}

// The dev environment pulled app's tag when it was v1; the registry's
// tag is v2 now, which breaks app. The scratch stack runs v2 (pulled by
// digest: the developer's tag stays on v1), fails, and the dev image put
// back makes it pass: image-drift, naming app and both digests.
func TestImageDriftThroughARegistry(t *testing.T) {
	rt := newRuntime(t)
	reg := registry(t)
	fx := newFixture(t, rt, "image-drift")
	ref := reg + "/" + fx.project + "/app:1"
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", ref).Run() })

	v1 := buildTo(t, ref, "touch /marker")
	dockerCLI(t, nil, "push", ref)
	v1Digest := dockerCLI(t, nil, "inspect", "-f", "{{index .RepoDigests 0}}", ref)
	// v2 is pushed under the same tag from elsewhere: here, built under a
	// scratch tag, pushed, and the tag put back on v1 as the developer's
	// machine still has it.
	v2 := buildTo(t, ref, "echo v2 > /version")
	dockerCLI(t, nil, "push", ref)
	v2Digest := dockerCLI(t, nil, "inspect", "-f", "{{index .RepoDigests 0}}", ref)
	dockerCLI(t, nil, "tag", v1, ref)
	dockerCLI(t, nil, "rmi", v2)
	if v1Digest == v2Digest {
		t.Fatalf("v1 and v2 have one digest: %s", v1Digest)
	}

	if err := os.WriteFile(filepath.Join(fx.dir, ".env"), []byte("DRIFT_IMAGE="+ref+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	fx.up(ctx)
	fx.ready(ctx)
	before := fx.snapshot(ctx)

	state := t.TempDir()
	rep, err := Run(ctx, Options{Runtime: rt, Load: fx.loadOptions(), Timeout: time.Minute, Sink: &event.Recorder{},
		History: OpenHistory(filepath.Join(state, "scratch.db")), ReportDir: state, Trigger: "test"})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, rep.Text())
	}
	t.Logf("%s", rep.Text())
	if rep.Status != StatusFail || len(rep.Findings) != 1 {
		t.Fatalf("status %s, findings %+v", rep.Status, rep.Findings)
	}
	f := rep.Findings[0]
	_, d1, _ := strings.Cut(v1Digest, "@")
	_, d2, _ := strings.Cut(v2Digest, "@")
	if f.Category != ImageDrift || f.Service != "app" || !strings.Contains(f.Evidence, d1) || !strings.Contains(f.Evidence, d2) {
		t.Fatalf("finding: %+v", f)
	}
	if len(rep.Drift) != 1 || rep.Drift[0].Ref != ref || rep.Drift[0].Registry != d2 || !strings.Contains(rep.Text(), "image drift: "+ref) {
		t.Errorf("drift listed: %+v", rep.Drift)
	}
	if len(rep.Runs) != 2 {
		t.Errorf("%d stack runs, want 2", len(rep.Runs))
	}
	// The developer's tag still names v1, and nothing pulled is left.
	if got := dockerCLI(t, nil, "inspect", "-f", "{{.Id}}", ref); got != v1 {
		t.Errorf("the dev tag moved: %s, want %s", got, v1)
	}
	if after := fx.snapshot(ctx); after != before {
		t.Errorf("the dev environment changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if out, _ := exec.Command("docker", "image", "inspect", reg+"/"+fx.project+"/app@"+d2).CombinedOutput(); !strings.Contains(string(out), "No such image") {
		t.Errorf("v2 left on the engine: %s", out)
	}
}

// An external network made by hand on this engine: the scratch stack
// passes on its own network, and the report names the dev one as
// machine-local, with why and what to do.
func TestMachineLocalNetwork(t *testing.T) {
	rt := newRuntime(t)
	fx := newFixture(t, rt, "machine-local")
	net := fx.project + "-shared"
	dockerCLI(t, nil, "network", "create", net)
	t.Cleanup(func() {
		// After the dev stack is gone (its containers hold the network);
		// the fixture's own cleanup, registered first, would run after this.
		enginetest.RemoveProject(fx.project)
		_ = exec.Command("docker", "network", "rm", net).Run()
	})
	if err := os.WriteFile(filepath.Join(fx.dir, ".env"), []byte("SHARED_NET="+net+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	fx.up(ctx)
	fx.ready(ctx)
	state := t.TempDir()
	rep, err := Run(ctx, Options{Runtime: rt, Load: fx.loadOptions(), Timeout: time.Minute,
		History: OpenHistory(filepath.Join(state, "scratch.db")), ReportDir: state, Trigger: "test"})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, rep.Text())
	}
	t.Logf("%s", rep.Text())
	if rep.Status != StatusFail || len(rep.Findings) != 1 || len(rep.Runs) != 1 {
		t.Fatalf("status %s, %d runs, findings %+v", rep.Status, len(rep.Runs), rep.Findings)
	}
	f := rep.Findings[0]
	if f.Category != MachineLocal || f.Service != "app" || !strings.Contains(f.Evidence, "network "+net+" is declared external") ||
		!strings.Contains(f.Evidence, "made outside the project") || !strings.Contains(f.Hint, "docker network create "+net) {
		t.Fatalf("finding: %+v", f)
	}
	// The dev network is still there, and nothing of the scratch stack is.
	dockerCLI(t, nil, "network", "inspect", net)
	if left := leftovers(fx.project); len(left) > 0 {
		t.Errorf("left: %v", left)
	}
}
