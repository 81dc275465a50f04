package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"devstack/engine/model"
)

// resolveRefs fills what containerSpec needs from the engine. A
// service:NAME reference (network_mode, ipc, pid, volumes_from, links)
// names replica 1 of that service, as Compose resolves it; compose-go
// has made each such service a dependency, so it exists by now.
func (r *Runtime) resolveRefs(ctx context.Context, p *model.Project, svc *model.Service) (refs, error) {
	rf := refs{apiVersion: r.api.ClientVersion(), socket: r.engineSocket(), ids: map[string]string{}}
	// One listing per service named, however many fields name it.
	listed := map[string][]model.Container{}
	containersOf := func(service string) ([]model.Container, error) {
		if cs, ok := listed[service]; ok {
			return cs, nil
		}
		cs, err := r.serviceContainers(ctx, p.Name, service)
		if err == nil {
			listed[service] = cs
		}
		return cs, err
	}
	var err error
	ns := func(field, mode string) string {
		target, ok := model.ServiceRef(mode)
		if !ok || err != nil {
			return mode
		}
		cs, e := containersOf(target)
		if e != nil || len(cs) == 0 {
			err = fmt.Errorf("%s %s: %w", field, mode, noContainer(target, e))
			return mode
		}
		rf.ids[target] = cs[0].ID
		return "container:" + cs[0].ID
	}
	rf.networkMode = ns("network_mode", svc.NetworkMode)
	rf.ipc = ns("ipc", svc.Ipc)
	rf.pid = ns("pid", svc.Pid)
	if err != nil {
		return rf, err
	}
	for _, v := range svc.VolumesFrom {
		ref := model.ParseVolumesFrom(v)
		if ref.Service == "" {
			rf.volumesFrom = append(rf.volumesFrom, ref.Engine(ref.Container))
			rf.sharers = append(rf.sharers, ref.Container)
			continue
		}
		cs, e := containersOf(ref.Service)
		if e != nil || len(cs) == 0 {
			return rf, fmt.Errorf("volumes_from %s: %w", v, noContainer(ref.Service, e))
		}
		rf.ids[ref.Service] = cs[0].ID
		rf.volumesFrom = append(rf.volumesFrom, ref.Engine(cs[0].ID))
		rf.sharers = append(rf.sharers, cs[0].ID)
	}
	for _, l := range svc.Links {
		target, alias := model.ParseLink(l)
		cs, e := containersOf(target)
		if e != nil || len(cs) == 0 {
			return rf, fmt.Errorf("links %s: %w", l, noContainer(target, e))
		}
		// The alias names replica 1; every replica keeps its own name.
		for i, c := range cs {
			if i == 0 {
				rf.links = append(rf.links, c.Name+":"+alias)
			}
			if alias != c.Name {
				rf.links = append(rf.links, c.Name+":"+c.Name)
			}
		}
	}
	for _, l := range svc.ExternalLinks {
		name, alias, _ := strings.Cut(l, ":")
		if alias == "" {
			alias = name
		}
		rf.links = append(rf.links, name+":"+alias)
	}
	return rf, nil
}

func noContainer(service string, err error) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("service %q has no container yet: it must be created first (depends_on)", service)
}

// serviceContainers lists a service's containers (not one-offs) in the
// order model.ServiceContainers gives them: the first is the one a
// reference to the service means.
func (r *Runtime) serviceContainers(ctx context.Context, project, service string) ([]model.Container, error) {
	res, err := r.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.
		Add("label", model.LabelProject+"="+project, model.LabelService+"="+service, model.LabelOneOff+"="+oneOffLabel(false))})
	if err != nil {
		return nil, r.engineError(err)
	}
	cs := make([]model.Container, len(res.Items))
	for i, c := range res.Items {
		cs[i] = fromSummary(c)
	}
	return model.ServiceContainers(cs, service), nil
}

// engineSocket is the path of the engine's socket on the engine's own
// machine, which use_api_socket mounts: the unix socket this engine is
// reached on, the remote socket an ssh:// engine is reached through, or
// the usual /var/run/docker.sock for tcp:// (the engine does not say).
func (r *Runtime) engineSocket() string {
	switch {
	case r.ssh != nil:
		return r.ssh.socket
	case strings.HasPrefix(r.host, "unix://"):
		return strings.TrimPrefix(r.host, "unix://")
	}
	return "/var/run/docker.sock"
}

