package load

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"devstack/engine/model"
)

// convertService maps one compose-go service onto the model and returns
// warnings for what it carries that devstack does not honour.
func convertService(cp *types.Project, s types.ServiceConfig) (model.Service, []model.Warning, error) {
	out := model.Service{
		Name:          s.Name,
		Image:         s.Image,
		Replicas:      s.GetScale(),
		Command:       nilIfEmpty(s.Command),
		Entrypoint:    nilIfEmpty(s.Entrypoint),
		Environment:   map[string]*string(s.Environment),
		WorkingDir:    s.WorkingDir,
		User:          s.User,
		Hostname:      s.Hostname,
		Domainname:    s.DomainName,
		ContainerName: s.ContainerName,
		ExtraHosts:    s.ExtraHosts.AsList(":"),
		DNS:           s.DNS,
		Labels:        s.Labels,
		Init:          s.Init,
		Privileged:    s.Privileged,
		ReadOnly:      s.ReadOnly,
		Tty:           s.Tty,
		StdinOpen:     s.StdinOpen,
		CapAdd:        s.CapAdd,
		CapDrop:       s.CapDrop,
		SecurityOpt:   s.SecurityOpt,
		Sysctls:       s.Sysctls,
		ShmSize:       int64(s.ShmSize),
		MemLimit:      int64(s.MemLimit),
		NanoCPUs:      int64(s.CPUS * 1e9),
		PidsLimit:     s.PidsLimit,
		Platform:      s.Platform,
		PullPolicy:    s.PullPolicy,
		NetworkMode:   s.NetworkMode,
		StopSignal:    s.StopSignal,
		Restart:       s.Restart,
		Expose:        s.Expose,
		Tmpfs:         s.Tmpfs,
	}
	if out.Image == "" {
		out.Image = strings.ToLower(cp.Name + "-" + s.Name)
	}
	if s.StopGracePeriod != nil {
		d := time.Duration(*s.StopGracePeriod)
		out.StopGracePeriod = &d
	}
	if s.Logging != nil {
		out.Logging = &model.Logging{Driver: s.Logging.Driver, Options: s.Logging.Options}
	}
	if len(s.Ulimits) > 0 {
		out.Ulimits = map[string]model.Ulimit{}
		for name, u := range s.Ulimits {
			if u.Single != 0 {
				out.Ulimits[name] = model.Ulimit{Soft: int64(u.Single), Hard: int64(u.Single)}
			} else {
				out.Ulimits[name] = model.Ulimit{Soft: int64(u.Soft), Hard: int64(u.Hard)}
			}
		}
	}
	if s.Deploy != nil {
		if r := s.Deploy.Resources.Limits; r != nil {
			if r.MemoryBytes != 0 && out.MemLimit == 0 {
				out.MemLimit = int64(r.MemoryBytes)
			}
			if r.NanoCPUs != 0 && out.NanoCPUs == 0 {
				out.NanoCPUs = int64(float64(r.NanoCPUs) * 1e9)
			}
			if r.Pids != 0 && out.PidsLimit == 0 {
				out.PidsLimit = r.Pids
			}
		}
		if rp := s.Deploy.RestartPolicy; rp != nil && out.Restart == "" {
			switch rp.Condition {
			case "any":
				out.Restart = "always"
			case "on-failure":
				out.Restart = "on-failure"
				if rp.MaxAttempts != nil {
					out.Restart += ":" + strconv.FormatUint(*rp.MaxAttempts, 10)
				}
			case "none":
				out.Restart = "no"
			}
		}
	}
	for _, p := range s.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		out.Ports = append(out.Ports, model.Port{Target: p.Target, Published: p.Published, HostIP: p.HostIP, Protocol: proto})
	}
	for _, v := range s.Volumes {
		m := model.Mount{Type: v.Type, Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly}
		switch v.Type {
		case types.VolumeTypeBind:
			m.CreateHostPath = v.Bind == nil || bool(v.Bind.CreateHostPath)
		case types.VolumeTypeVolume:
			if v.Volume != nil {
				m.NoCopy = v.Volume.NoCopy
			}
		case types.VolumeTypeTmpfs:
			if v.Tmpfs != nil {
				m.TmpfsSize = int64(v.Tmpfs.Size)
			}
		}
		out.Volumes = append(out.Volumes, m)
	}
	if len(s.Networks) > 0 {
		out.Networks = map[string]model.ServiceNetwork{}
		for key, n := range s.Networks {
			sn := model.ServiceNetwork{}
			if n != nil {
				sn = model.ServiceNetwork{Aliases: n.Aliases, IPv4Address: n.Ipv4Address, Priority: n.Priority}
			}
			out.Networks[key] = sn
		}
	}
	for _, r := range s.Secrets {
		out.Secrets = append(out.Secrets, fileRef(types.FileReferenceConfig(r), "/run/secrets/"))
	}
	for _, r := range s.Configs {
		out.Configs = append(out.Configs, fileRef(types.FileReferenceConfig(r), "/"))
	}
	if len(s.DependsOn) > 0 {
		out.DependsOn = map[string]model.Dependency{}
		for name, d := range s.DependsOn {
			cond := d.Condition
			if cond == "" {
				cond = model.ConditionStarted
			}
			out.DependsOn[name] = model.Dependency{Condition: cond, Required: d.Required, Restart: d.Restart}
		}
	}
	if hc := s.HealthCheck; hc != nil {
		h := &model.Healthcheck{Test: hc.Test, Disable: hc.Disable}
		if len(hc.Test) > 0 && hc.Test[0] == "NONE" {
			h.Disable = true
		}
		h.Interval = dur(hc.Interval)
		h.Timeout = dur(hc.Timeout)
		h.StartPeriod = dur(hc.StartPeriod)
		h.StartInterval = dur(hc.StartInterval)
		if hc.Retries != nil {
			h.Retries = *hc.Retries
		}
		out.Healthcheck = h
	}
	if s.Build != nil {
		b, err := convertBuild(cp, s)
		if err != nil {
			return out, nil, err
		}
		out.Build = b
	}
	if s.Develop != nil {
		for _, t := range s.Develop.Watch {
			out.Watch = append(out.Watch, convertTrigger(cp, t))
		}
	}
	ext, err := serviceExtension(s)
	if err != nil {
		return out, nil, err
	}
	out.Ext = ext
	return out, unsupported(s), nil
}

