package docker

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"devstack/engine"
	"devstack/engine/model"
)

// spec is everything one ContainerCreate needs, plus the networks to
// connect afterwards (API 1.41 joins one network at create).
type spec struct {
	name     string
	config   *container.Config
	host     *container.HostConfig
	network  *network.NetworkingConfig
	platform *ocispec.Platform
	extra    []namedEndpoint
	// mac is the container-wide MAC address for an engine older than API
	// 1.44, which reads it from the create request's Config (a field the
	// client's Config type no longer has; see createWithMac).
	mac string
}

type namedEndpoint struct {
	name     string
	settings *network.EndpointSettings
}

// containerName is the engine-side name of a container: the caller's,
// a one-off's <project>-<service>-run-<random>, container_name, or
// compose v2's <project>-<service>-<n>.
func containerName(p *model.Project, svc *model.Service, number int, o engine.CreateOptions) string {
	switch {
	case o.Name != "":
		return o.Name
	case o.OneOff:
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		return fmt.Sprintf("%s-%s-run-%s", p.Name, svc.Name, hex.EncodeToString(b))
	case svc.ContainerName != "":
		return svc.ContainerName
	}
	return fmt.Sprintf("%s-%s-%d", p.Name, svc.Name, number)
}

// containerLabels are the service's labels plus compose's, which win.
func containerLabels(p *model.Project, svc *model.Service, number int, o engine.CreateOptions) map[string]string {
	labels := map[string]string{}
	for k, v := range svc.Labels {
		labels[k] = v
	}
	labels[model.LabelProject] = p.Name
	labels[model.LabelService] = svc.Name
	labels[model.LabelNumber] = strconv.Itoa(number)
	labels[model.LabelOneOff] = oneOffLabel(o.OneOff)
	labels[model.LabelConfigHash] = svc.ConfigHash
	labels[model.LabelWorkingDir] = p.WorkingDir
	labels[model.LabelConfigFiles] = strings.Join(p.ConfigFiles, ",")
	labels[model.LabelImage] = svc.Image
	labels[model.LabelVersion] = version
	labels[model.LabelManagedBy] = managedBy
	if o.Replace != "" {
		labels[model.LabelReplace] = o.Replace
	}
	// compose's format: service:condition:restart, sorted.
	deps := make([]string, 0, len(svc.DependsOn))
	for name, d := range svc.DependsOn {
		deps = append(deps, fmt.Sprintf("%s:%s:%t", name, d.Condition, d.Restart))
	}
	sort.Strings(deps)
	labels[model.LabelDependsOn] = strings.Join(deps, ",")
	return labels
}

