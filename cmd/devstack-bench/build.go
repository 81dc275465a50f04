package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// buildFiles and buildFileSize shape the benchmark project's sources:
// 400 files of 8 KiB (3.2 MiB), as a small service's tree.
const (
	buildFiles    = 400
	buildFileSize = 8 << 10
)

// buildDockerfile is a three-stage project with cache mounts, on the local
// test image (nothing can be pulled): "deps" fills a package cache once (a
// cache mount, as go mod download or pip do), "build" compiles the sources
// with a compiler cache (a cache mount, as go build's), and the final
// stage keeps only the result. NONCE makes every cold build cold: its own
// steps and its own caches.
const buildDockerfile = `FROM devstack-test/busybox:1 AS deps
COPY deps.txt /deps.txt
RUN --mount=type=cache,id=NONCE-pkg,target=/cache \
    [ -f /cache/pkgs ] || dd if=/dev/urandom of=/cache/pkgs bs=1M count=8 2>/dev/null; \
    sha256sum /cache/pkgs > /deps.sum

FROM deps AS build
COPY src /src
RUN --mount=type=cache,id=NONCE-build,target=/cache \
    for f in /src/*; do s=/cache/$(basename $f).sum; [ "$f" -ot "$s" ] || sha256sum "$f" > "$s"; done; \
    cat /cache/*.sum | sha256sum > /app

FROM devstack-test/busybox:1
COPY --from=build /app /app
COPY --from=deps /deps.sum /deps.sum
`

// benchBuild: `build` of that project, per tool: cold, after one source
// edit, and with nothing changed (devstack: then once more with its
// up-to-date check turned off, which is the engine's own floor). Each run
// of each tool builds its own copy of the project (its own nonce, so
// nothing is shared through the engine's build cache); the tools
// alternate which goes first.
func benchBuild(b *bench) ([]result, error) {
	tools := b.tools()
	cold, edit, same := map[string][]float64{}, map[string][]float64{}, map[string][]float64{}
	var floor []float64
	sentAnyway := 0 // devstack's no-change builds that went to the builder
	for i := 0; i < b.n; i++ {
		order := append([]tool(nil), tools...)
		if i%2 == 1 {
			for l, r := 0, len(order)-1; l < r; l, r = l+1, r-1 {
				order[l], order[r] = order[r], order[l]
			}
		}
		for _, t := range order {
			r, err := buildRun(b, t, fmt.Sprintf("bbuild%s%d-%d", t.tag, os.Getpid(), i))
			if err != nil {
				return nil, fmt.Errorf("%s, run %d: %w", t.name, i+1, err)
			}
			cold[t.tag], edit[t.tag], same[t.tag] = append(cold[t.tag], r.cold), append(edit[t.tag], r.edit), append(same[t.tag], r.same)
			if t.tag == "ds" {
				floor = append(floor, r.floor)
				if !r.skipped {
					sentAnyway++
				}
			}
		}
	}
	rows := []result{
		{Scenario: "build 3 stages, cache mounts: cold", Unit: "s", Target: "≤ 1.05× compose", DevstackRuns: cold["ds"], ComposeRuns: cold["dc"]},
		{Scenario: "build: after one source edit", Unit: "s", Target: "≤ 1.0× compose", DevstackRuns: edit["ds"], ComposeRuns: edit["dc"]},
		{Scenario: "build: nothing changed", Unit: "s", Target: "≤ 0.5× compose", DevstackRuns: same["ds"], ComposeRuns: same["dc"]},
		// The same no-change build sent to the builder anyway: what the
		// engine's fully cached build costs, for the record.
		{Scenario: "build: nothing changed, sent to the builder (engine floor)", Unit: "s", Target: "(record)", DevstackRuns: floor, ComposeRuns: same["dc"]},
	}
	for i, limit := range []float64{1.05, 1.0, 0.5, 0} {
		r := &rows[i]
		r.Devstack, r.Compose = median(r.DevstackRuns), median(r.ComposeRuns)
		r.Pass = r.Compose > 0 && (limit == 0 || r.Devstack <= limit*r.Compose)
		if r.Compose == 0 {
			r.Note = "no compose to compare with"
		}
	}
	if sentAnyway > 0 {
		rows[2].Pass = false
		rows[2].Note = fmt.Sprintf("%d of %d no-change builds were not recognised as up to date", sentAnyway, len(same["ds"]))
	}
	return rows, nil
}

// buildTimes are one run's builds: cold, after one edit, with nothing
// changed, and (devstack) with nothing changed but the skip turned off.
type buildTimes struct {
	cold, edit, same, floor float64
	skipped                 bool // devstack said the no-change build was up to date
}

// buildRun writes a fresh copy of the project and times the builds.
func buildRun(b *bench, t tool, project string) (bt buildTimes, err error) {
	dir, err := os.MkdirTemp("", "devstack-bench-build-")
	if err != nil {
		return bt, err
	}
	b.atCleanup(func() { _ = os.RemoveAll(dir) })
	b.atCleanup(func() { removeProjectImages(project) })
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	files := map[string]string{
		"Dockerfile":    strings.ReplaceAll(buildDockerfile, "NONCE", hex.EncodeToString(nonce)),
		"compose.yaml":  "services:\n  app:\n    build: .\n",
		"deps.txt":      "pkg-a 1.0\npkg-b 2.1\n",
		".dockerignore": "compose.yaml\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return bt, err
		}
	}
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		return bt, err
	}
	for i := 0; i < buildFiles; i++ {
		data := make([]byte, buildFileSize)
		_, _ = rand.Read(data)
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("f%03d.src", i)), data, 0o644); err != nil {
			return bt, err
		}
	}
	file := filepath.Join(dir, "compose.yaml")
	run := func(env ...string) (float64, string, error) {
		name, args := t.args(file, project, "build")
		w, _, out, err := timedOutput(dir, env, name, args...)
		return w, string(out), err
	}
	if bt.cold, _, err = run(); err != nil {
		return
	}
	data := make([]byte, buildFileSize)
	_, _ = rand.Read(data)
	if err = os.WriteFile(filepath.Join(src, "f123.src"), data, 0o644); err != nil {
		return
	}
	if bt.edit, _, err = run(); err != nil {
		return
	}
	var out string
	if bt.same, out, err = run(); err != nil {
		return
	}
	if t.tag == "ds" {
		bt.skipped = strings.Contains(out, "up to date")
		bt.floor, _, err = run("DEVSTACK_BUILD_SKIP=0")
	}
	return
}

// removeProjectImages removes the images a project built (both tools
// label them with Compose's project label).
func removeProjectImages(project string) {
	out, err := exec.Command("docker", "images", "-q", "--filter", "label=com.docker.compose.project="+project).Output()
	if err != nil {
		return
	}
	if ids := strings.Fields(string(out)); len(ids) > 0 {
		_ = exec.Command("docker", append([]string{"rmi", "-f"}, ids...)...).Run()
	}
}
