package docker

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// resolveHost picks the endpoint as the docker CLI does: --host, then
// --context, then DOCKER_HOST, then DOCKER_CONTEXT, then the CLI's
// current context, then the default socket. where says which one won,
// for error messages.
func resolveHost(o Options) (host, where string, err error) {
	if o.Host != "" && o.Context != "" {
		return "", "", errors.New("--host and --context both name an engine: give only one")
	}
	if o.Host != "" {
		return o.Host, "from --host", nil
	}
	name, source := o.Context, "--context"
	if name == "" {
		if h := os.Getenv("DOCKER_HOST"); h != "" {
			return h, "DOCKER_HOST=" + h, nil
		}
		name, source = os.Getenv("DOCKER_CONTEXT"), "DOCKER_CONTEXT"
	}
	if name == "" {
		name, source = currentContext(), "currentContext in "+filepath.Join(dockerConfigDir(), "config.json")
	}
	if name == "" || name == "default" {
		if h := os.Getenv("DOCKER_HOST"); h != "" {
			return h, "DOCKER_HOST=" + h, nil
		}
		return defaultHost, "the default socket; DOCKER_HOST, --host and --context were not set", nil
	}
	h, err := contextHost(name)
	if err != nil {
		return "", "", fmt.Errorf("docker context %q (from %s): %w", name, source, err)
	}
	return h, fmt.Sprintf("docker context %q from %s", name, source), nil
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

// contextHost reads a docker context's endpoint from the CLI's store,
// where each context lives under the SHA-256 of its name.
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