// containerSpec maps every field of a service onto the engine's
// container configuration. What needs the engine (service: references
// resolved to containers, the API version) comes in rf, which the caller
// fills (resolveRefs). The function is otherwise pure.
func containerSpec(p *model.Project, svc *model.Service, number int, o engine.CreateOptions, rf refs) (*spec, error) {
	s := &spec{name: containerName(p, svc, number, o)}
	cfg := &container.Config{
		Image:        svc.Image,
		Cmd:          svc.Command,
		Entrypoint:   svc.Entrypoint,
		Env:          envList(svc.Environment),
		WorkingDir:   svc.WorkingDir,
		User:         svc.User,
		Hostname:     svc.Hostname,
		Domainname:   svc.Domainname,
		Labels:       containerLabels(p, svc, number, o),
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
		// As `docker run -i`: the engine closes stdin when the client
		// detaches it, so the process sees end of input.
		cfg.OpenStdin, cfg.AttachStdin, cfg.StdinOnce = true, true, true
		cfg.AttachStdout, cfg.AttachStderr = true, true
	}
	cfg.StopTimeout = seconds(svc.StopGracePeriod)
	if hc := svc.Healthcheck; hc != nil {
		test := hc.Test
		if hc.Disable {
			test = []string{"NONE"}
		}
		cfg.Healthcheck = &container.HealthConfig{Test: test, Interval: hc.Interval, Timeout: hc.Timeout,
			StartPeriod: hc.StartPeriod, StartInterval: hc.StartInterval, Retries: int(hc.Retries)}
	}
	if svc.Platform != "" {
		parts := strings.Split(svc.Platform, "/")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
			return nil, fmt.Errorf("platform %q: use os/arch[/variant], e.g. linux/amd64", svc.Platform)
		}
		s.platform = &ocispec.Platform{OS: parts[0], Architecture: parts[1]}
		if len(parts) == 3 {
			s.platform.Variant = parts[2]
		}
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
		a, err := netip.ParseAddr(d)
		if err != nil {
			return nil, fmt.Errorf("dns %q is not an IP address", d)
		}
		host.DNS = append(host.DNS, a)
	}
	for name, u := range svc.Ulimits {
		host.Ulimits = append(host.Ulimits, &container.Ulimit{Name: name, Soft: u.Soft, Hard: u.Hard})
	}
	sort.Slice(host.Ulimits, func(i, j int) bool { return host.Ulimits[i].Name < host.Ulimits[j].Name })
	if svc.Logging != nil {
		host.LogConfig = container.LogConfig{Type: svc.Logging.Driver, Config: svc.Logging.Options}
	}
	if !o.OneOff && !o.AutoRemove {
		rp, err := restartPolicy(svc.Restart)
		if err != nil {
			return nil, err
		}
		host.RestartPolicy = rp
	}

	for _, e := range svc.Expose {
		pr, err := network.ParsePortRange(e)
		if err != nil {
			return nil, fmt.Errorf("expose %q: use a port or range with an optional protocol, e.g. 8080 or 9000-9005/udp", e)
		}
		for pt := range pr.All() {
			cfg.ExposedPorts[pt] = struct{}{}
		}
	}
	if !o.NoPorts {
		if err := mapPorts(svc.Ports, cfg.ExposedPorts, host.PortBindings); err != nil {
			return nil, err
		}
	}
	if err := mapMounts(p, svc, host, rf); err != nil {
		return nil, err
	}
	if err := mapEngineFields(svc, rf, host); err != nil {
		return nil, err
	}

	s.config, s.host = cfg, host
	s.network = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{}}
	switch mode := rf.networkMode; {
	case mode == "host" || mode == "none" || strings.HasPrefix(mode, "container:"):
		host.NetworkMode = container.NetworkMode(mode)
	case mode != "" && mode != "default" && len(svc.Networks) == 0:
		host.NetworkMode = container.NetworkMode(mode) // e.g. bridge
	default:
		if err := s.mapNetworks(p, svc, number, o, rf); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// anonymousVolumes completes a container's mounts with its anonymous
// volumes. Every VOLUME of the image (imageVolumes) that no mount of the
// service covers becomes an explicit anonymous volume labelled with the
// project, as the service's own anonymous volumes are: the engine makes
// the same volume either way, but only a labelled one can be found again
// by down -v once a replacement has taken it over (the engine counts a
// volume mounted by name as named, and leaves it behind when the
// container is removed with its volumes).
//
// A VOLUME at a target the container gets through volumes_from (shared:
// those targets) is left to the engine, which mounts the shared one
// there, as it does for Compose's containers: an explicit mount would
// win over volumes_from and hide the other container's data behind a
// fresh volume (a pre_start step made from the service's image would
// write into a volume thrown away with it).
//
// On recreate, old holds the mounts of the replaced container: each
// anonymous volume is then, as Compose does, the volume the old container
// had at the same target, so that its data lives on. A named volume of
// the project at that target is not taken over as an anonymous one.
func anonymousVolumes(host *container.HostConfig, p *model.Project, imageVolumes, shared []string, old []container.MountPoint) {
	covered := map[string]bool{}
	for _, target := range shared {
		covered[path.Clean(target)] = true
	}
	for _, m := range host.Mounts {
		covered[path.Clean(m.Target)] = true
	}
	for _, b := range host.Binds {
		if parts := strings.Split(b, ":"); len(parts) > 1 {
			covered[path.Clean(parts[1])] = true
		}
	}
	for target := range host.Tmpfs {
		covered[path.Clean(target)] = true
	}
	sort.Strings(imageVolumes)
	for _, v := range imageVolumes {
		if target := path.Clean(v); !covered[target] {
			covered[target] = true
			host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeVolume, Target: target,
				VolumeOptions: &mount.VolumeOptions{Labels: map[string]string{model.LabelProject: p.Name}}})
		}
	}

	named := map[string]bool{}
	for key, v := range p.Volumes {
		named[key] = true
		if v.Name != "" {
			named[v.Name] = true
		}
	}
	previous := map[string]string{} // target -> the old container's anonymous volume there
	for _, m := range old {
		if m.Type == mount.TypeVolume && m.Name != "" && !named[m.Name] {
			previous[path.Clean(m.Destination)] = m.Name
		}
	}
	for i, m := range host.Mounts {
		name, ok := previous[path.Clean(m.Target)]
		if m.Type != mount.TypeVolume || m.Source != "" || !ok {
			continue
		}
		host.Mounts[i].Source = name
		host.Mounts[i].VolumeOptions = nil // the volume exists: nothing to create
		if m.VolumeOptions != nil && m.VolumeOptions.NoCopy {
			host.Mounts[i].VolumeOptions = &mount.VolumeOptions{NoCopy: true}
		}
	}
}

