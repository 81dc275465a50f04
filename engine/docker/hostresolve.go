package docker

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// endpoint is the engine to talk to.
type endpoint struct {
	host  string
	where string // how it was chosen, for error messages
	// tls holds a context's ca.pem, cert.pem and key.pem ("" for those
	// it lacks); nil without TLS material.
	tls *[3]string
}

// resolveHost picks the endpoint as the docker CLI does: --host, then
// --context, then DOCKER_HOST, then DOCKER_CONTEXT, then the CLI's
// current context, then the default socket.
func resolveHost(o Options) (endpoint, error) {
	if o.Host != "" && o.Context != "" {
		return endpoint{}, errors.New("--host and --context both name an engine: give only one")
	}
	if o.Host != "" {
		return endpoint{host: o.Host, where: "from --host"}, nil
	}
	name, source := o.Context, "--context"
	if name == "" {
		if h := os.Getenv("DOCKER_HOST"); h != "" {
			return endpoint{host: h, where: "DOCKER_HOST=" + h}, nil
		}
		name, source = os.Getenv("DOCKER_CONTEXT"), "DOCKER_CONTEXT"
	}
	if name == "" {
		name, source = currentContext(), "currentContext in "+filepath.Join(dockerConfigDir(), "config.json")
	}
	if name == "" || name == "default" {
		if h := os.Getenv("DOCKER_HOST"); h != "" {
			return endpoint{host: h, where: "DOCKER_HOST=" + h}, nil
		}
		return localEngine(defaultSockets(), socketPresent), nil
	}
	ep, err := contextEndpoint(name)
	if err != nil {
		return endpoint{}, fmt.Errorf("docker context %q (from %s): %w", name, source, err)
	}
	ep.where = fmt.Sprintf("docker context %q from %s", name, source)
	return ep, nil
}

// dockerConfigDir is the docker CLI's configuration directory.
func dockerConfigDir() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".docker")
}

// currentContext reads the CLI's current context; "" when there is none.
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

// contextEndpoint reads a docker context's endpoint from the CLI's
// store, where each context lives under the SHA-256 of its name, with
// its TLS material (if any) in a twin directory.
func contextEndpoint(name string) (endpoint, error) {
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	path := filepath.Join(dockerConfigDir(), "contexts", "meta", id, "meta.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return endpoint{}, fmt.Errorf("no such context (looked for %s): list them with `docker context ls`", path)
	}
	var meta struct {
		Endpoints map[string]struct {
			Host string `json:"Host"`
		} `json:"Endpoints"`
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return endpoint{}, fmt.Errorf("unreadable context metadata %s: %w", path, err)
	}
	ep := endpoint{host: meta.Endpoints["docker"].Host}
	if ep.host == "" {
		return endpoint{}, fmt.Errorf("context metadata %s has no docker endpoint", path)
	}
	tlsDir := filepath.Join(dockerConfigDir(), "contexts", "tls", id, "docker")
	var files [3]string
	for i, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if _, err := os.Stat(filepath.Join(tlsDir, f)); err == nil {
			files[i] = filepath.Join(tlsDir, f)
			ep.tls = &files
		}
	}
	return ep, nil
}

// candidate is a place a local engine listens by default.
type candidate struct {
	host string // unix:///… or npipe://…
	what string // whose it is: "Docker Desktop", "colima"
}

// localEngine picks the first of the platform's default sockets that is
// there (defaultSockets, one file per platform). When none is, it names
// the first and says every path it looked at, so that the error of the
// connection that follows tells the user where devstack looked.
func localEngine(cands []candidate, present func(host string) bool) endpoint {
	const unset = "DOCKER_HOST, --host and --context were not set"
	if len(cands) == 1 {
		return endpoint{host: cands[0].host, where: "the default socket; " + unset}
	}
	var looked []string
	for _, c := range cands {
		if present(c.host) {
			return endpoint{host: c.host, where: fmt.Sprintf("the default socket of %s; %s", c.what, unset)}
		}
		looked = append(looked, fmt.Sprintf("%s (%s)", socketPath(c.host), c.what))
	}
	return endpoint{host: cands[0].host, where: "no default socket is there: looked at " + strings.Join(looked, ", ") + "; " + unset}
}

// socketPath is the file a unix:// host names ("" for other schemes).
func socketPath(host string) string {
	if p, ok := strings.CutPrefix(host, "unix://"); ok {
		return p
	}
	return strings.TrimPrefix(host, "npipe://")
}

// socketPresent reports whether a unix socket's file exists; hosts of
// other schemes are taken as present (a named pipe is only known by
// connecting to it).
func socketPresent(host string) bool {
	if !strings.HasPrefix(host, "unix://") {
		return true
	}
	_, err := os.Stat(socketPath(host))
	return err == nil
}

// missingSocket explains a unix:// host whose socket file is not there,
// naming the path and how it was chosen (the context, the variable);
// nil when it is there or the host is not a unix socket. It is checked
// before connecting so that the message says "not there" rather than
// the dialer's "no such file or directory".
func missingSocket(ep endpoint) error {
	if !strings.HasPrefix(ep.host, "unix://") {
		return nil
	}
	_, err := os.Stat(socketPath(ep.host))
	if !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return fmt.Errorf("there is no Docker engine socket at %s (%s): %s, or point devstack at another engine with --host, DOCKER_HOST or --context", socketPath(ep.host), ep.where, startHint)
}
