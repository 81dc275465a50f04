package docker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"devstack/engine"
	"devstack/engine/model"
)

// Events streams the project's container events.
func (r *Runtime) Events(ctx context.Context, project string) (<-chan engine.ContainerEvent, <-chan error) {
	out := make(chan engine.ContainerEvent, 64)
	errs := make(chan error, 1)
	res := r.api.Events(ctx, client.EventsListOptions{Filters: client.Filters{}.
		Add("type", "container").Add("label", model.LabelProject+"="+project)})
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-res.Err:
				if err == nil {
					err = errors.New("the engine's event stream ended")
				}
				errs <- err
				return
			case m := <-res.Messages:
				ev := engine.ContainerEvent{
					Time:    time.Unix(0, m.TimeNano),
					ID:      m.Actor.ID,
					Name:    m.Actor.Attributes["name"],
					Service: m.Actor.Attributes[model.LabelService],
					OneOff:  strings.EqualFold(m.Actor.Attributes[model.LabelOneOff], "true"),
				}
				ev.Number, _ = strconv.Atoi(m.Actor.Attributes[model.LabelNumber])
				action := string(m.Action)
				if status, ok := strings.CutPrefix(action, "health_status: "); ok {
					action, ev.Health = "health_status", status
				} else if strings.HasPrefix(action, "exec_") {
					continue // execs are not state changes
				}
				ev.Action = action
				if action == "die" {
					ev.ExitCode, _ = strconv.Atoi(m.Actor.Attributes["exitCode"])
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, errs
}

// Logs streams a container's output line by line.
func (r *Runtime) Logs(ctx context.Context, id string, o engine.LogOptions, fn func(stream, line string, t time.Time)) error {
	insp, err := r.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	opts := client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: o.Follow, Tail: o.Tail, Timestamps: true}
	if !o.Since.IsZero() {
		opts.Since = strconv.FormatFloat(float64(o.Since.UnixNano())/1e9, 'f', 9, 64)
	}
	rc, err := r.api.ContainerLogs(ctx, id, opts)
	if err != nil {
		return err
	}
	defer rc.Close()
	go func() {
		<-ctx.Done()
		rc.Close()
	}()
	tty := insp.Container.Config != nil && insp.Container.Config.Tty
	if tty {
		return scanLines(rc, "stdout", fn)
	}
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = scanLines(outR, "stdout", fn) }()
	go func() { defer wg.Done(); _ = scanLines(errR, "stderr", fn) }()
	_, err = stdcopy.StdCopy(outW, errW, rc)
	outW.Close()
	errW.Close()
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// scanLines splits timestamped log output into lines; very long lines are
// cut rather than lost.
func scanLines(rd io.Reader, stream string, fn func(stream, line string, t time.Time)) error {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		var ts time.Time
		if stamp, rest, ok := strings.Cut(line, " "); ok {
			if t, err := time.Parse(time.RFC3339Nano, stamp); err == nil {
				ts, line = t, rest
			}
		}
		fn(stream, strings.TrimRight(line, "\r"), ts)
	}
	err := sc.Err()
	if errors.Is(err, io.ErrClosedPipe) {
		return nil
	}
	return err
}

// Stats streams CPU and memory samples, computed as `docker stats` does.
func (r *Runtime) Stats(ctx context.Context, id string, fn func(cpuPercent float64, mem, limit uint64)) error {
	res, err := r.api.ContainerStats(ctx, id, client.ContainerStatsOptions{Stream: true})
	if err != nil {
		return err
	}
	defer res.Body.Close()
	go func() {
		<-ctx.Done()
		res.Body.Close()
	}()
	dec := json.NewDecoder(res.Body)
	for {
		var s container.StatsResponse
		if err := dec.Decode(&s); err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		cpu := 0.0
		cpuDelta := float64(s.CPUStats.CPUUsage.TotalUsage) - float64(s.PreCPUStats.CPUUsage.TotalUsage)
		sysDelta := float64(s.CPUStats.SystemUsage) - float64(s.PreCPUStats.SystemUsage)
		if cpuDelta > 0 && sysDelta > 0 {
			n := float64(s.CPUStats.OnlineCPUs)
			if n == 0 {
				n = float64(len(s.CPUStats.CPUUsage.PercpuUsage))
			}
			cpu = cpuDelta / sysDelta * n * 100
		}
		mem := s.MemoryStats.Usage
		if v, ok := s.MemoryStats.Stats["inactive_file"]; ok && v < mem {
			mem -= v
		} else if v, ok := s.MemoryStats.Stats["total_inactive_file"]; ok && v < mem {
			mem -= v
		}
		fn(cpu, mem, s.MemoryStats.Limit)
	}
}