// mapNetworks joins the service's networks: the one of highest priority
// (then by name) at create, the others after.
func (s *spec) mapNetworks(p *model.Project, svc *model.Service, number int, o engine.CreateOptions, rf refs) error {
	keys := make([]string, 0, len(svc.Networks))
	for k := range svc.Networks {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := svc.Networks[keys[i]].Priority, svc.Networks[keys[j]].Priority
		if a != b {
			return a > b
		}
		return keys[i] < keys[j]
	})
	if len(keys) > 0 {
		mac, err := mainMac(svc, keys[0], rf)
		if err != nil {
			return err
		}
		s.mac = mac
	}
	for i, k := range keys {
		sn := svc.Networks[k]
		netName := k
		if n, ok := p.Networks[k]; ok && n.Name != "" {
			netName = n.Name
		}
		// As compose: the container's name always; the service name and
		// the configured aliases only for service containers, so that a
		// one-off `run` container does not receive the service's traffic.
		aliases := []string{s.name}
		if !o.OneOff {
			// The name it is known by: a replacement, made under a
			// temporary name, is renamed to it before it starts.
			aliases[0] = containerName(p, svc, number, engine.CreateOptions{})
		}
		if !o.OneOff || o.UseAliases {
			aliases = append(aliases, svc.Name)
			aliases = append(aliases, sn.Aliases...)
		}
		es := &network.EndpointSettings{Aliases: dedupe(aliases), DriverOpts: sn.DriverOpts}
		if i == 0 {
			// As Compose: links are the main network's (on a user-defined
			// network the engine makes them aliases of the linked container).
			es.Links = rf.links
		}
		if sn.IPv4Address != "" || sn.IPv6Address != "" {
			es.IPAMConfig = &network.EndpointIPAMConfig{}
		}
		if sn.IPv4Address != "" {
			a, err := netip.ParseAddr(sn.IPv4Address)
			if err != nil || !a.Is4() {
				return fmt.Errorf("network %s: ipv4_address %q is not an IPv4 address", k, sn.IPv4Address)
			}
			es.IPAMConfig.IPv4Address = a
		}
		if sn.IPv6Address != "" {
			a, err := netip.ParseAddr(sn.IPv6Address)
			if err != nil || !a.Is6() || a.Is4In6() {
				return fmt.Errorf("network %s: ipv6_address %q is not an IPv6 address", k, sn.IPv6Address)
			}
			es.IPAMConfig.IPv6Address = a
		}
		if rf.apiAtLeast("1.44") {
			mac := sn.MacAddress
			if i == 0 && mac == "" {
				mac = svc.MacAddress
			}
			if mac != "" {
				hw, err := net.ParseMAC(mac)
				if err != nil {
					return fmt.Errorf("network %s: mac_address %q is not a MAC address", k, mac)
				}
				es.MacAddress = network.HardwareAddr(hw)
			}
		}
		if i == 0 {
			s.host.NetworkMode = container.NetworkMode(netName)
			s.network.EndpointsConfig[netName] = es
		} else {
			s.extra = append(s.extra, namedEndpoint{netName, es})
		}
	}
	return nil
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	out := in[:0]
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// mapMounts turns the service's volumes and tmpfs into mounts.
func mapMounts(p *model.Project, svc *model.Service, host *container.HostConfig, rf refs) error {
	for _, m := range svc.Volumes {
		switch m.Type {
		case model.MountBind:
			if m.CreateHostPath || m.SELinux != "" {
				// SELinux relabelling (:z, :Z) exists only in the Binds
				// form, which also creates a missing host directory.
				// Binds, not Mounts: on API 1.41 only a bind in Binds makes
				// the engine create a missing host directory.
				var opts []string
				if m.ReadOnly {
					opts = append(opts, "ro")
				}
				switch m.SELinux {
				case "":
				case "z", "Z":
					opts = append(opts, m.SELinux)
				default:
					return fmt.Errorf("volume %s: bind.selinux %q: use z (shared) or Z (private)", m.Target, m.SELinux)
				}
				bind := m.Source + ":" + m.Target
				if len(opts) > 0 {
					bind += ":" + strings.Join(opts, ",")
				}
				host.Binds = append(host.Binds, bind)
				continue
			}
			// A Mount fails when the source is missing, on the engine's
			// host, which is the right place to look on a remote engine.
			host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
		case model.MountVolume:
			source := m.Source
			if v, ok := p.Volumes[m.Source]; ok && v.Name != "" {
				source = v.Name
			}
			mt := mount.Mount{Type: mount.TypeVolume, Source: source, Target: m.Target, ReadOnly: m.ReadOnly}
			if m.NoCopy || source == "" || m.Subpath != "" {
				mt.VolumeOptions = &mount.VolumeOptions{NoCopy: m.NoCopy}
			}
			if m.Subpath != "" {
				// An older engine ignores the field and would mount the
				// whole volume where a directory of it was asked for.
				if !rf.apiAtLeast("1.45") {
					return fmt.Errorf("volume %s: %w", m.Target, rf.tooOld("volume.subpath", "1.45"))
				}
				mt.VolumeOptions.Subpath = m.Subpath
			}
			if source == "" {
				// Anonymous: labelled so that the project's cleanup finds it.
				mt.VolumeOptions.Labels = map[string]string{model.LabelProject: p.Name}
			}
			host.Mounts = append(host.Mounts, mt)
		case model.MountTmpfs:
			mt := mount.Mount{Type: mount.TypeTmpfs, Target: m.Target, ReadOnly: m.ReadOnly}
			if m.TmpfsSize > 0 {
				mt.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: m.TmpfsSize}
			}
			host.Mounts = append(host.Mounts, mt)
		default:
			return fmt.Errorf("volume %s: type %q is not supported (use volume, bind or tmpfs)", m.Target, m.Type)
		}
	}
	if len(svc.Tmpfs) > 0 {
		host.Tmpfs = map[string]string{}
		for _, t := range svc.Tmpfs {
			target, opts, _ := strings.Cut(t, ":")
			host.Tmpfs[target] = opts
		}
	}
	return nil
}

