package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"devstack/engine"
	"devstack/engine/model"
)

// version is written in the com.docker.compose.version label.
const version = "2.40.0"

// projectLabels are the labels every resource of the project carries.
func projectLabels(p *model.Project) map[string]string {
	return map[string]string{
		model.LabelProject:     p.Name,
		model.LabelWorkingDir:  p.WorkingDir,
		model.LabelConfigFiles: strings.Join(p.ConfigFiles, ","),
		model.LabelVersion:     version,
		model.LabelManagedBy:   "devstack",
	}
}

// CreateContainer creates replica number of svc, configured as compose would.
func (r *Runtime) CreateContainer(ctx context.Context, p *model.Project, svc *model.Service, number int, o engine.CreateOptions) (string, error) {
	name := o.Name
	if name == "" {
		name = fmt.Sprintf("%s-%s-%d", p.Name, svc.Name, number)
	}
	cfg, host, netCfg, extraNets, err := r.containerSpec(ctx, p, svc, number, o)
	if err != nil {
		return "", fmt.Errorf("service %q: %w", svc.Name, err)
	}
	res, err := r.api.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: cfg, HostConfig: host, NetworkingConfig: netCfg, Name: name,
	})
	if err != nil {
		return "", err
	}
	id := res.ID
	// API 1.41 joins one network at create; the others are connected now.
	for _, n := range extraNets {
		if _, err := r.api.NetworkConnect(ctx, n.name, client.NetworkConnectOptions{Container: id, EndpointConfig: n.settings}); err != nil {
			_ = r.RemoveContainer(context.WithoutCancel(ctx), id, true)
			return "", fmt.Errorf("unable to connect %s to network %s: %w", name, n.name, err)
		}
	}
	if err := r.injectFiles(ctx, p, svc, id); err != nil {
		_ = r.RemoveContainer(context.WithoutCancel(ctx), id, true)
		return "", fmt.Errorf("service %q: %w", svc.Name, err)
	}
	return id, nil
}

type namedEndpoint struct {
	name     string
	settings *network.EndpointSettings
}

