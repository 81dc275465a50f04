package model

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Labels put on every resource. They are Docker Compose's own keys, so that
// `docker compose ps` understands a devstack stack and vice versa.
const (
	LabelProject     = "com.docker.compose.project"
	LabelService     = "com.docker.compose.service"
	LabelNumber      = "com.docker.compose.container-number"
	LabelOneOff      = "com.docker.compose.oneoff"
	LabelConfigHash  = "com.docker.compose.config-hash"
	LabelWorkingDir  = "com.docker.compose.project.working_dir"
	LabelConfigFiles = "com.docker.compose.project.config_files"
	LabelVersion     = "com.docker.compose.version"
	LabelNetwork     = "com.docker.compose.network"
	LabelVolume      = "com.docker.compose.volume"
	LabelDependsOn   = "com.docker.compose.depends_on"
	LabelImage       = "com.docker.compose.image"
	LabelReplace     = "com.docker.compose.replace"
	// LabelManagedBy marks resources devstack created (compose has no such key).
	LabelManagedBy = "dev.devstack.managed-by"
)

// Container states as the engine reports them.
const (
	StateCreated    = "created"
	StateRunning    = "running"
	StateRestarting = "restarting"
	StateExited     = "exited"
	StatePaused     = "paused"
	StateDead       = "dead"
	StateRemoving   = "removing"
)

// Health values as the engine reports them ("" when there is no healthcheck).
const (
	HealthNone      = ""
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// Observed is one snapshot of what the engine holds for a project.
type Observed struct {
	Containers []Container
	Networks   map[string]string // project network key -> engine name
	Volumes    map[string]string // project volume key -> engine name
	Images     map[string]string // image reference -> image ID (only those the project uses)
	// ImageVolumes are the VOLUMEs of those images, by reference, so that
	// creating a container needs no inspect of its image of its own.
	ImageVolumes map[string][]string
	// AnonymousVolumes are the engine names of the project's anonymous
	// volumes (devstack labels every one it makes with the project): those
	// its containers mount and those left by recreations with fresh ones.
	// Only down -v removes them.
	AnonymousVolumes []string
}

// Container is an observed container of the project.
type Container struct {
	ID         string
	Name       string
	Service    string
	Number     int
	OneOff     bool
	ConfigHash string
	Image      string // reference the container was created from
	ImageID    string
	State      string
	Health     string
	ExitCode   int
	Created    time.Time
	StartedAt  time.Time // zero when only the engine's list was read: see Status
	Restarts   int
	// Status is the engine's own words from its container list ("Up 3
	// minutes (healthy)", "Exited (1) 2 hours ago"), set when the
	// container was not inspected.
	Status  string
	Ports   []PublishedPort
	Labels  map[string]string
	Volumes []string // engine names of the volumes it mounts
	// Command is the process it runs, as the engine's list writes it
	// (entrypoint and command, space-separated); Networks the engine
	// networks it is on. For `ps --format`.
	Command  string
	Networks []string
}

// PublishedPort is a port the engine published for a container.
type PublishedPort struct {
	HostIP   string `json:"host_ip,omitempty"`
	HostPort uint16 `json:"host_port"`
	Target   uint16 `json:"target"`
	Protocol string `json:"protocol"`
}

// Hash returns a stable hash of a service's definition, used as the
// config-hash label: a container whose label differs from its service's
// current hash must be recreated. Replicas, dependencies and the watch
// rules do not change a container, so they are left out.
func Hash(s Service) string {
	s.Replicas = 0
	s.DependsOn = nil
	s.Watch = nil
	s.Ext = ServiceExtension{}
	s.Attach = nil
	s.ConfigHash = ""
	return hashJSON(s)
}

func hashJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Every model type marshals; this only fires on a programming error.
		panic("model: cannot hash: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ProjectSummary is one compose project as `ls` lists it.
type ProjectSummary struct {
	Name string
	// Status counts the containers by state, as Compose writes it:
	// "exited(1), running(2)".
	Status      string
	ConfigFiles string // comma-separated, from the containers' label
	WorkingDir  string
}

// VolumeInfo is what the engine says of one volume.
type VolumeInfo struct {
	Name       string
	Found      bool // false: the engine has no volume of this name
	Driver     string
	Mountpoint string // on the engine's host
	Labels     map[string]string
}

// Image is what `images` shows of a container's image.
type Image struct {
	ID         string
	Repository string // "" when the image has no tag
	Tag        string
	Platform   string // os/arch[/variant]
	Size       int64
	Created    time.Time
}

// Processes is a container's process table, as `top` shows it.
type Processes struct {
	Titles    []string
	Processes [][]string
}

// Usage is one resource sample of a container, as `stats` shows it.
type Usage struct {
	CPUPercent float64
	Memory     uint64
	Limit      uint64
	PIDs       uint64
	NetRx      uint64
	NetTx      uint64
}

// TagDigests is what an image tag means on the engine and in its registry.
type TagDigests struct {
	Ref      string   `json:"ref"`
	ImageID  string   `json:"image_id,omitempty"` // the engine's image of the tag; "" when it has none
	Local    []string `json:"local,omitempty"`    // digests that image was pulled or pushed under
	Registry string   `json:"registry"`           // the digest the registry resolves the tag to now
	Pinned   string   `json:"pinned"`             // repo@digest of the registry's image
}

// Drifted reports whether the engine's image of the tag is another than
// the one the registry has now (a fresh machine would pull that one).
func (d TagDigests) Drifted() bool {
	if d.ImageID == "" || d.Registry == "" {
		return false
	}
	for _, l := range d.Local {
		if l == d.Registry {
			return false
		}
	}
	return true
}

// DevDigest names the engine's image: its registry digest, else its ID.
func (d TagDigests) DevDigest() string {
	if len(d.Local) > 0 {
		return d.Local[0]
	}
	return d.ImageID
}
