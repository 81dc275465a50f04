// Package buildkit is the client side of a BuildKit build on a Docker
// engine: the session that serves the engine's builder the build context,
// the Dockerfile, secrets, SSH agents and registry credentials, and the
// decoding of the progress the engine streams back. The session protocol
// is BuildKit's own (github.com/moby/buildkit/session and its providers):
// this package only chooses what each provider offers.
package buildkit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth"
	"github.com/moby/buildkit/session/filesync"
	"github.com/moby/buildkit/session/secrets"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	"github.com/tonistiigi/fsutil"
	fstypes "github.com/tonistiigi/fsutil/types"
	"google.golang.org/grpc"
)

// Dialer opens the session's connection to the engine (the moby client's
// DialHijack to /session): over the same transport as every other API
// call, so an ssh:// engine gets its session through the one SSH
// connection.
type Dialer func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error)

// Config is what one build's session offers.
type Config struct {
	// Dirs are the local directories the build may read, by the name the
	// builder asks for: "context", "dockerfile", and named contexts.
	Dirs map[string]string
	// Secrets by the id RUN --mount=type=secret asks for.
	Secrets map[string]Secret
	// SSH agents or keys by id; nil offers none.
	SSH []SSH
	// Credentials returns the registry login for a host, if any.
	Credentials func(host string) (user, secret string, ok bool)
}

// Secret is one build secret: the content of a file, read when the build
// asks for it, or a value (from the environment).
type Secret struct {
	File  string
	Value []byte
	isSet bool
}

// FileSecret is a secret read from path when the build asks for it.
func FileSecret(path string) Secret { return Secret{File: path, isSet: true} }

// ValueSecret is a secret with a value known now.
func ValueSecret(v []byte) Secret { return Secret{Value: v, isSet: true} }

// SSH offers an SSH agent (Paths empty: SSH_AUTH_SOCK) or keys under ID.
type SSH struct {
	ID    string
	Paths []string
}

// Session is a running BuildKit session.
type Session struct {
	s    *session.Session
	done chan struct{}
	mu   sync.Mutex
	err  error // why Run ended, if it did on its own
}

// ID is what the build request names the session by.
func (s *Session) ID() string { return s.s.ID() }

// Close ends the session and waits for it.
func (s *Session) Close() error {
	_ = s.s.Close()
	<-s.done
	return nil
}

// Start opens a session offering cfg and runs it over dial until Close.
// Its shared key is derived from the context directory, so the builder
// recognises the same context on the next build and BuildKit sends only
// the files that changed.
func Start(ctx context.Context, cfg Config, dial Dialer) (*Session, error) {
	s, err := session.NewSession(ctx, sharedKey(cfg.Dirs["context"]))
	if err != nil {
		return nil, fmt.Errorf("unable to open a build session: %w", err)
	}
	dirs := filesync.StaticDirSource{}
	for name, dir := range cfg.Dirs {
		fs, err := fsutil.NewFS(dir)
		if err != nil {
			return nil, fmt.Errorf("unable to read %s: %w", dir, err)
		}
		dirs[name] = fs
	}
	// Owners are zeroed: a build must not depend on who ran it (the tar
	// context does the same).
	s.Allow(filesync.NewFSSyncProvider(dirs, func(_ string, o *fsutil.FilterOpt) error {
		o.Map = func(_ string, st *fstypes.Stat) fsutil.MapResult {
			st.Uid, st.Gid = 0, 0
			return fsutil.MapResultKeep
		}
		return nil
	}))
	s.Allow(secretsprovider.NewSecretProvider(secretStore(cfg.Secrets)))
	if len(cfg.SSH) > 0 {
		var confs []sshprovider.AgentConfig
		for _, k := range cfg.SSH {
			confs = append(confs, sshprovider.AgentConfig{ID: k.ID, Paths: k.Paths})
		}
		p, err := sshprovider.NewSSHAgentProvider(confs)
		if err != nil {
			return nil, err
		}
		s.Allow(p)
	}
	s.Allow(&authProvider{creds: cfg.Credentials})

	out := &Session{s: s, done: make(chan struct{})}
	go func() {
		defer close(out.done)
		if err := s.Run(context.WithoutCancel(ctx), session.Dialer(dial)); err != nil {
			out.mu.Lock()
			out.err = err
			out.mu.Unlock()
		}
	}()
	return out, nil
}

// Err is why the session ended on its own (it could not reach the
// engine), or nil.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// sharedKey names a context directory the same way on every build from
// this machine, and differently for different directories.
func sharedKey(dir string) string {
	host, _ := os.Hostname()
	sum := sha256.Sum256([]byte("devstack\x00" + host + "\x00" + dir))
	return hex.EncodeToString(sum[:16])
}

// secretStore answers the builder's secret requests. An unknown id is
// secrets.ErrNotFound, which BuildKit reports naming the id (or ignores,
// for a mount that is not required).
type secretStore map[string]Secret

func (m secretStore) GetSecret(_ context.Context, id string) ([]byte, error) {
	sec, ok := m[id]
	if !ok || !sec.isSet {
		return nil, secrets.ErrNotFound
	}
	if sec.File == "" {
		return sec.Value, nil
	}
	data, err := os.ReadFile(sec.File)
	if err != nil {
		// The path is the user's own, not secret; the content never is
		// part of an error.
		return nil, fmt.Errorf("unable to read the secret file %s: %w", sec.File, errors.Unwrap(err))
	}
	return data, nil
}

// SecretIDs lists the secret ids a config offers, sorted (for messages).
func (c Config) SecretIDs() []string {
	var ids []string
	for id := range c.Secrets {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// authProvider gives the builder the registry credentials devstack
// already holds for the engine's pulls (docker login's store).
type authProvider struct {
	auth.UnimplementedAuthServer
	creds func(host string) (string, string, bool)
}

func (a *authProvider) Register(s *grpc.Server) { auth.RegisterAuthServer(s, a) }

func (a *authProvider) Credentials(_ context.Context, req *auth.CredentialsRequest) (*auth.CredentialsResponse, error) {
	if a.creds == nil {
		return &auth.CredentialsResponse{}, nil
	}
	host := req.GetHost()
	if host == "registry-1.docker.io" {
		host = "https://index.docker.io/v1/"
	}
	user, secret, ok := a.creds(strings.TrimSpace(host))
	if !ok {
		return &auth.CredentialsResponse{}, nil
	}
	return &auth.CredentialsResponse{Username: user, Secret: secret}, nil
}