// containerSpec maps a service onto the engine's container configuration.
func (r *Runtime) containerSpec(ctx context.Context, p *model.Project, svc *model.Service, number int, o engine.CreateOptions) (*container.Config, *container.HostConfig, *network.NetworkingConfig, []namedEndpoint, error) {
	labels := projectLabels(p)
	for k, v := range svc.Labels {
		labels[k] = v
	}
	labels[model.LabelService] = svc.Name
	labels[model.LabelNumber] = strconv.Itoa(number)
	labels[model.LabelOneOff] = oneOffLabel(o.OneOff)
	labels[model.LabelConfigHash] = svc.ConfigHash
	labels[model.LabelImage] = svc.Image
	if o.Replace != "" {
		labels[model.LabelReplace] = o.Replace
	}
	var deps []string
	for name, d := range svc.DependsOn {
		deps = append(deps, fmt.Sprintf("%s:%s:%t", name, d.Condition, d.Restart))
	}
	sort.Strings(deps)
	labels[model.LabelDependsOn] = strings.Join(deps, ",")

	cfg := &container.Config{
		Image:        svc.Image,
		Cmd:          svc.Command,
		Entrypoint:   svc.Entrypoint,
		Env:          envList(svc.Environment),
		WorkingDir:   svc.WorkingDir,
		User:         svc.User,
		Hostname:     svc.Hostname,
		Domainname:   svc.Domainname,
		Labels:       labels,
		Tty:          svc.Tty,
		OpenStdin:    svc.StdinOpen,
		StopSignal:   svc.StopSignal,
		ExposedPorts: network.PortSet{},
	}
	if o.Command != nil {
		cfg.Cmd = o.Command
	}
	if o.Tty != nil {
		cfg.Tty = *o.Tty
	}
	if o.Stdin {
		cfg.OpenStdin, cfg.AttachStdin, cfg.StdinOnce = true, true, true
		cfg.AttachStdout, cfg.AttachStderr = true, true
	}
	if svc.StopGracePeriod != nil {
		secs := int(svc.StopGracePeriod.Seconds())
		cfg.StopTimeout = &secs
	}
	if hc := svc.Healthcheck; hc != nil {
		test := hc.Test
		if hc.Disable {
			test = []string{"NONE"}
		}
		cfg.Healthcheck = &container.HealthConfig{Test: test, Interval: hc.Interval, Timeout: hc.Timeout,
			StartPeriod: hc.StartPeriod, StartInterval: hc.StartInterval, Retries: int(hc.Retries)}
	}

	host := &container.HostConfig{
		Init:           svc.Init,
		Privileged:     svc.Privileged,
		ReadonlyRootfs: svc.ReadOnly,
		CapAdd:         svc.CapAdd,
		CapDrop:        svc.CapDrop,
		SecurityOpt:    svc.SecurityOpt,
		Sysctls:        svc.Sysctls,
		ShmSize:        svc.ShmSize,
		ExtraHosts:     svc.ExtraHosts,
		AutoRemove:     o.AutoRemove,
		PortBindings:   network.PortMap{},
	}
	host.Memory = svc.MemLimit
	host.NanoCPUs = svc.NanoCPUs
	if svc.PidsLimit != 0 {
		limit := svc.PidsLimit
		host.PidsLimit = &limit
	}
	for _, d := range svc.DNS {
		if a, err := netip.ParseAddr(d); err == nil {
			host.DNS = append(host.DNS, a)
		}
	}
	for name, u := range svc.Ulimits {
		host.Ulimits = append(host.Ulimits, &container.Ulimit{Name: name, Soft: u.Soft, Hard: u.Hard})
	}
	sort.Slice(host.Ulimits, func(i, j int) bool { return host.Ulimits[i].Name < host.Ulimits[j].Name })
	if svc.Logging != nil {
		host.LogConfig = container.LogConfig{Type: svc.Logging.Driver, Config: svc.Logging.Options}
	}
	if !o.OneOff {
		rp, err := restartPolicy(svc.Restart)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		host.RestartPolicy = rp
	}

	for _, e := range svc.Expose {
		port, proto, _ := strings.Cut(e, "/")
		if proto == "" {
			proto = "tcp"
		}
		if pt, err := network.ParsePort(port + "/" + proto); err == nil {
			cfg.ExposedPorts[pt] = struct{}{}
		}
	}
	if !o.NoPorts {
		if err := mapPorts(svc.Ports, cfg.ExposedPorts, host.PortBindings); err != nil {
			return nil, nil, nil, nil, err
		}
	}

	for _, m := range svc.Volumes {
		switch m.Type {
		case model.MountBind:
			if !m.CreateHostPath {
				if _, err := os.Stat(m.Source); err != nil {
					return nil, nil, nil, nil, fmt.Errorf("bind mount source %s does not exist (create_host_path is false)", m.Source)
				}
			}
			// Binds (not Mounts) so the engine creates a missing host
			// directory, as compose does.
			bind := m.Source + ":" + m.Target
			if m.ReadOnly {
				bind += ":ro"
			}
			host.Binds = append(host.Binds, bind)
		case model.MountVolume:
			source := m.Source
			if v, ok := p.Volumes[m.Source]; ok {
				source = v.Name
			}
			mt := mount.Mount{Type: mount.TypeVolume, Source: source, Target: m.Target, ReadOnly: m.ReadOnly}
			if m.NoCopy {
				mt.VolumeOptions = &mount.VolumeOptions{NoCopy: true}
			}
			if source == "" {
				mt.VolumeOptions = &mount.VolumeOptions{NoCopy: m.NoCopy, Labels: map[string]string{model.LabelProject: p.Name}}
			}
			host.Mounts = append(host.Mounts, mt)
		case model.MountTmpfs:
			mt := mount.Mount{Type: mount.TypeTmpfs, Target: m.Target}
			if m.TmpfsSize > 0 {
				mt.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: m.TmpfsSize}
			}
			host.Mounts = append(host.Mounts, mt)
		default:
			return nil, nil, nil, nil, fmt.Errorf("volume type %q is not supported", m.Type)
		}
	}
	if len(svc.Tmpfs) > 0 {
		host.Tmpfs = map[string]string{}
		for _, t := range svc.Tmpfs {
			target, opts, _ := strings.Cut(t, ":")
			host.Tmpfs[target] = opts
		}
	}

	netCfg := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{}}
	var extra []namedEndpoint
	switch mode := svc.NetworkMode; {
	case mode == "host" || mode == "none" || strings.HasPrefix(mode, "container:"):
		host.NetworkMode = container.NetworkMode(mode)
	case strings.HasPrefix(mode, "service:"):
		target := strings.TrimPrefix(mode, "service:")
		id, err := r.firstContainer(ctx, p.Name, target)
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("network_mode %s: %w", mode, err)
		}
		host.NetworkMode = container.NetworkMode("container:" + id)
	default:
		keys := make([]string, 0, len(svc.Networks))
		for k := range svc.Networks {
			keys = append(keys, k)
		}
		// The network with the highest priority is joined at create.
		sort.Slice(keys, func(i, j int) bool {
			a, b := svc.Networks[keys[i]].Priority, svc.Networks[keys[j]].Priority
			if a != b {
				return a > b
			}
			return keys[i] < keys[j]
		})
		shortName := fmt.Sprintf("%s-%s-%d", p.Name, svc.Name, number)
		for i, k := range keys {
			sn := svc.Networks[k]
			netName := k
			if n, ok := p.Networks[k]; ok {
				netName = n.Name
			}
			aliases := []string{svc.Name}
			if !o.OneOff {
				aliases = append(aliases, shortName)
			}
			aliases = append(aliases, sn.Aliases...)
			es := &network.EndpointSettings{Aliases: aliases}
			if sn.IPv4Address != "" {
				if a, err := netip.ParseAddr(sn.IPv4Address); err == nil {
					es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: a}
				}
			}
			if i == 0 {
				host.NetworkMode = container.NetworkMode(netName)
				netCfg.EndpointsConfig[netName] = es
			} else {
				extra = append(extra, namedEndpoint{netName, es})
			}
		}
	}
	return cfg, host, netCfg, extra, nil
}

