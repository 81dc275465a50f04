package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// engineAPI speaks the Docker Engine API over its unix socket with plain
// HTTP, so the bench measures the engine's own floor with no tool's code
// in the way: what any orchestrator must at least wait for.
type engineAPI struct {
	http *http.Client
}

// newEngineAPI returns the local engine's API, or nil when DOCKER_HOST
// names something other than a unix socket.
func newEngineAPI() *engineAPI {
	sock := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		p, ok := strings.CutPrefix(h, "unix://")
		if !ok {
			return nil
		}
		sock = p
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
		MaxIdleConnsPerHost: 64,
	}
	return &engineAPI{http: &http.Client{Transport: tr}}
}

// call sends one request (body marshalled to JSON) and decodes the answer
// into out when given. The answer is read whole, as a tool would.
func (a *engineAPI) call(method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://docker/v1.41"+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, res.Status, strings.TrimSpace(string(data)))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// floorContainer is one container the floor makes.
type floorContainer struct {
	name  string
	probe []string // run once it started, until it passes; nil: none
	// health is the engine's healthcheck (the API's Healthcheck object),
	// as the tools' containers have it: its probes load the engine alike.
	health map[string]any
}

// create makes the project's network and containers (labelled as Compose's,
// so the bench's cleanup finds them), all at once, and returns their IDs.
func (a *engineAPI) create(project, image string, cmd []string, cs []floorContainer, parallel int) ([]string, error) {
	labels := map[string]string{"com.docker.compose.project": project}
	network := project + "_default"
	if err := a.call("POST", "/networks/create", map[string]any{"Name": network, "Labels": labels}, nil); err != nil {
		return nil, err
	}
	ids := make([]string, len(cs))
	var g errgroup.Group
	g.SetLimit(parallel)
	for i, c := range cs {
		g.Go(func() error {
			var res struct{ Id string }
			body := map[string]any{"Image": image, "Cmd": cmd, "Labels": labels,
				"HostConfig": map[string]any{"Init": true, "NetworkMode": network}}
			if c.health != nil {
				body["Healthcheck"] = c.health
			}
			if err := a.call("POST", "/containers/create?name="+url.QueryEscape(c.name), body, &res); err != nil {
				return err
			}
			ids[i] = res.Id
			return nil
		})
	}
	return ids, g.Wait()
}

// startAndProbe starts the containers at once and runs each one's probe
// until it first passes, retrying at once: no health gating, no backoff.
func (a *engineAPI) startAndProbe(ids []string, cs []floorContainer, parallel int) error {
	var g errgroup.Group
	g.SetLimit(parallel)
	for i, id := range ids {
		g.Go(func() error {
			if err := a.call("POST", "/containers/"+id+"/start", nil, nil); err != nil {
				return err
			}
			if cs[i].probe == nil {
				return nil
			}
			deadline := time.Now().Add(time.Minute)
			for time.Now().Before(deadline) {
				code, err := a.exec(id, cs[i].probe)
				if err != nil {
					return err
				}
				if code == 0 {
					return nil
				}
			}
			return fmt.Errorf("probe of %s never passed", cs[i].name)
		})
	}
	return g.Wait()
}

// exec runs cmd in container id the way a healthcheck probe does
// (create, start attached, inspect) and returns its exit code.
func (a *engineAPI) exec(id string, cmd []string) (int, error) {
	var created struct{ Id string }
	if err := a.call("POST", "/containers/"+id+"/exec", map[string]any{"Cmd": cmd, "AttachStdout": true, "AttachStderr": true}, &created); err != nil {
		return 0, err
	}
	if err := a.call("POST", "/exec/"+created.Id+"/start", map[string]any{"Detach": false}, nil); err != nil {
		return 0, err
	}
	var res struct{ ExitCode int }
	if err := a.call("GET", "/exec/"+created.Id+"/json", nil, &res); err != nil {
		return 0, err
	}
	return res.ExitCode, nil
}

// waitHealthy polls until the engine's own healthcheck has marked every
// named container healthy (what `up --wait` promises: the engine's word).
func (a *engineAPI) waitHealthy(names []string) error {
	deadline := time.Now().Add(time.Minute)
	for _, name := range names {
		for {
			var c struct {
				State struct{ Health struct{ Status string } }
			}
			if err := a.call("GET", "/containers/"+url.PathEscape(name)+"/json", nil, &c); err != nil {
				return err
			}
			if c.State.Health.Status == "healthy" {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the engine did not call %s healthy within a minute (%q)", name, c.State.Health.Status)
			}
			time.Sleep(5 * time.Millisecond) // polling the engine, with a deadline
		}
	}
	return nil
}

// listProject is the one call `ps` cannot do without: the project's
// containers, all states, by Compose's label.
func (a *engineAPI) listProject(project string) error {
	filters := url.QueryEscape(fmt.Sprintf(`{"label":["com.docker.compose.project=%s"]}`, project))
	var out []json.RawMessage
	return a.call("GET", "/containers/json?all=1&filters="+filters, nil, &out)
}

// noOpFloor is what a no-op up must at least ask the engine: the project's
// containers, networks and volumes, and the image, all at once.
func (a *engineAPI) noOpFloor(project, image string) error {
	filters := url.QueryEscape(fmt.Sprintf(`{"label":["com.docker.compose.project=%s"]}`, project))
	var g errgroup.Group
	for _, path := range []string{"/containers/json?all=1&filters=" + filters, "/networks?filters=" + filters,
		"/volumes?filters=" + filters, "/images/" + image + "/json"} {
		g.Go(func() error { return a.call("GET", path, nil, nil) })
	}
	return g.Wait()
}

// timeIt returns how long f took, in seconds.
func timeIt(f func() error) (float64, error) {
	start := time.Now()
	err := f()
	return time.Since(start).Seconds(), err
}

// layers runs a floor project: network and every container created at once,
// then each layer started with no health gating plus its probes passing
// once, layer after layer. It returns the wall time of the whole.
func (a *engineAPI) layers(project, image string, cmd []string, layers [][]floorContainer, parallel int) (float64, error) {
	var all []floorContainer
	for _, l := range layers {
		all = append(all, l...)
	}
	return timeIt(func() error {
		ids, err := a.create(project, image, cmd, all, parallel)
		if err != nil {
			return err
		}
		at := 0
		for _, l := range layers {
			if err := a.startAndProbe(ids[at:at+len(l)], l, parallel); err != nil {
				return err
			}
			at += len(l)
		}
		return nil
	})
}
