// Package model is devstack's own description of a stack: what the compose
// file asks for (Project, Service, ...) and what the engine holds (Observed).
//
// It is plain data. The loader fills it from compose-go, the planner compares
// it with what exists, the runtime adapter turns it into engine calls, and the
// sync and scratch features read or transform it. Nothing here imports
// compose-go or moby, so everything above can be tested without either.
package model

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
	"time"
)

// Project is a loaded, interpolated and normalised compose project.
type Project struct {
	Name        string            // compose project name (already normalised)
	WorkingDir  string            // absolute project directory
	ConfigFiles []string          // absolute paths of the compose files, in order
	Environment map[string]string // the environment interpolation used (.env, --env-file, OS)
	Services    []Service         // sorted by name; only the active profiles
	Disabled    []string          // services left out by profiles (for `ps`/orphan logic)
	Networks    map[string]Network
	Volumes     map[string]Volume
	Secrets     map[string]FileObject
	Configs     map[string]FileObject
	Ext         Extension // x-devstack
	Warnings    []Warning // unsupported fields and other things the user should know
}

// Warning is something the loader noticed but did not fail on, such as a
// field compose-go parses that devstack does not honour.
type Warning struct {
	Service string // empty for project-level warnings
	Field   string // e.g. "deploy.resources.limits.cpus"
	Message string
}

func (w Warning) String() string {
	s := w.Message
	if w.Field != "" {
		s = w.Field + ": " + s
	}
	if w.Service != "" {
		s = "service " + w.Service + ": " + s
	}
	return s
}

// Service returns the service with the given name.
func (p *Project) Service(name string) (*Service, bool) {
	for i := range p.Services {
		if p.Services[i].Name == name {
			return &p.Services[i], true
		}
	}
	return nil, false
}

