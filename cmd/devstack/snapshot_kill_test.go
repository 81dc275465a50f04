package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"devstack/engine/enginetest"
)

// kill -9 of devstack while a restore swaps the staged data into the
// volume (the services down, the helper renaming in the engine): the
// next command — up, or snapshot restore --resume — finishes the swap,
// and the volume holds exactly the snapshot's data (checksums of every
// file, names, owners and modes compared), not the old data, not a mix.
// Killed while it stages (the services up), the next command undoes it:
// the volume holds the data it had, and nothing staged is left in it.
// Nothing of the restore is left: no helper, no journal, no hidden
// directory (volumeSums sees every name).
func TestSnapshotRestoreKilledMidSwap(t *testing.T) {
	enginetest.Busybox(t)
	for _, c := range []struct {
		next []string
		when string
	}{
		{[]string{"up", "-d"}, "swap"},
		{[]string{"snapshot", "restore", "--resume"}, "swap"},
		{[]string{"snapshot", "restore", "--resume"}, "staging"},
	} {
		t.Run(strings.Join(c.next, " ")+" after a kill mid-"+c.when, func(t *testing.T) {
			t.Parallel()
			killMidRestore(t, c.next, c.when)
		})
	}
}

// volumeSums digests the volume: every name with its type, owner and
// mode, and every file's content.
const volumeSums = `cd /data && find . | sort | xargs stat -c '%n %F %u:%g %a' | md5sum && find . -type f | sort | xargs md5sum | md5sum`

func killMidRestore(t *testing.T, next []string, when string) {
	dir := t.TempDir()
	project := "dssk" + faultNonce()
	t.Cleanup(func() { enginetest.RemoveProject(project) })
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(`services:
  app:
    image: `+enginetest.BusyboxImage+`
    init: true
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
    volumes: [data:/data]
volumes:
  data:
`), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "COMPOSE_PROJECT_NAME="+project, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "NO_COLOR=1")
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "devstack", args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("devstack %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("up", "-d")
	// 2,000 files of 32 KiB: the copy takes long enough to be cut.
	fill := `mkdir -p /data/$1 && chown 65534:65534 /data/$1 && i=0; while [ $i -lt 2000 ]; do head -c 32768 /dev/urandom > /data/$1/f$i; i=$((i+1)); done`
	run("exec", "-T", "app", "sh", "-c", fill, "fill", "saved")
	saved := run("exec", "-T", "app", "sh", "-c", volumeSums)
	run("snapshot", "save", "s1")
	// A kill after the services stopped may come once the swap (a few
	// renames) has finished: that run proves nothing of a cut swap, so
	// the restore is run again, on freshly changed data, until one is cut
	// (no new run after the deadline fails the test).
	retryUntil := time.Now().Add(3 * time.Minute)
	for n := 1; ; n++ {
		run("exec", "-T", "app", "sh", "-c", "rm -rf /data/saved /data/changed && "+fill, "fill", "changed")
		changed := run("exec", "-T", "app", "sh", "-c", volumeSums)
		if changed == saved {
			t.Fatal("the change changed nothing")
		}
		cut := restoreAndKill(t, dir, env, project, run, next, when, saved, changed)
		if cut || when != "swap" || t.Failed() {
			return
		}
		if time.Now().After(retryUntil) {
			t.Fatalf("in %d runs the swap had always finished when devstack was killed: no swap was cut", n)
		}
		t.Logf("run %d: the swap had finished when devstack was killed; again", n)
	}
}