// oneOffLabel is the oneoff label's value as compose writes and filters
// it: "True" / "False", capitalised.
func oneOffLabel(oneOff bool) string {
	if oneOff {
		return "True"
	}
	return "False"
}

func envList(env map[string]*string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		if v == nil {
			out = append(out, k)
		} else {
			out = append(out, k+"="+*v)
		}
	}
	sort.Strings(out)
	return out
}

func restartPolicy(s string) (container.RestartPolicy, error) {
	name, count, _ := strings.Cut(s, ":")
	switch name {
	case "", "no":
		return container.RestartPolicy{Name: container.RestartPolicyDisabled}, nil
	case "always":
		return container.RestartPolicy{Name: container.RestartPolicyAlways}, nil
	case "unless-stopped":
		return container.RestartPolicy{Name: container.RestartPolicyUnlessStopped}, nil
	case "on-failure":
		rp := container.RestartPolicy{Name: container.RestartPolicyOnFailure}
		if count != "" {
			n, err := strconv.Atoi(count)
			if err != nil {
				return rp, fmt.Errorf("restart %q: the retry count is not a number", s)
			}
			rp.MaximumRetryCount = n
		}
		return rp, nil
	}
	return container.RestartPolicy{}, fmt.Errorf("restart %q: use no, always, on-failure[:N] or unless-stopped", s)
}

// mapPorts fills exposed ports and bindings, expanding published ranges.
func mapPorts(ports []model.Port, exposed network.PortSet, bindings network.PortMap) error {
	for _, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		pt, err := network.ParsePort(fmt.Sprintf("%d/%s", p.Target, proto))
		if err != nil {
			return fmt.Errorf("port %d/%s: %w", p.Target, proto, err)
		}
		exposed[pt] = struct{}{}
		b := network.PortBinding{HostPort: p.Published}
		if p.HostIP != "" {
			a, err := netip.ParseAddr(p.HostIP)
			if err != nil {
				return fmt.Errorf("port %d: host IP %q: %w", p.Target, p.HostIP, err)
			}
			b.HostIP = a
		}
		bindings[pt] = append(bindings[pt], b)
	}
	return nil
}