func envList(env map[string]*string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		if v == nil {
			out = append(out, k) // the engine leaves a bare name unset
		} else {
			out = append(out, k+"="+*v)
		}
	}
	sort.Strings(out)
	return out
}

func restartPolicy(s string) (container.RestartPolicy, error) {
	name, count, hasCount := strings.Cut(s, ":")
	switch name {
	case "", "no":
		return container.RestartPolicy{Name: container.RestartPolicyDisabled}, nil
	case "always":
		return container.RestartPolicy{Name: container.RestartPolicyAlways}, nil
	case "unless-stopped":
		return container.RestartPolicy{Name: container.RestartPolicyUnlessStopped}, nil
	case "on-failure":
		rp := container.RestartPolicy{Name: container.RestartPolicyOnFailure}
		if hasCount {
			n, err := strconv.Atoi(count)
			if err != nil || n < 0 {
				return rp, fmt.Errorf("restart %q: the retry count must be a number, as in on-failure:3", s)
			}
			rp.MaximumRetryCount = n
		}
		return rp, nil
	}
	return container.RestartPolicy{}, fmt.Errorf("restart %q: use no, always, on-failure[:N] or unless-stopped", s)
}

// mapPorts fills exposed ports and bindings. A published range
// ("8080-8081") is handed to the engine, which picks a free port in it.
func mapPorts(ports []model.Port, exposed network.PortSet, bindings network.PortMap) error {
	for _, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		if p.Target == 0 || p.Target > 65535 {
			return fmt.Errorf("port %d: the container port must be 1-65535", p.Target)
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
				return fmt.Errorf("port %d: host IP %q is not an IP address", p.Target, p.HostIP)
			}
			b.HostIP = a
		}
		bindings[pt] = append(bindings[pt], b)
	}
	return nil
}

// oneOffLabel is the oneoff label's value as compose writes and filters it:
// "True" / "False", capitalised (docker compose ps lists only "False").
func oneOffLabel(oneOff bool) string {
	if oneOff {
		return "True"
	}
	return "False"
}
