// Package docker implements engine.Runtime over the Docker Engine API with
// the moby client. It is the only package that speaks moby: the rest of
// devstack sees model types and events.
package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"devstack/engine"
)

// Options choose the engine to talk to.
type Options struct {
	Host    string // unix://, tcp://, ssh://; "" means DOCKER_HOST, then the docker context
	Context string // a docker context name; "" means DOCKER_CONTEXT, then the CLI's current context
}

// Runtime is engine.Runtime on a Docker engine.
type Runtime struct {
	api   *client.Client
	host  string
	where string // how the host was chosen, for error messages
	close func() error
}

var _ engine.Runtime = (*Runtime)(nil)

// defaultHost is the local engine's socket.
const defaultHost = "unix:///var/run/docker.sock"

// New connects to the engine the options (or the environment) name and
// checks that it answers.
func New(ctx context.Context, o Options) (*Runtime, error) {
	host, where, err := resolveHost(o)
	if err != nil {
		return nil, err
	}
	opts := []client.Opt{client.WithHost(host)}
	closeFn := func() error { return nil }
	if strings.HasPrefix(host, "ssh://") {
		d, err := newSSHDialer(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("unable to reach the engine at %s (%s): %w", host, where, err)
		}
		opts = []client.Opt{client.WithHost("http://docker.invalid"), client.WithDialContext(d.DialContext)}
		closeFn = d.Close
	} else if strings.HasPrefix(host, "tcp://") && os.Getenv("DOCKER_TLS_VERIFY") != "" {
		opts = append(opts, client.WithTLSClientConfigFromEnv())
	}
	api, err := client.New(opts...)
	if err != nil {
		closeFn()
		return nil, fmt.Errorf("unable to use the engine at %s (%s): %w", host, where, err)
	}
	r := &Runtime{api: api, host: host, where: where, close: closeFn}
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := r.Ping(pingCtx); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// Host names the engine endpoint.
func (r *Runtime) Host() string { return r.host }

// Close releases the connection.
func (r *Runtime) Close() error {
	err := r.api.Close()
	if cerr := r.close(); err == nil {
		err = cerr
	}
	return err
}

// Ping checks that the engine answers, and says where it looked if not.
func (r *Runtime) Ping(ctx context.Context) error {
	if _, err := r.api.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		hint := "is the Docker engine running? (start dockerd, or `systemctl start docker`)"
		if strings.Contains(err.Error(), "permission denied") {
			hint = "you may not use its socket: add yourself to the docker group or run as root"
		}
		return fmt.Errorf("the Docker engine at %s (%s) does not answer: %v: %s", r.host, r.where, err, hint)
	}
	return nil
}

// resolveHost picks the endpoint as the docker CLI does: --host, then
// DOCKER_HOST, then --context / DOCKER_CONTEXT / the current context,
// then the default socket.
func resolveHost(o Options) (host, where string, err error) {
	if o.Host != "" {
		return o.Host, "from --host", nil
	}
	if h := os.Getenv("DOCKER_HOST"); h != "" && o.Context == "" {
		return h, "from DOCKER_HOST", nil
	}
	name, source := o.Context, "from --context"
	if name == "" {
		name, source = os.Getenv("DOCKER_CONTEXT"), "from DOCKER_CONTEXT"
	}
	if name == "" {
		name, source = currentContext(), "the docker CLI's current context"
	}
	if name != "" && name != "default" {
		h, err := contextHost(name)
		if err != nil {
			return "", "", fmt.Errorf("docker context %q (%s): %w", name, source, err)
		}
		return h, fmt.Sprintf("docker context %q", name), nil
	}
	return defaultHost, "the default socket; set DOCKER_HOST or --host to use another engine", nil
}

func dockerConfigDir() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".docker")
}

func currentContext() string {
	b, err := os.ReadFile(filepath.Join(dockerConfigDir(), "config.json"))
	if err != nil {
		return ""
	}
	var cfg struct {
		CurrentContext string `json:"currentContext"`
	}
	_ = json.Unmarshal(b, &cfg)
	return cfg.CurrentContext
}

// contextHost reads a docker context's endpoint from the CLI's store.
func contextHost(name string) (string, error) {
	sum := sha256.Sum256([]byte(name))
	path := filepath.Join(dockerConfigDir(), "contexts", "meta", hex.EncodeToString(sum[:]), "meta.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("no such context (looked for %s): list them with `docker context ls`", path)
	}
	var meta struct {
		Endpoints map[string]struct {
			Host string `json:"Host"`
		} `json:"Endpoints"`
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return "", fmt.Errorf("unreadable context metadata %s: %w", path, err)
	}
	h := meta.Endpoints["docker"].Host
	if h == "" {
		return "", fmt.Errorf("context metadata %s has no docker endpoint", path)
	}
	return h, nil
}