// createWithMac creates a container whose create request carries the
// container-wide MacAddress an engine older than API 1.44 reads. The
// client's Config type has dropped that field, so the request is written
// here and sent over the client's own dialer (a unix socket, TLS, or the
// SSH connection alike).
func (r *Runtime) createWithMac(ctx context.Context, s *spec) (string, []string, error) {
	body := struct {
		*container.Config
		MacAddress       string `json:"MacAddress"`
		HostConfig       *container.HostConfig
		NetworkingConfig any `json:"NetworkingConfig,omitempty"`
	}{s.config, s.mac, normalizeCaps(s.host), s.network}
	return r.createRaw(ctx, s, body)
}

// createCompact creates a container with the request's zero fields left
// out (compactJSON): over SSH, where every byte crosses the link.
func (r *Runtime) createCompact(ctx context.Context, s *spec) (string, []string, error) {
	return r.createRaw(ctx, s, container.CreateRequest{Config: s.config, HostConfig: normalizeCaps(s.host), NetworkingConfig: s.network})
}

// createRaw sends a container create request written here, compacted,
// over the client's own dialer (a unix socket, TLS, or the SSH connection
// alike) on connections kept for the next create. The engine's refusal
// keeps its kind (not found, conflict, ...) as the client's errors do.
func (r *Runtime) createRaw(ctx context.Context, s *spec, body any) (string, []string, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return "", nil, err
	}
	if c, err := compactJSON(raw, reflect.TypeOf(body)); err == nil {
		raw = c
	}
	r.rawOnce.Do(func() {
		dial := r.api.Dialer()
		r.rawHTTP = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) }}}
	})
	q := url.Values{}
	q.Set("name", s.name)
	if s.platform != nil {
		q.Set("platform", path.Join(s.platform.OS, s.platform.Architecture, s.platform.Variant))
	}
	u := "http://engine/v" + r.api.ClientVersion() + "/containers/create?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(raw))
	if err != nil {
		return "", nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.rawHTTP.Do(req)
	if err != nil {
		return "", nil, r.unreachable(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		var e struct{ Message string }
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			msg = e.Message
		}
		if msg == "" {
			msg = "the engine answered " + resp.Status
		}
		return "", nil, statusError(resp.StatusCode, "Error response from daemon: "+msg)
	}
	var out container.CreateResponse
	if err := json.Unmarshal(data, &out); err != nil {
		return "", nil, fmt.Errorf("unable to read the engine's answer to a create: %w", err)
	}
	return out.ID, out.Warnings, nil
}

// statusError gives an engine's refusal the kind the moby client gives
// it for the same status, so that callers tell a conflict or a missing
// image as they do for the client's own calls.
func statusError(code int, msg string) error {
	switch code {
	case http.StatusBadRequest:
		return cerrdefs.ErrInvalidArgument.WithMessage(msg)
	case http.StatusUnauthorized:
		return cerrdefs.ErrUnauthenticated.WithMessage(msg)
	case http.StatusForbidden:
		return cerrdefs.ErrPermissionDenied.WithMessage(msg)
	case http.StatusNotFound:
		return cerrdefs.ErrNotFound.WithMessage(msg)
	case http.StatusConflict:
		return cerrdefs.ErrConflict.WithMessage(msg)
	case http.StatusNotImplemented:
		return cerrdefs.ErrNotImplemented.WithMessage(msg)
	case http.StatusServiceUnavailable:
		return cerrdefs.ErrUnavailable.WithMessage(msg)
	}
	return cerrdefs.ErrInternal.WithMessage(msg)
}

// normalizeCaps is the moby client's own step before a create:
// capabilities upper-cased, with their CAP_ prefix ("ALL" aside), sorted
// and without repeats.
func normalizeCaps(h *container.HostConfig) *container.HostConfig {
	if h == nil {
		return nil
	}
	n := *h
	norm := func(caps []string) []string {
		if caps == nil {
			return nil
		}
		out := make([]string, 0, len(caps))
		for _, c := range caps {
			c = strings.ToUpper(c)
			if c != "ALL" && !strings.HasPrefix(c, "CAP_") {
				c = "CAP_" + c
			}
			out = append(out, c)
		}
		sort.Strings(out)
		return slices.Compact(out)
	}
	n.CapAdd, n.CapDrop = norm(h.CapAdd), norm(h.CapDrop)
	return &n
}
