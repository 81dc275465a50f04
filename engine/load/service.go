package load

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"devstack/engine/model"
)

// convertService maps one compose-go service onto the model. Attributes it
// leaves out are reported by attributeWarnings (see attributes.go).
func convertService(cp *types.Project, s types.ServiceConfig, files []string) (model.Service, error) {
	out := model.Service{
		Name:          s.Name,
		Image:         s.Image,
		Replicas:      s.GetScale(),
		Command:       command(s.Command),
		Entrypoint:    command(s.Entrypoint),
		Environment:   map[string]*string(s.Environment),
		WorkingDir:    s.WorkingDir,
		User:          s.User,
		Hostname:      s.Hostname,
		Domainname:    s.DomainName,
		ContainerName: s.ContainerName,
		ExtraHosts:    hosts(s.ExtraHosts),
		DNS:           nilIfEmpty(s.DNS),
		Labels:        nilIfEmptyMap(s.Labels),
		Init:          s.Init,
		Privileged:    s.Privileged,
		ReadOnly:      s.ReadOnly,
		Tty:           s.Tty,
		StdinOpen:     s.StdinOpen,
		CapAdd:        nilIfEmpty(s.CapAdd),
		CapDrop:       nilIfEmpty(s.CapDrop),
		SecurityOpt:   nilIfEmpty(s.SecurityOpt),
		Sysctls:       nilIfEmptyMap(s.Sysctls),
		ShmSize:       int64(s.ShmSize),
		MemLimit:      int64(s.MemLimit),
		NanoCPUs:      nanoCPUs(s.CPUS),
		PidsLimit:     s.PidsLimit,
		Platform:      s.Platform,
		PullPolicy:    s.PullPolicy,
		NetworkMode:   s.NetworkMode,
		StopSignal:    s.StopSignal,
		Restart:       s.Restart,
		Expose:        nilIfEmpty(s.Expose),
		Tmpfs:         nilIfEmpty(s.Tmpfs),
		Attach:        s.Attach,

		Ipc:               s.Ipc,
		Pid:               s.Pid,
		Uts:               s.Uts,
		VolumesFrom:       nilIfEmpty(s.VolumesFrom),
		Links:             nilIfEmpty(s.Links),
		ExternalLinks:     nilIfEmpty(s.ExternalLinks),
		GroupAdd:          nilIfEmpty(s.GroupAdd),
		DNSSearch:         nilIfEmpty(s.DNSSearch),
		DNSOpts:           nilIfEmpty(s.DNSOpts),
		Runtime:           s.Runtime,
		MacAddress:        s.MacAddress,
		Annotations:       nilIfEmptyMap(s.Annotations),
		UseAPISocket:      s.UseAPISocket,
		CPUShares:         s.CPUShares,
		CPUQuota:          s.CPUQuota,
		CPUPeriod:         s.CPUPeriod,
		CPUSet:            s.CPUSet,
		CPURTPeriod:       s.CPURTPeriod,
		CPURTRuntime:      s.CPURTRuntime,
		MemSwappiness:     swappiness(s.MemSwappiness),
		MemReservation:    int64(s.MemReservation),
		MemSwapLimit:      int64(s.MemSwapLimit),
		OomScoreAdj:       s.OomScoreAdj,
		OomKillDisable:    s.OomKillDisable,
		Blkio:             blkio(s.BlkioConfig),
		DeviceCgroupRules: nilIfEmpty(s.DeviceCgroupRules),
		PostStart:         hooks(s.PostStart),
		PreStop:           hooks(s.PreStop),
		PreStart:          preStart(s.PreStart),
	}
	for _, d := range s.Devices {
		out.Devices = append(out.Devices, model.Device{Source: d.Source, Target: d.Target, Permissions: d.Permissions})
	}
	for _, g := range s.Gpus {
		// As Compose: gpus: asks for the "gpu" capability besides any named.
		out.DeviceRequests = append(out.DeviceRequests, deviceRequest(g, "gpu"))
	}
	if len(out.Environment) == 0 {
		out.Environment = nil
	}
	if out.Image == "" {
		// compose's name for the image of a build-only service.
		out.Image = strings.ToLower(cp.Name + "-" + s.Name)
	}
	if out.PullPolicy == types.PullPolicyIfNotPresent {
		out.PullPolicy = types.PullPolicyMissing
	}
	if s.StopGracePeriod != nil {
		d := time.Duration(*s.StopGracePeriod)
		out.StopGracePeriod = &d
	}
	if s.Logging != nil && (s.Logging.Driver != "" || len(s.Logging.Options) > 0) {
		out.Logging = &model.Logging{Driver: s.Logging.Driver, Options: nilIfEmptyMap(s.Logging.Options)}
	}
	out.Ulimits = ulimits(s.Ulimits)
	deploy(&out, s.Deploy)
	for _, p := range s.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		out.Ports = append(out.Ports, model.Port{Target: p.Target, Published: p.Published, HostIP: p.HostIP, Protocol: proto})
	}
	for _, v := range s.Volumes {
		if m, ok := mount(v); ok {
			out.Volumes = append(out.Volumes, m)
		}
	}
	if len(s.Networks) > 0 {
		out.Networks = map[string]model.ServiceNetwork{}
		for key, n := range s.Networks {
			var sn model.ServiceNetwork
			if n != nil {
				sn = model.ServiceNetwork{Aliases: nilIfEmpty(n.Aliases), IPv4Address: n.Ipv4Address, IPv6Address: n.Ipv6Address,
					MacAddress: n.MacAddress, DriverOpts: nilIfEmptyMap(n.DriverOpts), Priority: n.Priority}
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
	out.Healthcheck = healthcheck(s.HealthCheck)
	if s.Build != nil {
		b, err := convertBuild(s, files)
		if err != nil {
			return out, err
		}
		out.Build = b
	}
	if s.Develop != nil {
		for _, t := range s.Develop.Watch {
			out.Watch = append(out.Watch, convertTrigger(cp.WorkingDir, t))
		}
	}
	ext, err := serviceExtension(s, files)
	if err != nil {
		return out, err
	}
	out.Ext = ext
	return out, nil
}

// deploy takes what a single engine can honour from deploy: (replicas are
// already in GetScale): resource limits and the restart policy, unless the
// top-level attributes say otherwise.
func deploy(out *model.Service, d *types.DeployConfig) {
	if d == nil {
		return
	}
	if r := d.Resources.Limits; r != nil {
		if r.MemoryBytes != 0 && out.MemLimit == 0 {
			out.MemLimit = int64(r.MemoryBytes)
		}
		if r.NanoCPUs != 0 && out.NanoCPUs == 0 {
			out.NanoCPUs = nanoCPUs(float32(r.NanoCPUs))
		}
		if r.Pids != 0 && out.PidsLimit == 0 {
			out.PidsLimit = r.Pids
		}
	}
	if r := d.Resources.Reservations; r != nil {
		// What a single engine can reserve, as Compose: memory (a soft
		// limit) and devices; CPU reservations are a swarm setting.
		if r.MemoryBytes != 0 {
			out.MemReservation = int64(r.MemoryBytes)
		}
		for _, dev := range r.Devices {
			out.DeviceRequests = append(out.DeviceRequests, deviceRequest(dev))
		}
	}
	if rp := d.RestartPolicy; rp != nil && out.Restart == "" {
		switch rp.Condition {
		case "any", "":
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

// nanoCPUs converts compose's float32 cpus to the engine's billionths,
// through the decimal text so that 0.1 is 100000000 and not 100000001.
func nanoCPUs(cpus float32) int64 {
	if cpus == 0 {
		return 0
	}
	f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(cpus), 'f', -1, 32), 64)
	return int64(math.Round(f * 1e9))
}

func ulimits(in map[string]*types.UlimitsConfig) map[string]model.Ulimit {
	if len(in) == 0 {
		return nil
	}
	out := map[string]model.Ulimit{}
	for name, u := range in {
		switch {
		case u == nil:
		case u.Single != 0:
			out[name] = model.Ulimit{Soft: int64(u.Single), Hard: int64(u.Single)}
		default:
			out[name] = model.Ulimit{Soft: int64(u.Soft), Hard: int64(u.Hard)}
		}
	}
	return out
}

// mount maps one volumes: entry; types other than volume, bind and tmpfs
// (image, npipe, cluster) are left out and warned about.
func mount(v types.ServiceVolumeConfig) (model.Mount, bool) {
	m := model.Mount{Type: v.Type, Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly}
	switch v.Type {
	case types.VolumeTypeBind:
		m.CreateHostPath = v.Bind == nil || bool(v.Bind.CreateHostPath)
		if v.Bind != nil {
			m.SELinux = v.Bind.SELinux
		}
	case types.VolumeTypeVolume:
		if v.Volume != nil {
			m.NoCopy = v.Volume.NoCopy
			m.Subpath = v.Volume.Subpath
		}
	case types.VolumeTypeTmpfs:
		if v.Tmpfs != nil {
			m.TmpfsSize = int64(v.Tmpfs.Size)
		}
	default:
		return m, false
	}
	return m, true
}

func healthcheck(hc *types.HealthCheckConfig) *model.Healthcheck {
	if hc == nil {
		return nil
	}
	h := &model.Healthcheck{Test: nilIfEmpty(hc.Test), Disable: hc.Disable,
		Interval: dur(hc.Interval), Timeout: dur(hc.Timeout), StartPeriod: dur(hc.StartPeriod), StartInterval: dur(hc.StartInterval)}
	if len(hc.Test) > 0 && hc.Test[0] == "NONE" {
		h.Disable = true
	}
	if hc.Retries != nil {
		h.Retries = *hc.Retries
	}
	return h
}

// convertBuild maps build: and checks, for a local context, that the
// context and the Dockerfile exist: a clear error now beats a failed build.
func convertBuild(s types.ServiceConfig, files []string) (*model.Build, error) {
	b := s.Build
	out := &model.Build{
		Context:    b.Context,
		Dockerfile: b.Dockerfile,
		Inline:     b.DockerfileInline,
		Args:       map[string]*string(b.Args),
		Target:     b.Target,
		Network:    b.Network,
		Labels:     nilIfEmptyMap(b.Labels),
		ExtraHosts: hosts(b.ExtraHosts),
		ShmSize:    int64(b.ShmSize),
		NoCache:    b.NoCache,
		Pull:       b.Pull,
		Tags:       nilIfEmpty(b.Tags),

		CacheFrom:     nilIfEmpty(b.CacheFrom),
		CacheTo:       nilIfEmpty(b.CacheTo),
		Platforms:     nilIfEmpty(b.Platforms),
		NoCacheFilter: nilIfEmpty(b.NoCacheFilter),
		Privileged:    b.Privileged,
		Entitlements:  nilIfEmpty(b.Entitlements),
		Ulimits:       ulimits(b.Ulimits),
	}
	for _, sec := range b.Secrets {
		id := sec.Target
		if id == "" {
			id = sec.Source
		}
		out.Secrets = append(out.Secrets, model.BuildSecret{Source: sec.Source, ID: id})
	}
	for _, k := range b.SSH {
		id := k.ID
		if id == "" {
			id = "default"
		}
		out.SSH = append(out.SSH, model.SSHKey{ID: id, Path: k.Path})
	}
	// compose-go hands the keys over in no fixed order; a stable one keeps
	// the build's recorded inputs (and so its skip) from changing run to run.
	slices.SortFunc(out.SSH, func(a, b model.SSHKey) int { return strings.Compare(a.ID, b.ID) })
	if len(b.AdditionalContexts) > 0 {
		out.AdditionalContexts = map[string]string(b.AdditionalContexts)
	}
	if len(out.Args) == 0 {
		out.Args = nil
	}
	if out.Inline != "" {
		out.Dockerfile = ""
	} else if out.Dockerfile == "" {
		out.Dockerfile = "Dockerfile"
	}
	if remoteContext(out.Context) {
		return out, nil // the engine fetches it
	}
	if st, err := os.Stat(out.Context); err != nil || !st.IsDir() {
		e := &Error{Service: s.Name, Err: err,
			Message: fmt.Sprintf("service %q: build context %s does not exist or is not a directory", s.Name, out.Context),
			Hint:    "fix build.context (relative paths start from the project directory)"}
		return nil, e.at(files, "services", s.Name, "build")
	}
	if out.Inline == "" {
		df := out.Dockerfile
		if !filepath.IsAbs(df) {
			df = filepath.Join(out.Context, df)
		}
		if st, err := os.Stat(df); err != nil || st.IsDir() {
			e := &Error{Service: s.Name, Err: err,
				Message: fmt.Sprintf("service %q: Dockerfile %s does not exist", s.Name, df),
				Hint:    fmt.Sprintf("fix build.dockerfile (relative to the build context %s) or build.context", out.Context)}
			if _, ok := locate(files, "services", s.Name, "build", "dockerfile"); ok {
				return nil, e.at(files, "services", s.Name, "build", "dockerfile")
			}
			return nil, e.at(files, "services", s.Name, "build")
		}
	}
	return out, nil
}

// remoteContext tells a git or URL build context from a local directory.
func remoteContext(c string) bool {
	return strings.Contains(c, "://") || strings.HasPrefix(c, "git@") || strings.HasPrefix(c, "github.com/")
}

func convertTrigger(workDir string, t types.Trigger) model.WatchRule {
	path := t.Path
	if !filepath.IsAbs(path) {
		path = filepath.Join(workDir, path)
	}
	r := model.WatchRule{Path: filepath.Clean(path), Action: string(t.Action), Target: t.Target,
		Ignore: nilIfEmpty(t.Ignore), Include: nilIfEmpty(t.Include), InitialSync: t.InitialSync}
	if len(t.Exec.Command) > 0 {
		r.Exec = t.Exec.Command
		r.ExecUser = t.Exec.User
		r.ExecWorkDir = t.Exec.WorkingDir
		for k, v := range t.Exec.Environment {
			if v == nil {
				continue
			}
			if r.ExecEnv == nil {
				r.ExecEnv = map[string]string{}
			}
			r.ExecEnv[k] = *v
		}
	}
	return r
}

// fileRef maps a secret or config reference; a relative target is taken
// in the default directory, as compose does.
func fileRef(f types.FileReferenceConfig, defaultDir string) model.FileRef {
	r := model.FileRef{Source: f.Source, Target: f.Target, UID: f.UID, GID: f.GID}
	switch {
	case r.Target == "":
		r.Target = defaultDir + f.Source
	case !strings.HasPrefix(r.Target, "/"):
		r.Target = defaultDir + r.Target
	}
	if f.Mode != nil {
		m := uint32(*f.Mode)
		r.Mode = &m
	}
	return r
}

// hosts renders extra_hosts as sorted "host:ip" entries: compose-go keeps
// them in a map, whose order would make the config hash change by itself.
func hosts(h types.HostsList) []string {
	if len(h) == 0 {
		return nil
	}
	l := h.AsList(":")
	slices.Sort(l)
	return l
}

// command keeps compose's distinction between an absent command (nil: the
// image's default) and an empty one (`command: []` clears the image's).
func command(c types.ShellCommand) []string {
	if c == nil {
		return nil
	}
	return []string(c)
}

func dur(d *types.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return time.Duration(*d)
}

func nilIfEmpty[S ~[]string](s S) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// deviceRequest maps a gpus: entry or a reserved device; extra
// capabilities are added to the entry's own (gpus: implies "gpu").
func deviceRequest(d types.DeviceRequest, extra ...string) model.DeviceRequest {
	caps := append(slices.Clone(d.Capabilities), extra...)
	return model.DeviceRequest{Driver: d.Driver, Count: int64(d.Count), IDs: nilIfEmpty(d.IDs),
		Capabilities: nilIfEmpty(caps), Options: nilIfEmptyMap(d.Options)}
}

func blkio(b *types.BlkioConfig) *model.Blkio {
	if b == nil {
		return nil
	}
	throttle := func(in []types.ThrottleDevice) []model.ThrottleDevice {
		var out []model.ThrottleDevice
		for _, t := range in {
			out = append(out, model.ThrottleDevice{Path: t.Path, Rate: uint64(t.Rate)})
		}
		return out
	}
	out := &model.Blkio{Weight: b.Weight,
		DeviceReadBps: throttle(b.DeviceReadBps), DeviceReadIOps: throttle(b.DeviceReadIOps),
		DeviceWriteBps: throttle(b.DeviceWriteBps), DeviceWriteIOps: throttle(b.DeviceWriteIOps)}
	for _, w := range b.WeightDevice {
		out.WeightDevice = append(out.WeightDevice, model.WeightDevice{Path: w.Path, Weight: w.Weight})
	}
	return out
}

func hooks(in []types.ServiceHook) []model.Hook {
	var out []model.Hook
	for _, h := range in {
		hk := model.Hook{Command: command(h.Command), User: h.User, Privileged: h.Privileged, WorkingDir: h.WorkingDir}
		if len(h.Environment) > 0 {
			hk.Environment = map[string]*string(h.Environment)
		}
		out = append(out, hk)
	}
	return out
}

// swappiness is mem_swappiness as Compose passes it: 0 (the file's
// default) leaves the engine's own.
func swappiness(v types.UnitBytes) *int64 {
	if v == 0 {
		return nil
	}
	n := int64(v)
	return &n
}

// preStart maps pre_start's init containers (compose-go has already
// given each the service's image when it names none).
func preStart(in []types.PreStartHook) []model.PreStartStep {
	var out []model.PreStartStep
	for _, h := range in {
		st := model.PreStartStep{Image: h.Image, Command: command(h.Command), Entrypoint: command(h.Entrypoint),
			User: h.User, WorkingDir: h.WorkingDir, Privileged: h.Privileged}
		if len(h.Environment) > 0 {
			st.Environment = map[string]*string(h.Environment)
		}
		out = append(out, st)
	}
	return out
}
