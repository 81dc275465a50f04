package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// benchSnapshot: `snapshot save` and `snapshot restore --yes` of a volume
// holding the data of one of two shapes (many small files, one large
// file), against plain tar of the same data in the same run: `tar -c` of
// the volume's directory on the host into a new file beside the
// snapshots (the same disk), and `tar -x` of that file into an empty
// directory there. There is no compose peer; tar is the comparison (the
// compose column holds it). Every side reads warm data: the volume was
// filled just before and fits in memory, and each archive is read right
// after it was written. devstack's save also fsyncs its file before it
// writes the manifest; tar does not, so the note gives tar -c followed by
// an fsync of its file as well.
//
// The engine's floor is the same tar run in a container of the service's
// image (`docker run --rm`, the volume and the directory mounted): what
// devstack's helper container costs and gets at best. It matters here:
// every container shares one CPU cgroup (/docker) whose weight equals a
// single host process's, so under load the tar in a container gets a
// fraction of what the host's tar gets.
//
// The restore runs with the service up, so it includes the stop, swap and
// start; the time the service was down is read from devstack's own line.
// The service stops on SIGTERM at once (a shell waiting in `wait`), as a
// database does: a shell in `sleep 1` would add up to a second of its
// own to every restore.
func benchSnapshot(b *bench) ([]result, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("the tar side reads the volume's directory on the engine's host: run as root")
	}
	mib := b.snapshotMiB
	// The data is written on the engine's host straight into the volume,
	// as root, the way a service running as root writes it: a shell loop
	// in the container took over ten minutes for the small files on a
	// loaded machine.
	shapes := []struct {
		name string
		fill func(dir string) error
	}{
		// 32 KiB files, 256 to a directory.
		{"many small files", func(dir string) error {
			for i := 0; i < mib*32; i++ {
				d := filepath.Join(dir, "d"+strconv.Itoa(i/256))
				if err := os.MkdirAll(d, 0o755); err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(d, "f"+strconv.Itoa(i)), randomBytes(32<<10), 0o644); err != nil {
					return err
				}
			}
			return nil
		}},
		{"one large file", func(dir string) error {
			f, err := os.OpenFile(filepath.Join(dir, "big"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return err
			}
			for i := 0; i < mib; i++ {
				if _, err := f.Write(randomBytes(1 << 20)); err != nil {
					f.Close()
					return err
				}
			}
			return f.Close()
		}},
	}
	work, err := os.MkdirTemp("", "devstack-bench-snapshot")
	if err != nil {
		return nil, err
	}
	b.atCleanup(func() { os.RemoveAll(work) })
	file := filepath.Join(work, "compose.yaml")
	if err := os.WriteFile(file, []byte(`services:
  app:
    image: devstack-test/busybox:1
    init: true
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $$!; done"]
    volumes: [data:/data]
volumes:
  data:
`), 0o644); err != nil {
		return nil, err
	}
	ds := tool{name: "devstack", tag: "ds", argv: []string{b.devstack}}
	env := []string{"XDG_DATA_HOME=" + filepath.Join(work, "data")}
	downRe := regexp.MustCompile(`services down ([0-9hmsµ.]+)`) // a Go duration: 850ms, 4.2s, 1m2.3s
	// Each measured step starts with no dirty data in the page cache: an
	// fsync (the save's) otherwise pays for the writeback of what the step
	// before wrote (ext4 commits other files' data with it), a plain tar
	// for none.
	settle := func() { _ = exec.Command("sync").Run() }
	var rows []result
	for k, shape := range shapes {
		project := fmt.Sprintf("snapbench%d-%d", os.Getpid(), k)
		b.takeDownLater(ds, work, file, project)
		run := func(args ...string) ([]byte, float64, error) {
			name, a := ds.args(file, project, args...)
			wall, _, out, err := timedOutput(work, env, name, a...)
			return out, wall, err
		}
		if _, _, err := run("up", "-d"); err != nil {
			return nil, err
		}
		out, err := exec.Command("docker", "volume", "inspect", "-f", "{{.Mountpoint}}", project+"_data").Output()
		if err != nil {
			return nil, fmt.Errorf("docker volume inspect: %w", err)
		}
		src := strings.TrimSpace(string(out))
		if err := shape.fill(src); err != nil {
			return nil, fmt.Errorf("filling the volume: %w", err)
		}
		var save, restore, tarC, tarX, tarSync, floorC, floorX, down, clean []float64
		for i := 0; i < b.n; i++ {
			tarFile := filepath.Join(work, "data", "tar-"+strconv.Itoa(i)+".tar")
			dest := filepath.Join(work, "data", "untar-"+strconv.Itoa(i))
			_ = os.MkdirAll(dest, 0o700)
			tarSide := func() error {
				settle()
				w, _, err := timed(work, nil, "tar", "-cf", tarFile, "-C", src, ".")
				if err != nil {
					return err
				}
				tarC = append(tarC, w)
				s, _, err := timed(work, nil, "sync", tarFile)
				if err != nil {
					return err
				}
				tarSync = append(tarSync, w+s)
				settle()
				if w, _, err = timed(work, nil, "tar", "-xf", tarFile, "-C", dest); err != nil {
					return err
				}
				tarX = append(tarX, w)
				os.Remove(tarFile)
				if err := os.RemoveAll(dest); err != nil {
					return err
				}
				// The engine's floor: the same tar in a container of the
				// service's image, as devstack's helper runs it.
				floorDir := ".devstack-bench-floor-" + strconv.Itoa(i)
				floorFile := "floor-" + strconv.Itoa(i) + ".tar"
				run := func(mount, script string) (float64, error) {
					w, _, err := timed(work, nil, "docker", "run", "--rm", "--network", "none", "-u", "0:0",
						"-v", project+"_data:/v"+mount, "-v", filepath.Join(work, "data")+":/snap", "--entrypoint", "sh",
						"devstack-test/busybox:1", "-c", script)
					return w, err
				}
				settle()
				if w, err = run(":ro", "exec tar -cf /snap/"+floorFile+" -C /v ."); err != nil {
					return err
				}
				floorC = append(floorC, w)
				settle()
				if w, err = run("", "mkdir /v/"+floorDir+" && cd /v/"+floorDir+" && exec tar -xf /snap/"+floorFile+" --numeric-owner"); err != nil {
					return err
				}
				floorX = append(floorX, w)
				os.Remove(filepath.Join(work, "data", floorFile))
				return os.RemoveAll(filepath.Join(src, floorDir))
			}
			dsSide := func() error {
				name := "bench" + strconv.Itoa(i)
				settle()
				if _, w, err := run("snapshot", "save", name); err != nil {
					return err
				} else {
					save = append(save, w)
				}
				settle()
				out, w, err := run("snapshot", "restore", name, "--yes")
				if err != nil {
					return err
				}
				restore = append(restore, w)
				if m := downRe.FindSubmatch(out); m != nil {
					if d, err := time.ParseDuration(string(m[1])); err == nil {
						down = append(down, d.Seconds())
					}
				}
				// The restore's helper removes the volume's old entries
				// after devstack returns: the next measurement waits
				// for it, and the note says how long it took.
				returned := time.Now()
				for {
					ps, err := exec.Command("docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+project,
						"--filter", "label=com.docker.compose.service=devstack-snapshot").Output()
					if err != nil {
						return fmt.Errorf("docker ps: %w", err)
					}
					if len(strings.TrimSpace(string(ps))) == 0 {
						break
					}
					if time.Since(returned) > 5*time.Minute {
						return fmt.Errorf("the restore's helper was still there 5 minutes after it returned")
					}
					time.Sleep(50 * time.Millisecond) // polling with a deadline
				}
				clean = append(clean, time.Since(returned).Seconds())
				_, _, err = run("snapshot", "rm", name)
				return err
			}
			first, second := tarSide, dsSide
			if i%2 == 1 {
				first, second = dsSide, tarSide
			}
			if err := first(); err != nil {
				return nil, err
			}
			if err := second(); err != nil {
				return nil, err
			}
		}
		label := fmt.Sprintf("snapshot %d MiB, %s", mib, shape.name)
		saveRow := result{Scenario: label + ": save", Unit: "s", Devstack: median(save), Compose: median(tarC), Floor: median(floorC),
			Target: "≥ 0.70× tar throughput", Note: fmt.Sprintf("compose column: tar -c on the host; tar -c and an fsync of its file, as the save syncs: %.2f s; floor: tar -c in a container of the image", median(tarSync)),
			DevstackRuns: save, ComposeRuns: tarC, FloorRuns: floorC}
		restoreRow := result{Scenario: label + ": restore", Unit: "s", Devstack: median(restore), Compose: median(tarX), Floor: median(floorX),
			Target: "≥ 0.70× tar throughput", Note: fmt.Sprintf("compose column: tar -x on the host; floor: tar -x in a container of the image; services down %.2f s; the old data removed in the background %.2f s after", median(down), median(clean)),
			DevstackRuns: restore, ComposeRuns: tarX, FloorRuns: floorX}
		for _, r := range []*result{&saveRow, &restoreRow} {
			r.Pass = r.Devstack > 0 && r.Compose/r.Devstack >= 0.7
		}
		rows = append(rows, saveRow, restoreRow)
		if _, _, err := run("down", "-v"); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

// randomBytes returns n bytes that do not compress.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rand.Uint64())
	}
	return b
}