// Exec runs a command in a running container and returns its exit code.
func (r *Runtime) Exec(ctx context.Context, id string, o engine.ExecOptions) (int, error) {
	created, err := r.api.ExecCreate(ctx, id, client.ExecCreateOptions{
		User: o.User, WorkingDir: o.WorkDir, Env: o.Env, Cmd: o.Cmd, TTY: o.Tty,
		AttachStdin: o.Stdin != nil, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return -1, err
	}
	att, err := r.api.ExecAttach(ctx, created.ID, client.ExecAttachOptions{TTY: o.Tty})
	if err != nil {
		return -1, err
	}
	defer att.Close()
	if o.Tty && o.Resize != nil {
		go func() {
			for size := range o.Resize {
				_, _ = r.api.ExecResize(ctx, created.ID, client.ExecResizeOptions{Width: size.Width, Height: size.Height})
			}
		}()
	}
	if err := pipe(ctx, att.HijackedResponse, o); err != nil {
		return -1, err
	}
	insp, err := r.api.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
	if err != nil {
		return -1, err
	}
	return insp.ExitCode, nil
}

// pipe copies stdin in and stdout/stderr out of a hijacked connection
// until the output ends.
func pipe(ctx context.Context, h client.HijackedResponse, o engine.ExecOptions) error {
	stdout, stderr := o.Stdout, o.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if o.Stdin != nil {
		go func() {
			_, _ = io.Copy(h.Conn, o.Stdin)
			_ = h.CloseWrite()
		}()
	}
	done := make(chan error, 1)
	go func() {
		var err error
		if o.Tty {
			_, err = io.Copy(stdout, h.Reader)
		} else {
			_, err = stdcopy.StdCopy(stdout, stderr, h.Reader)
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		h.Close()
		return ctx.Err()
	}
}

// AttachStart attaches to a created container, starts it and waits for it.
func (r *Runtime) AttachStart(ctx context.Context, id string, o engine.ExecOptions) (int, error) {
	att, err := r.api.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdin: o.Stdin != nil, Stdout: true, Stderr: true})
	if err != nil {
		return -1, err
	}
	defer att.Close()
	wait := r.api.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if err := r.StartContainer(ctx, id); err != nil {
		return -1, err
	}
	if o.Tty && o.Resize != nil {
		go func() {
			for size := range o.Resize {
				_, _ = r.api.ContainerResize(ctx, id, client.ContainerResizeOptions{Width: size.Width, Height: size.Height})
			}
		}()
	}
	if err := pipe(ctx, att.HijackedResponse, o); err != nil && !errors.Is(err, io.EOF) {
		return -1, err
	}
	select {
	case res := <-wait.Result:
		if res.Error != nil && res.Error.Message != "" {
			return int(res.StatusCode), errors.New(res.Error.Message)
		}
		return int(res.StatusCode), nil
	case err := <-wait.Error:
		return -1, err
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

// CopyTo extracts an uncompressed tar stream into dir in the container.
func (r *Runtime) CopyTo(ctx context.Context, id, dir string, tar io.Reader) error {
	_, err := r.api.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: dir, Content: tar, CopyUIDGID: true})
	if err != nil {
		return fmt.Errorf("unable to copy into %s:%s: %w", shortID(id), dir, err)
	}
	return nil
}

// CopyFrom returns a tar stream of path in the container.
func (r *Runtime) CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, error) {
	res, err := r.api.CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: path})
	if err != nil {
		return nil, err
	}
	return res.Content, nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