func (r *Runtime) firstContainer(ctx context.Context, project, service string) (string, error) {
	res, err := r.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.
		Add("label", model.LabelProject+"="+project, model.LabelService+"="+service, model.LabelOneOff+"="+oneOffLabel(false))})
	if err != nil {
		return "", err
	}
	for _, c := range res.Items {
		if c.Labels[model.LabelNumber] == "1" {
			return c.ID, nil
		}
	}
	if len(res.Items) > 0 {
		return res.Items[0].ID, nil
	}
	return "", fmt.Errorf("service %q has no container yet", service)
}

// injectFiles copies the service's secrets and configs into the created
// container. Copying (not bind-mounting) works on remote engines too.
func (r *Runtime) injectFiles(ctx context.Context, p *model.Project, svc *model.Service, id string) error {
	type file struct {
		ref  model.FileRef
		data []byte
	}
	var files []file
	add := func(kind string, refs []model.FileRef, objs map[string]model.FileObject) error {
		for _, ref := range refs {
			obj, ok := objs[ref.Source]
			if !ok {
				return fmt.Errorf("%s %q is not defined at the top level of the compose file", kind, ref.Source)
			}
			var data []byte
			switch {
			case obj.File != "":
				b, err := os.ReadFile(obj.File)
				if err != nil {
					return fmt.Errorf("%s %q: %w", kind, ref.Source, err)
				}
				data = b
			case obj.Content != "":
				data = []byte(obj.Content)
			case obj.Environment != "":
				data = []byte(p.Environment[obj.Environment])
			case obj.External:
				return fmt.Errorf("%s %q is external, which needs swarm; use file: instead", kind, ref.Source)
			}
			files = append(files, file{ref, data})
		}
		return nil
	}
	if err := add("secret", svc.Secrets, p.Secrets); err != nil {
		return err
	}
	if err := add("config", svc.Configs, p.Configs); err != nil {
		return err
	}
	if len(files) == 0 {
		return nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	now := time.Now()
	for _, f := range files {
		target := strings.TrimPrefix(path.Clean(f.ref.Target), "/")
		for d := path.Dir(target); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: now}); err != nil {
				return err
			}
		}
		mode := int64(0o444)
		if f.ref.Mode != nil {
			mode = int64(*f.ref.Mode)
		}
		uid, _ := strconv.Atoi(f.ref.UID)
		gid, _ := strconv.Atoi(f.ref.GID)
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: target, Mode: mode, Size: int64(len(f.data)), Uid: uid, Gid: gid, ModTime: now}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	_, err := r.api.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: "/", Content: &buf, CopyUIDGID: true})
	if err != nil {
		return fmt.Errorf("unable to copy secrets and configs into the container: %w", err)
	}
	return nil
}

// StartContainer starts a created or stopped container.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	_, err := r.api.ContainerStart(ctx, id, client.ContainerStartOptions{})
	return err
}

func seconds(d *time.Duration) *int {
	if d == nil {
		return nil
	}
	s := int(d.Seconds())
	return &s
}

// StopContainer stops with the given grace period.
func (r *Runtime) StopContainer(ctx context.Context, id string, timeout *time.Duration) error {
	_, err := r.api.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: seconds(timeout)})
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// KillContainer sends a signal.
func (r *Runtime) KillContainer(ctx context.Context, id, signal string) error {
	_, err := r.api.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: signal})
	return err
}

// RestartContainer stops and starts a container.
func (r *Runtime) RestartContainer(ctx context.Context, id string, timeout *time.Duration) error {
	_, err := r.api.ContainerRestart(ctx, id, client.ContainerRestartOptions{Timeout: seconds(timeout)})
	return err
}

// RemoveContainer force-removes a container; a missing one is no error.
func (r *Runtime) RemoveContainer(ctx context.Context, id string, volumes bool) error {
	_, err := r.api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: volumes})
	if cerrdefs.IsNotFound(err) || (err != nil && strings.Contains(err.Error(), "is already in progress")) {
		return nil
	}
	return err
}