func convertBuild(cp *types.Project, s types.ServiceConfig) (*model.Build, error) {
	b := s.Build
	out := &model.Build{
		Context:    b.Context,
		Dockerfile: b.Dockerfile,
		Inline:     b.DockerfileInline,
		Args:       map[string]*string(b.Args),
		Target:     b.Target,
		Network:    b.Network,
		Labels:     b.Labels,
		ExtraHosts: b.ExtraHosts.AsList(":"),
		ShmSize:    int64(b.ShmSize),
		NoCache:    b.NoCache,
		Pull:       b.Pull,
		Tags:       b.Tags,
	}
	if out.Dockerfile == "" && out.Inline == "" {
		out.Dockerfile = "Dockerfile"
	}
	if strings.Contains(out.Context, "://") || strings.HasPrefix(out.Context, "git@") {
		return out, nil // a remote context: the engine fetches it
	}
	st, err := os.Stat(out.Context)
	if err != nil || !st.IsDir() {
		return nil, fmt.Errorf("service %q: build context %s does not exist or is not a directory: fix build.context in %s",
			s.Name, out.Context, strings.Join(cp.ComposeFiles, ", "))
	}
	if out.Inline == "" {
		df := out.Dockerfile
		if !filepath.IsAbs(df) {
			df = filepath.Join(out.Context, df)
		}
		if _, err := os.Stat(df); err != nil {
			return nil, fmt.Errorf("service %q: Dockerfile %s does not exist: fix build.dockerfile (relative to the build context %s)",
				s.Name, df, out.Context)
		}
	}
	return out, nil
}

func convertTrigger(cp *types.Project, t types.Trigger) model.WatchRule {
	path := t.Path
	if !filepath.IsAbs(path) {
		path = filepath.Join(cp.WorkingDir, path)
	}
	r := model.WatchRule{Path: path, Action: string(t.Action), Target: t.Target, Ignore: t.Ignore,
		Include: t.Include, InitialSync: t.InitialSync}
	if len(t.Exec.Command) > 0 {
		r.Exec = t.Exec.Command
		r.ExecUser = t.Exec.User
		r.ExecWorkDir = t.Exec.WorkingDir
		if len(t.Exec.Environment) > 0 {
			r.ExecEnv = map[string]string{}
			for k, v := range t.Exec.Environment {
				if v != nil {
					r.ExecEnv[k] = *v
				}
			}
		}
	}
	return r
}

func fileRef(f types.FileReferenceConfig, defaultDir string) model.FileRef {
	r := model.FileRef{Source: f.Source, Target: f.Target, UID: f.UID, GID: f.GID}
	if r.Target == "" {
		r.Target = defaultDir + f.Source
	} else if !strings.HasPrefix(r.Target, "/") {
		r.Target = defaultDir + r.Target
	}
	if f.Mode != nil {
		m := uint32(*f.Mode)
		r.Mode = &m
	}
	return r
}

func dur(d *types.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return time.Duration(*d)
}

func nilIfEmpty(s types.ShellCommand) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
