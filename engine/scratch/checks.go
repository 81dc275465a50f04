package scratch

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strings"

	"devstack/engine"
	"devstack/engine/model"
)

// PortEnv returns the variables a host check sees: DEVSTACK_HOST (where
// the engine publishes ports), DEVSTACK_PROJECT, and one
// DEVSTACK_PORT_<SERVICE>_<TARGET>=<host port> per published port of
// each service's first container (a _UDP or _SCTP suffix for those
// protocols). Service names are upper-cased, other characters become _.
func PortEnv(host, project string, containers []model.Container) []string {
	env := []string{"DEVSTACK_HOST=" + host, "DEVSTACK_PROJECT=" + project}
	first := map[string]model.Container{}
	for _, c := range containers {
		if c.OneOff {
			continue
		}
		if f, ok := first[c.Service]; !ok || c.Number < f.Number {
			first[c.Service] = c
		}
	}
	seen := map[string]bool{}
	var ports []string
	for svc, c := range first {
		for _, pp := range c.Ports {
			if pp.HostPort == 0 {
				continue
			}
			name := fmt.Sprintf("DEVSTACK_PORT_%s_%d", envName(svc), pp.Target)
			if proto := strings.ToUpper(pp.Protocol); proto != "" && proto != "TCP" {
				name += "_" + proto
			}
			if seen[name] {
				continue // the same port published on IPv4 and IPv6
			}
			seen[name] = true
			ports = append(ports, fmt.Sprintf("%s=%d", name, pp.HostPort))
		}
	}
	sort.Strings(ports)
	return append(env, ports...)
}

func envName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// publishHost is where ports the engine publishes can be reached from
// here: the loopback address for a local engine, the remote host's name
// for tcp:// and ssh:// engines.
func publishHost(engineHost string) string {
	u, err := url.Parse(engineHost)
	if err != nil || u.Scheme == "unix" || u.Scheme == "npipe" || u.Hostname() == "" {
		return "127.0.0.1"
	}
	return u.Hostname()
}

// runChecks runs the configured checks in order and returns the first
// that fails.
func runChecks(ctx context.Context, rt engine.Runtime, p *model.Project, checks []model.ScratchCheck) *Failure {
	if len(checks) == 0 {
		return nil
	}
	obs, err := rt.Observe(ctx, p)
	if err != nil {
		return &Failure{Phase: "check", Message: err.Error()}
	}
	env := PortEnv(publishHost(rt.Host()), p.Name, obs.Containers)
	for _, c := range checks {
		var f *Failure
		if c.Run != "" {
			f = hostCheck(ctx, p.WorkingDir, env, c)
		} else {
			f = serviceCheck(ctx, rt, obs, c)
		}
		if f != nil {
			if ctx.Err() != nil {
				f.Phase = "timeout"
				f.Message = "not done within the timeout: " + f.Message
			}
			return f
		}
	}
	return nil
}

func hostCheck(ctx context.Context, dir string, env []string, c model.ScratchCheck) *Failure {
	cmd := exec.CommandContext(ctx, "sh", "-c", c.Run)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	return &Failure{Phase: "check", Check: c.Name, Message: fmt.Sprintf("`%s` on the host: %v", c.Run, err), Tail: lastLines(out)}
}

func serviceCheck(ctx context.Context, rt engine.Runtime, obs model.Observed, c model.ScratchCheck) *Failure {
	id := ""
	for _, ct := range obs.Containers {
		if ct.Service == c.Service && !ct.OneOff && ct.State == model.StateRunning {
			id = ct.ID
			break
		}
	}
	if id == "" {
		return &Failure{Phase: "check", Service: c.Service, Check: c.Name, Message: fmt.Sprintf("service %s has no running container to run the check in", c.Service)}
	}
	var out bytes.Buffer
	code, err := rt.Exec(ctx, id, engine.ExecOptions{Cmd: c.Command, Stdout: &out, Stderr: &out})
	switch {
	case err != nil:
		return &Failure{Phase: "check", Service: c.Service, Check: c.Name, Message: fmt.Sprintf("unable to run %q: %v", strings.Join(c.Command, " "), err)}
	case code != 0:
		return &Failure{Phase: "check", Service: c.Service, Check: c.Name, Message: fmt.Sprintf("%q exited with code %d", strings.Join(c.Command, " "), code), Tail: lastLines(out.Bytes())}
	}
	return nil
}

func lastLines(b []byte) []string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	if len(lines) > tailLines {
		lines = lines[len(lines)-tailLines:]
	}
	return lines
}
