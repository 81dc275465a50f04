package docker

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/registry"
)

// The engine keeps no registry credentials: a client sends them with
// every pull, and with every build for the base images it pulls. They are
// read where `docker login` keeps them, so a registry the user logged in
// to works here too: the config file (DOCKER_CONFIG, else ~/.docker) and
// its credential helpers (credHelpers per registry, else credsStore),
// then its inline auths.

// dockerConfig is what devstack reads of the docker CLI's config file.
type dockerConfig struct {
	path        string
	Auths       map[string]configAuth `json:"auths"`
	CredsStore  string                `json:"credsStore"`
	CredHelpers map[string]string     `json:"credHelpers"`
}

type configAuth struct {
	Auth          string `json:"auth"` // base64 of user:password
	IdentityToken string `json:"identitytoken"`
}

// dockerHubKey is how the config file names Docker Hub.
const dockerHubKey = "https://index.docker.io/v1/"

func loadDockerConfig() (*dockerConfig, error) {
	dir := os.Getenv("DOCKER_CONFIG")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".docker")
	}
	c := &dockerConfig{path: filepath.Join(dir, "config.json")}
	b, err := os.ReadFile(c.path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("%s: %v: fix the file (or log in again with docker login)", c.path, err)
	}
	return c, nil
}

// registryOf returns the registry of an image reference, named as the
// config file names it; "" when ref is not a valid reference.
func registryOf(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ""
	}
	if d := reference.Domain(named); d != "docker.io" {
		return d
	}
	return dockerHubKey
}

// credentials returns what the config file holds for a registry; ok is
// false when it holds nothing.
func (c *dockerConfig) credentials(host string) (ac registry.AuthConfig, ok bool, err error) {
	helper := c.CredHelpers[host]
	if helper == "" {
		helper = c.CredsStore
	}
	if helper != "" {
		if ac, ok, err := helperGet(helper, host); err != nil || ok {
			return ac, ok, err
		}
	}
	for key, a := range c.Auths {
		if registryKey(key) != registryKey(host) || (a.Auth == "" && a.IdentityToken == "") {
			continue
		}
		ac = registry.AuthConfig{ServerAddress: host, IdentityToken: a.IdentityToken}
		if a.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(a.Auth)
			user, pass, found := strings.Cut(string(raw), ":")
			if err != nil || !found {
				return ac, false, fmt.Errorf("%s: the auth of %s is not base64 of user:password: log in again with docker login", c.path, key)
			}
			ac.Username, ac.Password = user, pass
		}
		return ac, true, nil
	}
	return registry.AuthConfig{}, false, nil
}

// registryKey reduces the ways a config file may name a registry
// ("host", "https://host", "https://host/v2/") to one.
func registryKey(s string) string {
	if s == dockerHubKey || s == "docker.io" || s == "index.docker.io" {
		return dockerHubKey
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	host, _, _ := strings.Cut(s, "/")
	return host
}

// helperGet asks docker-credential-<helper> for a registry's credentials.
func helperGet(helper, host string) (registry.AuthConfig, bool, error) {
	cmd := exec.Command("docker-credential-"+helper, "get")
	cmd.Stdin = strings.NewReader(host)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return registry.AuthConfig{}, false, fmt.Errorf("the credential helper docker-credential-%s is not installed (the docker config names it): install it, or remove it from the config", helper)
		}
		if strings.Contains(stdout.String()+stderr.String(), "credentials not found") {
			return registry.AuthConfig{}, false, nil
		}
		return registry.AuthConfig{}, false, fmt.Errorf("docker-credential-%s get %s: %v: %s", helper, host, err, strings.TrimSpace(stderr.String()+stdout.String()))
	}
	var r struct{ Username, Secret string }
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return registry.AuthConfig{}, false, fmt.Errorf("docker-credential-%s get %s: %v", helper, host, err)
	}
	if r.Username == "<token>" {
		return registry.AuthConfig{ServerAddress: host, IdentityToken: r.Secret}, true, nil
	}
	return registry.AuthConfig{ServerAddress: host, Username: r.Username, Password: r.Secret}, true, nil
}

// pullAuth returns the X-Registry-Auth value for pulling ref: "" when no
// credentials are kept for its registry.
func pullAuth(ref string) (string, error) {
	host := registryOf(ref)
	if host == "" {
		return "", nil
	}
	c, err := loadDockerConfig()
	if err != nil {
		return "", err
	}
	ac, ok, err := c.credentials(host)
	if err != nil || !ok {
		return "", err
	}
	b, err := json.Marshal(ac)
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(b), nil
}

// authCache keeps buildAuths' answer for a moment: an up builds several
// images at once, and each would otherwise run every credential helper
// again; short-lived, so a `docker login` meanwhile is seen soon.
type authCache struct {
	mu    sync.Mutex
	at    time.Time
	auths map[string]registry.AuthConfig
}

const authCacheFor = time.Minute

func (c *authCache) get() (map[string]registry.AuthConfig, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.auths != nil && time.Since(c.at) < authCacheFor {
		return c.auths, nil
	}
	auths, err := buildAuths()
	if err != nil {
		return nil, err
	}
	c.auths, c.at = auths, time.Now()
	return auths, nil
}

// buildAuths returns the credentials of every registry the config file
// knows, for the base images a build pulls (which registries it needs is
// only known once the Dockerfile runs).
func buildAuths() (map[string]registry.AuthConfig, error) {
	c, err := loadDockerConfig()
	if err != nil {
		return nil, err
	}
	hosts := map[string]bool{}
	for k := range c.Auths {
		hosts[k] = true
	}
	for k := range c.CredHelpers {
		hosts[k] = true
	}
	out := map[string]registry.AuthConfig{}
	for host := range hosts {
		ac, ok, err := c.credentials(host)
		if err != nil {
			return nil, err
		}
		if ok {
			out[host] = ac
		}
	}
	return out, nil
}

// credentialsFile is a docker CLI config.json holding the credentials of
// every registry this machine's docker config knows (helpers asked), as
// Compose gives a use_api_socket container: its own docker CLI then pulls
// and pushes as the user does.
func credentialsFile() ([]byte, error) {
	auths, err := buildAuths()
	if err != nil {
		return nil, err
	}
	type entry struct {
		Auth          string `json:"auth,omitempty"`
		IdentityToken string `json:"identitytoken,omitempty"`
	}
	out := struct {
		Auths map[string]entry `json:"auths"`
	}{Auths: map[string]entry{}}
	for host, a := range auths {
		e := entry{IdentityToken: a.IdentityToken}
		if a.Username != "" || a.Password != "" {
			e.Auth = base64.StdEncoding.EncodeToString([]byte(a.Username + ":" + a.Password))
		}
		out.Auths[host] = e
	}
	return json.MarshalIndent(out, "", "\t")
}
