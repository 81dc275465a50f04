package main

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"devstack/engine/enginetest"
)

// BenchmarkRemoteSlowLinkUp runs the first up -d of testdata/example on
// the SSH test host over a slow link (10 Mbit/s each way with tc's token
// bucket, 25 ms added each way by a relay: a 50 ms round trip), and
// reports the bytes sent to the engine's machine against the payload (the
// build context and the synced sources, as uncompressed tar), then times
// ps over the same link. "example" is the fixture as it is; "example+src"
// adds a bind of a source tree (this repository's sync package, ~0.4 MB)
// to the worker, which becomes a volume filled before the start. Skipped
// without root or tc. Run with -benchtime=1x.
func BenchmarkRemoteSlowLinkUp(b *testing.B) {
	h := enginetest.StartSSHHost(b)
	h.LoadImage(enginetest.Busybox(b))
	bin, err := exec.LookPath("devstack")
	if err != nil {
		b.Fatal(err)
	}
	state := b.TempDir()
	h.LimitRate(b, "10mbit")
	px := h.Proxy(b, 25*time.Millisecond)
	for _, withSrc := range []bool{false, true} {
		name := "example"
		if withSrc {
			name = "example+src"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			copyTree(b, filepath.Join("..", "..", "testdata", "example"), dir)
			payload := tarSize(b, filepath.Join(dir, "api"))
			if withSrc {
				copyTree(b, filepath.Join("..", "..", "sync"), filepath.Join(dir, "src"))
				payload += tarSize(b, filepath.Join(dir, "src"))
				override := "services:\n  worker:\n    volumes: [\"./src:/src\"]\n"
				if err := os.WriteFile(filepath.Join(dir, "compose.src.yaml"), []byte(override), 0o644); err != nil {
					b.Fatal(err)
				}
			}
			env := append(withoutEnv(os.Environ(), "DOCKER_HOST", "COMPOSE_PROJECT_NAME", "XDG_STATE_HOME", "DOCKER_CONTEXT", "COMPOSE_FILE"),
				"COMPOSE_PROJECT_NAME="+randomProject("dsslow"), "XDG_STATE_HOME="+state, "NO_COLOR=1")
			if withSrc {
				env = append(env, "COMPOSE_FILE=compose.yaml:compose.override.yaml:compose.src.yaml")
			}
			runOn := func(host string, args ...string) time.Duration {
				b.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, bin, args...)
				cmd.Dir, cmd.Env = dir, append(env, "DOCKER_HOST="+host)
				start := time.Now()
				out, err := cmd.CombinedOutput()
				took := time.Since(start)
				if err != nil {
					b.Fatalf("devstack %s: %v\n%s", strings.Join(args, " "), err, out)
				}
				return took
			}
			run := func(args ...string) time.Duration { return runOn(px.URL, args...) }
			ps := func(host string) []time.Duration {
				var out []time.Duration
				for range 7 {
					out = append(out, runOn(host, "ps"))
				}
				slices.Sort(out)
				return out
			}
			b.Cleanup(func() {
				cmd := exec.Command(bin, "down", "-v")
				cmd.Dir, cmd.Env = dir, append(env, "DOCKER_HOST="+h.URL)
				_ = cmd.Run()
			})
			sent := px.Sent.Load()
			upTook := run("up", "-d", "--no-forward")
			sent = px.Sent.Load() - sent
			slow := ps(px.URL)  // a new SSH connection each time
			direct := ps(h.URL) // the same without the 50 ms
			// With a background forwarder (up -d without --no-forward), ps
			// goes through its shared SSH connection.
			run("up", "-d")
			shared := ps(px.URL)
			ratio := float64(sent) / float64(payload)
			b.ReportMetric(float64(sent)/1024, "sent-KiB")
			b.ReportMetric(float64(payload)/1024, "payload-KiB")
			b.ReportMetric(ratio, "sent/payload")
			b.ReportMetric(float64(upTook.Milliseconds()), "up-ms")
			b.ReportMetric(float64(slow[3].Milliseconds()), "ps-p50-ms")
			b.ReportMetric(float64(shared[3].Milliseconds()), "ps-shared-p50-ms")
			load, _ := os.ReadFile("/proc/loadavg")
			b.Logf("%s: first up -d %v, %d KiB sent for %d KiB of context and sources (%.2fx); ps (n=7) p50 %v (%v-%v), through the forwarder's shared connection %v (%v-%v), without the 50 ms %v; load %s",
				name, upTook.Round(time.Millisecond), sent/1024, payload/1024, ratio,
				slow[3].Round(time.Millisecond), slow[0].Round(time.Millisecond), slow[6].Round(time.Millisecond),
				shared[3].Round(time.Millisecond), shared[0].Round(time.Millisecond), shared[6].Round(time.Millisecond), direct[3].Round(time.Millisecond),
				strings.Join(strings.Fields(string(load))[:min(3, len(strings.Fields(string(load))))], " "))
		})
	}
}

// tarSize is the size of dir as an uncompressed tar stream.
func tarSize(b testing.TB, dir string) int64 {
	b.Helper()
	var n countWriter
	tw := tar.NewWriter(&n)
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name, _ = filepath.Rel(dir, p)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		b.Fatal(err)
	}
	return int64(n)
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }
