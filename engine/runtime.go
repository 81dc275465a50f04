package engine

import (
	"context"
	"errors"
	"io"
	"time"

	"devstack/engine/event"
	"devstack/engine/model"
)

// Runtime is what the engine needs from a container engine. It is defined
// here, by its user; engine/docker implements it over the Docker API, and
// tests of pure logic need none of it. Every method is safe for concurrent
// use.
type Runtime interface {
	// Host names the engine endpoint, for messages ("unix:///var/run/docker.sock").
	Host() string
	// Ping checks that the engine answers.
	Ping(ctx context.Context) error

	// Observe takes one snapshot of the project's containers (all states,
	// one-off ones included), networks, volumes, and of the images the
	// project refers to.
	Observe(ctx context.Context, p *model.Project) (model.Observed, error)
	// ObserveBrief takes the same snapshot from the engine's lists, with
	// an inspect only for what they cannot tell (a restart count where a
	// restart policy allows one) and of the containers listed as running
	// (the list lags a container's death): a container's StartedAt may be
	// zero and its Status the engine's words ("Up 3 minutes"). Enough to
	// plan an up or down; the cost of a no-op up.
	ObserveBrief(ctx context.Context, p *model.Project) (model.Observed, error)
	// ProjectContainers is ObserveBrief's containers alone (one list
	// call): what ps and the commands that only look a container up need.
	ProjectContainers(ctx context.Context, p *model.Project) ([]model.Container, error)

	// CreateNetwork creates the project network with the given key.
	CreateNetwork(ctx context.Context, p *model.Project, key string) error
	// CreateVolume creates the project volume with the given key.
	CreateVolume(ctx context.Context, p *model.Project, key string) error
	// RemoveNetwork removes an engine network by name; a missing one is not an error.
	RemoveNetwork(ctx context.Context, name string) error
	// RemoveVolume removes an engine volume by name; a missing one is not an error.
	RemoveVolume(ctx context.Context, name string) error
	// RemoveImage removes an image reference, as `docker rmi` without
	// --force; a missing one is not an error, one a container uses is
	// refused with an error that wraps ErrInUse.
	RemoveImage(ctx context.Context, ref string) error

	// Build builds the service's image and tags it svc.Image, publishing
	// BuildStep events; it returns the image ID.
	Build(ctx context.Context, p *model.Project, svc *model.Service, opts BuildOptions, sink event.Sink) (string, error)
	// Pull pulls an image, publishing progress; errors say clearly when
	// no registry could be reached.
	Pull(ctx context.Context, ref string, sink event.Sink) error

	// CreateContainer creates (not starts) replica number of svc, with the
	// project's labels and the service's config hash, and puts its secrets
	// and configs in place. It returns the container's ID.
	CreateContainer(ctx context.Context, p *model.Project, svc *model.Service, number int, opts CreateOptions) (string, error)
	StartContainer(ctx context.Context, id string) error
	// StopContainer stops with the given grace period (nil: the container's own).
	StopContainer(ctx context.Context, id string, timeout *time.Duration) error
	KillContainer(ctx context.Context, id, signal string) error
	RestartContainer(ctx context.Context, id string, timeout *time.Duration) error
	// RemoveContainer force-removes a container, with its anonymous volumes if volumes is set.
	RemoveContainer(ctx context.Context, id string, volumes bool) error
	// RenameContainer gives a container a new name (a replacement takes
	// the name of the container it replaced).
	RenameContainer(ctx context.Context, id, name string) error
	// InspectContainer returns the current state of one container.
	InspectContainer(ctx context.Context, id string) (model.Container, error)

	// Events streams the project's container events until ctx ends or the
	// engine connection breaks (then the error channel receives one error).
	Events(ctx context.Context, project string) (<-chan ContainerEvent, <-chan error)
	// Logs streams a container's output, one call of fn per line.
	Logs(ctx context.Context, id string, opts LogOptions, fn func(stream, line string, t time.Time)) error
	// Stats streams resource usage samples until ctx ends.
	Stats(ctx context.Context, id string, fn func(cpuPercent float64, mem, limit uint64)) error
	// Exec runs a command in a running container and returns its exit code.
	Exec(ctx context.Context, id string, opts ExecOptions) (int, error)
	// AttachStart attaches to a created container's standard streams (as
	// `docker start -a`), starts it, and returns its exit code once it ends.
	AttachStart(ctx context.Context, id string, opts ExecOptions) (int, error)
	// CopyTo extracts an uncompressed tar stream into dir inside the container.
	CopyTo(ctx context.Context, id, dir string, tar io.Reader) error
	// CopyFrom returns a tar stream of path inside the container.
	CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, error)

	// PauseContainer freezes a container's processes; UnpauseContainer
	// thaws them.
	PauseContainer(ctx context.Context, id string) error
	UnpauseContainer(ctx context.Context, id string) error
	// ListContainers lists the containers of every compose project on the
	// engine in one list call, without inspecting any: ID, name, labels,
	// state, image. Stopped ones too when all is set; only those with
	// every label of labels ("key=value") when some are given, which the
	// engine filters, not the caller.
	ListContainers(ctx context.Context, all bool, labels ...string) ([]model.Container, error)
	// WaitContainer blocks until a container is not running and returns its exit code.
	WaitContainer(ctx context.Context, id string) (int, error)
	// Top lists a container's processes.
	Top(ctx context.Context, id string) (model.Processes, error)
	// ImageOf describes an image by ID; ref picks which of its tags to show.
	ImageOf(ctx context.Context, id, ref string) (model.Image, error)
	// StatsOnce takes one resource sample of a container.
	StatsOnce(ctx context.Context, id string) (model.Usage, error)
	// Attach connects the streams to a running container's main process
	// until it ends or the detach keys are typed (detached is then true).
	Attach(ctx context.Context, id string, o AttachOptions) (detached bool, err error)
	// AllEvents streams every container event of the project (exec_*,
	// attach, ... included) with the engine's attributes, for `events`.
	AllEvents(ctx context.Context, project string) (<-chan ContainerEvent, <-chan error)
	// StatPath describes a path in a container (Exists false when missing).
	StatPath(ctx context.Context, id, path string) (PathInfo, error)
	// CopyInto is CopyTo with options (cp -a).
	CopyInto(ctx context.Context, id, dir string, tar io.Reader, o CopyIntoOptions) error
}