// ServiceNames returns the names of all active services, sorted.
func (p *Project) ServiceNames() []string {
	names := make([]string, 0, len(p.Services))
	for _, s := range p.Services {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	return names
}

// Service is one compose service. Field names follow the compose
// specification; values are already interpolated and paths are absolute.
type Service struct {
	Name     string
	Image    string // the image to run; for services with Build, the tag to build
	Build    *Build
	Replicas int // deploy.replicas / scale; 0 means the service is scaled to zero

	Command         []string           // nil: the image's default
	Entrypoint      []string           // nil: the image's default
	Environment     map[string]*string // nil value: variable without value (passed as NAME)
	WorkingDir      string
	User            string
	Hostname        string
	Domainname      string
	ContainerName   string
	ExtraHosts      []string // "host:ip"
	DNS             []string
	Labels          map[string]string
	Init            *bool
	Privileged      bool
	ReadOnly        bool
	Tty             bool
	StdinOpen       bool
	CapAdd          []string
	CapDrop         []string
	SecurityOpt     []string
	Sysctls         map[string]string
	Ulimits         map[string]Ulimit
	ShmSize         int64
	MemLimit        int64
	NanoCPUs        int64
	PidsLimit       int64
	Platform        string
	PullPolicy      string // always | never | missing | build | "" (missing)
	NetworkMode     string // "", "host", "none", "service:x", "container:x"
	StopSignal      string
	StopGracePeriod *time.Duration
	Restart         string // no | always | on-failure[:N] | unless-stopped
	Expose          []string

	Ports       []Port
	Volumes     []Mount
	Tmpfs       []string
	Networks    map[string]ServiceNetwork // key: project network name
	Secrets     []FileRef
	Configs     []FileRef
	DependsOn   map[string]Dependency
	Healthcheck *Healthcheck
	Logging     *Logging

	// Namespaces: "" (the engine's default), host, private, shareable
	// (ipc), service:NAME (replica 1 of that service's) or container:NAME.
	Ipc string
	Pid string
	Uts string
	// VolumesFrom as compose writes it: SERVICE[:ro|:rw] or
	// container:NAME[:ro|:rw].
	VolumesFrom   []string
	Links         []string // SERVICE[:ALIAS]
	ExternalLinks []string // CONTAINER[:ALIAS]
	GroupAdd      []string
	DNSSearch     []string
	DNSOpts       []string
	Runtime       string
	MacAddress    string
	Annotations   map[string]string
	UseAPISocket  bool // the engine's socket mounted at /var/run/docker.sock

	CPUShares      int64
	CPUQuota       int64
	CPUPeriod      int64
	CPUSet         string
	CPURTPeriod    int64 // cpu_rt_period, µs
	CPURTRuntime   int64 // cpu_rt_runtime, µs
	MemReservation int64 // mem_reservation, or deploy.resources.reservations.memory
	MemSwapLimit   int64 // memswap_limit: memory + swap; -1 unlimited
	// MemSwappiness is mem_swappiness (0–100); nil leaves the engine's.
	// As with Compose, 0 in the file means unset.
	MemSwappiness     *int64
	OomScoreAdj       int64
	OomKillDisable    bool
	Blkio             *Blkio
	Devices           []Device
	DeviceCgroupRules []string
	// DeviceRequests are gpus: and deploy.resources.reservations.devices.
	DeviceRequests []DeviceRequest

	// Lifecycle hooks, run as execs in the container.
	PostStart []Hook // after each start
	PreStop   []Hook // before each stop
	// PreStart are init containers run to completion, in order, before
	// the service's first container starts.
	PreStart []PreStartStep

	Watch []WatchRule // develop.watch
	Ext   ServiceExtension
	// Attach is attach: false (attached up neither shows the service's
	// output nor watches its exit); nil or true: attached.
	Attach *bool

	// RefHashTemplate is, for a service whose network_mode, ipc, pid or
	// volumes_from name another service, what Compose hashes once it has
	// put that service's container ID in place of the name: the hashed
	// text with RefPlaceholder(service) where the ID goes (see RefHash).
	// "" when the service names none.
	RefHashTemplate string

	// ConfigHash identifies everything that, when changed, requires the
	// container to be recreated. The loader fills it with Docker Compose's
	// own hash (engine/load/hash.go), so that the two tools agree on which
	// containers are up to date; projects made in code use Hash.
	ConfigHash string
}

// ContainerRefs names the services whose containers this service's
// containers are made with: network_mode, ipc and pid of service:NAME,
// volumes_from a service and links. Those containers must exist before
// one of this service is created, and a new one of theirs means a new
// one of this service (it holds their old container's ID).
func (s *Service) ContainerRefs() []string {
	seen := map[string]bool{}
	for _, mode := range []string{s.NetworkMode, s.Ipc, s.Pid} {
		if name, ok := ServiceRef(mode); ok {
			seen[name] = true
		}
	}
	for _, v := range s.VolumesFrom {
		seen[ParseVolumesFrom(v).Service] = true
	}
	for _, l := range s.Links {
		name, _ := ParseLink(l)
		seen[name] = true
	}
	out := make([]string, 0, len(seen))
	for name := range seen {
		if name != "" && name != s.Name {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// RefPlaceholder stands for the container ID of a service in a
// RefHashTemplate.
func RefPlaceholder(service string) string { return "@@devstack-ref:" + service + "@@" }

// RefHash is the config hash with the containers the service is made
// with in place (ids: service -> container ID), as Compose computes it
// (it hashes the service after resolving those references); false when
// the service has no template or an ID is missing.
func (s *Service) RefHash(ids map[string]string) (string, bool) {
	if s.RefHashTemplate == "" {
		return "", false
	}
	text := s.RefHashTemplate
	for _, ref := range s.ContainerRefs() {
		ph := RefPlaceholder(ref)
		if !strings.Contains(text, ph) {
			continue // a link: Compose does not hash its container
		}
		id, ok := ids[ref]
		if !ok || id == "" {
			return "", false
		}
		text = strings.ReplaceAll(text, ph, id)
	}
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:]), true
}

// Build is a service's build: section.
type Build struct {
	Context    string // absolute path of the build context
	Dockerfile string // path relative to Context (default "Dockerfile")
	Inline     string // dockerfile_inline
	Args       map[string]*string
	Target     string
	Network    string
	Labels     map[string]string
	ExtraHosts []string
	ShmSize    int64
	NoCache    bool
	Pull       bool
	Tags       []string

	// What only BuildKit builds honour.
	Secrets            []BuildSecret     // build.secrets: project secrets offered to RUN --mount=type=secret
	SSH                []SSHKey          // build.ssh: agents or keys offered to RUN --mount=type=ssh
	AdditionalContexts map[string]string // build.additional_contexts: name -> absolute path, service:NAME or docker-image://REF
	CacheFrom          []string          // build.cache_from
	CacheTo            []string          // build.cache_to
	Platforms          []string          // build.platforms
	NoCacheFilter      []string          // build.no_cache_filter: stages built without the cache
	Privileged         bool              // build.privileged
	Entitlements       []string          // build.entitlements
	Ulimits            map[string]Ulimit // build.ulimits
}

// BuildSecret offers the project secret Source to a build under the id
// RUN --mount=type=secret,id=ID asks for.
type BuildSecret struct {
	Source string // project-level secret name
	ID     string // the id the Dockerfile uses (target:, or the source's name)
}

// SSHKey offers an SSH agent or keys to a build under an id.
type SSHKey struct {
	ID   string // "default" unless named
	Path string // "" for the user's agent (SSH_AUTH_SOCK), else a socket or key file
}

// Key identifies builds that produce the same image, so that services
// sharing a build are built once per run.
func (b *Build) Key() string { return hashJSON(b) }

// Hook is one post_start or pre_stop command.
type Hook struct {
	Command     []string
	User        string
	Privileged  bool
	WorkingDir  string
	Environment map[string]*string
}

// PreStartStep is one pre_start init container. What it leaves empty it
// takes from the service; it shares the service container's volumes and
// networks.
type PreStartStep struct {
	Image       string
	Command     []string           // nil: the service's
	Entrypoint  []string           // nil: the service's
	User        string             // "": the service's
	WorkingDir  string             // "": the service's
	Environment map[string]*string // over the service's
	Privileged  bool
}

// Blkio is blkio_config: block I/O weights and throttles.
type Blkio struct {
	Weight          uint16
	WeightDevice    []WeightDevice
	DeviceReadBps   []ThrottleDevice
	DeviceReadIOps  []ThrottleDevice
	DeviceWriteBps  []ThrottleDevice
	DeviceWriteIOps []ThrottleDevice
}

// WeightDevice is one device's block I/O weight.
type WeightDevice struct {
	Path   string
	Weight uint16
}

// ThrottleDevice is one device's rate limit (bytes or operations a second).
type ThrottleDevice struct {
	Path string
	Rate uint64
}

// Device maps a host device into the container.
type Device struct {
	Source      string
	Target      string
	Permissions string // cgroup permissions, e.g. rwm
}

// DeviceRequest asks a device driver (nvidia, cdi) for devices.
type DeviceRequest struct {
	Driver       string
	Count        int64 // -1: all
	IDs          []string
	Capabilities []string
	Options      map[string]string
}

// Port is one published or exposed port.
type Port struct {
	Target    uint32 // container port
	Published string // host port or range ("8080", "8080-8081", "" for random)
	HostIP    string
	Protocol  string // tcp | udp | sctp
}

// Mount types.
const (
	MountVolume = "volume"
	MountBind   = "bind"
	MountTmpfs  = "tmpfs"
)

// Mount is one entry of a service's volumes: list.
type Mount struct {
	Type     string // volume | bind | tmpfs
	Source   string // volume name in the project (unprefixed), absolute host path, or "" (anonymous)
	Target   string
	ReadOnly bool
	// Bind options.
	CreateHostPath bool
	// Volume options.
	NoCopy bool
	// SELinux relabels a bind: "z" (shared) or "Z" (private).
	SELinux string
	// Subpath mounts a directory inside the volume (API 1.45+).
	Subpath string
	// Tmpfs options.
	TmpfsSize int64
}

// ServiceNetwork is one network a service joins.
type ServiceNetwork struct {
	Aliases     []string
	IPv4Address string
	IPv6Address string
	MacAddress  string
	DriverOpts  map[string]string
	Priority    int
}

// Network is a project-level network.
type Network struct {
	Name       string // the engine-side name (e.g. "demo_default")
	Driver     string
	Internal   bool
	Attachable bool
	External   bool
	Labels     map[string]string
	Options    map[string]string
	EnableIPv6 bool
	Subnets    []string
}

// Volume is a project-level named volume.
type Volume struct {
	Name     string // the engine-side name (e.g. "demo_data")
	Driver   string
	External bool
	Labels   map[string]string
	Options  map[string]string
}

// FileObject is a file-based secret or config at project level.
type FileObject struct {
	Name        string
	File        string // absolute path on the host
	Content     string // inline content (configs: content:)
	Environment string // name of a variable holding the content
	External    bool
	// Credentials: the content is the docker CLI's registry credentials,
	// as a config.json (use_api_socket gives them to the container).
	Credentials bool
}

// FileRef is a service's reference to a secret or config.
type FileRef struct {
	Source string // project-level name
	Target string // absolute path in the container
	UID    string
	GID    string
	Mode   *uint32
}

// Dependency conditions, as in compose.
const (
	ConditionStarted             = "service_started"
	ConditionHealthy             = "service_healthy"
	ConditionCompletedSuccessful = "service_completed_successfully"
)

// Dependency is one entry of depends_on.
type Dependency struct {
	Condition string
	Required  bool
	Restart   bool
}

// Healthcheck is a service's health test. A disabled healthcheck is
// represented with Disable so that it can override the image's.
type Healthcheck struct {
	Test          []string // e.g. ["CMD-SHELL", "wget -q -O- localhost"]
	Interval      time.Duration
	Timeout       time.Duration
	StartPeriod   time.Duration
	StartInterval time.Duration
	Retries       uint64
	Disable       bool
}

// Ulimit is one entry of ulimits.
type Ulimit struct {
	Soft int64
	Hard int64
}

// Logging is a service's logging driver.
type Logging struct {
	Driver  string
	Options map[string]string
}

// Watch actions of develop.watch.
const (
	WatchSync        = "sync"
	WatchRebuild     = "rebuild"
	WatchRestart     = "restart"
	WatchSyncRestart = "sync+restart"
	WatchSyncExec    = "sync+exec"
)

// WatchRule is one entry of develop.watch.
type WatchRule struct {
	Path        string   // absolute host path
	Action      string   // one of the Watch* constants
	Target      string   // absolute container path (sync actions)
	Ignore      []string // patterns relative to Path
	Include     []string // patterns relative to Path
	InitialSync bool     // initial_sync: true (devstack syncs initially by default anyway)
	Exec        []string // sync+exec: the command
	ExecUser    string
	ExecWorkDir string
	ExecEnv     map[string]string
	// IgnoreFile is a .dockerignore that applies besides the build
	// context's: the source directory's own, for a bind mount synced into
	// a volume on a remote engine.
	IgnoreFile string
	// FromBind marks a rule devstack made from a bind mount (remote
	// engines), not one of develop.watch.
	FromBind bool
}

// Extension is the project-level x-devstack section.
type Extension struct {
	Scratch ScratchConfig `json:"scratch,omitempty"`
	Sync    SyncConfig    `json:"sync,omitempty"`
	// Runtime selects where the project runs: RuntimeDocker (the default)
	// or RuntimeKubernetes.
	Runtime string `json:"runtime,omitempty"`
	// Registry is where images built for a cluster are pushed (and the
	// cluster pulls them from); Namespace is the cluster namespace
	// (default: the project name).
	Registry  string `json:"registry,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// Runtimes a project can run on (x-devstack.runtime).
const (
	RuntimeDocker     = "docker"
	RuntimeKubernetes = "kubernetes"
)

// ServiceExtension is a service-level x-devstack section.
type ServiceExtension struct {
	Sync SyncConfig `json:"sync,omitempty"`
}

// SyncConfig tunes live sync.
type SyncConfig struct {
	// Initial, when set to false, turns off the initial sync (compose-go
	// cannot tell initial_sync: false from unset, so the opt-out lives here).
	Initial *bool         `json:"initial,omitempty"`
	Quiet   time.Duration `json:"quiet,omitempty"`    // quiet window before a batch is sent
	MaxWait time.Duration `json:"max_wait,omitempty"` // a batch is sent at least this often
}

// ScratchConfig configures scratch rebuilds (x-devstack.scratch).
type ScratchConfig struct {
	Every      time.Duration  `json:"every,omitempty"`
	Cron       string         `json:"cron,omitempty"`
	Timeout    time.Duration  `json:"timeout,omitempty"`
	Checks     []ScratchCheck `json:"checks,omitempty"`
	KeepMounts []string       `json:"keep_mounts,omitempty"` // host paths (absolute) allowed to stay bind-mounted
}

// ScratchCheck is one check of a scratch rebuild: a command in a service,
// or (Run) a shell command on the host.
type ScratchCheck struct {
	Name    string   `json:"name,omitempty"`
	Service string   `json:"service,omitempty"`
	Command []string `json:"command,omitempty"`
	Run     string   `json:"run,omitempty"`
}