// restoreAndKill starts a restore of s1, kills devstack and its helper
// mid-swap or mid-staging (when), runs next, and checks what the volume
// holds then. It says whether the kill cut the restore short (for a
// swap: the volume did not hold the snapshot's data yet).
func restoreAndKill(t *testing.T, dir string, env []string, project string, run func(...string) string, next []string, when, saved, changed string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "devstack", "snapshot", "restore", "s1", "--yes")
	cmd.Dir, cmd.Env = dir, env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopping := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			t.Logf("restore: %s", sc.Text())
			if strings.HasPrefix(sc.Text(), "stopping ") {
				close(stopping)
			}
		}
	}()
	// pollUntil calls done every interval until it holds, failing the
	// test after a minute.
	pollUntil := func(what string, interval time.Duration, done func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !done(); {
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				t.Fatal(what)
			}
			time.Sleep(interval) // polling with a deadline
		}
	}
	// The restore's helper is the project's one-off container that runs
	// while it stages and swaps: found while it stages, so that the kill
	// after the services stop is not held up looking for it.
	helper := ""
	pollUntil("the restore's helper never ran", 20*time.Millisecond, func() bool {
		out, _ := exec.Command("docker", "ps", "--no-trunc", "--filter", "label=com.docker.compose.project="+project,
			"--filter", "status=running", "--format", "{{.Names}}").Output()
		for _, name := range strings.Fields(string(out)) {
			if strings.Contains(name, "-snapshot-") {
				helper = name
			}
		}
		return helper != ""
	})
	if when == "swap" {
		select {
		case <-stopping:
		case <-ctx.Done():
			t.Fatal("the restore never stopped the services")
		}
	} else {
		// Staging writes into a hidden directory of the volume, which
		// the running service sees: kill once it is there.
		pollUntil("the restore never staged into the volume", 20*time.Millisecond, func() bool {
			out, _ := exec.Command("docker", "exec", project+"-app-1", "ls", "-a", "/data").Output()
			return strings.Contains(string(out), ".devstack-restore-new.")
		})
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	stopped := false
	select {
	case <-stopping:
		stopped = true
	default:
	}
	// The engine would finish the work by itself: the helper is killed
	// too, as when the engine restarts, so the volume is left as it was
	// at the kill.
	if out, err := exec.Command("docker", "kill", helper).CombinedOutput(); err != nil {
		t.Logf("the helper had ended before it could be killed: %v: %s", err, out)
	}
	mid, err := exec.Command("docker", "run", "--rm", "--network", "none", "-v", project+"_data:/data", enginetest.BusyboxImage, "sh", "-c", volumeSums).Output()
	if err != nil {
		t.Fatal(err)
	}
	cut := string(mid) != saved
	switch string(mid) {
	case saved:
		t.Logf("the swap had finished when devstack was killed")
	case changed:
		t.Logf("the volume held its old data when devstack was killed")
	default:
		t.Logf("devstack and the helper killed mid-restore: the volume holds staged or half-swapped data")
	}

	start := time.Now()
	out := run(next...)
	t.Logf("devstack %s converged in %.1fs: %s", strings.Join(next, " "), time.Since(start).Seconds(), strings.TrimSpace(out))
	want, wantName := saved, "the snapshot's"
	if stopped {
		if !strings.Contains(out, "finishing the restore of snapshot s1") {
			t.Errorf("devstack %s did not say it finished the restore: %s", strings.Join(next, " "), out)
		}
	} else {
		// Killed before any service stopped: the restore is undone.
		if !strings.Contains(out, "cut short before any service stopped") {
			t.Errorf("devstack %s did not say it undid the restore: %s", strings.Join(next, " "), out)
		}
		want, wantName = changed, "the volume's own"
	}
	if next[0] != "up" {
		run("up", "-d") // the service was stopped by the restore; resume starts it again, up is a no-op
	}
	// The helper, handed the removal of the old entries, removes them and
	// then itself.
	for deadline := time.Now().Add(time.Minute); ; {
		left, _ := exec.Command("docker", "ps", "-a", "--filter", "label=com.docker.compose.project="+project, "--format", "{{.Names}}").Output()
		if !strings.Contains(string(left), "-snapshot-") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("helpers left a minute after the restore: %s", left)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
	if got := run("exec", "-T", "app", "sh", "-c", volumeSums); got != want {
		t.Errorf("the volume holds %q, want %s %q (saved %q, changed %q)", got, wantName, want, saved, changed)
	}
	left, _ := exec.Command("docker", "ps", "-a", "--filter", "label=com.docker.compose.project="+project, "--format", "{{.Names}}").Output()
	if strings.Contains(string(left), "-snapshot-") {
		t.Errorf("helpers left: %s", left)
	}
	vols, _ := exec.Command("docker", "volume", "ls", "-q", "--filter", "name="+project).Output()
	if n := len(strings.Fields(string(vols))); n != 1 {
		t.Errorf("volumes left: %s", vols)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "devstack", "snapshots", project, ".restore-journal.json")); !os.IsNotExist(err) {
		t.Errorf("journal left: %v", err)
	}
	return cut
}