// ErrInUse is wrapped by the errors of removals the engine refuses
// because a container still uses the object.
var ErrInUse = errors.New("in use")

// PathInfo describes a path inside a container.
type PathInfo struct {
	Exists, Dir bool
	LinkTarget  string // for a symbolic link: the path it resolves to
}

// CopyIntoOptions tune CopyInto.
type CopyIntoOptions struct {
	// ContainerOwner asks the engine for docker cp -a's ownership (its
	// CopyUIDGID).
	ContainerOwner bool
}

// AttachOptions describe one attach.
type AttachOptions struct {
	Stdin      io.Reader // nil: output only
	Stdout     io.Writer
	Stderr     io.Writer
	DetachKeys string // "" for the engine's default, ctrl-p,ctrl-q
	Resize     <-chan TermSize
}

// BuildOptions tune one build.
type BuildOptions struct {
	NoCache bool
	Pull    bool
	Tags    []string // extra tags
}

// CreateOptions tune container creation.
type CreateOptions struct {
	Name       string   // container name; "" for the compose default <project>-<service>-<n>
	OneOff     bool     // a `run` container
	Command    []string // overrides the service's command (run)
	Tty        *bool
	Stdin      bool
	AutoRemove bool
	NoPorts    bool   // run without --service-ports
	Replace    string // ID of the container this one replaces (com.docker.compose.replace)
	// InheritVolumes mounts the anonymous volumes of the container Replace
	// names, where the new container wants anonymous volumes (its service's
	// or its image's VOLUMEs), as Compose does on recreate.
	InheritVolumes bool
	// UseAliases gives a one-off container the service's name and network
	// aliases, as a service container has them (run --use-aliases).
	UseAliases bool
	// Image, when set, is what an observation saw of the service's image:
	// the runtime then records that ID and makes those VOLUMEs without
	// inspecting the image again. nil: the runtime inspects it.
	Image *ImageFacts
	// Warn, when set, hears what the engine said it changed or dropped
	// (a kernel without swap or block I/O weight support discards those
	// limits) and what the user should know of the container made.
	Warn func(message string)
}

// ImageFacts are what creating a container needs to know of its image.
type ImageFacts struct {
	ID      string
	Volumes []string // the image's VOLUMEs; not changed by the runtime
}

// ContainerEvent is one engine event about a project container.
type ContainerEvent struct {
	Time     time.Time
	ID       string
	Name     string
	Service  string
	Number   int
	Action   string // create | start | die | health_status | destroy | stop | kill | oom | restart
	Health   string // for health_status: healthy | unhealthy | starting
	ExitCode int    // for die
	OneOff   bool
	// Attributes are the engine's, for AllEvents (name, image, labels...).
	Attributes map[string]string
}

// LogOptions select what Logs returns.
type LogOptions struct {
	Follow     bool
	Tail       string // "all" or a number
	Since      time.Time
	Until      time.Time
	Timestamps bool
}

// ExecOptions describe one exec.
type ExecOptions struct {
	// Privileged gives the command every capability (exec --privileged).
	Privileged bool
	Cmd        []string
	User       string
	WorkDir    string
	Env        []string
	Tty        bool
	Stdin      io.Reader
	Stdout     io.Writer
	Stderr     io.Writer
	// Resize, when set, delivers terminal sizes for a Tty exec.
	Resize <-chan TermSize
	// Started, when set, is called by AttachStart once the container has
	// started, while its streams are attached (run's post_start hooks).
	Started func()
}

// TermSize is a terminal size in cells.
type TermSize struct {
	Width, Height uint
}
