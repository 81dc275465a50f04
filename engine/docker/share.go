package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"devstack/engine/splice"
	"devstack/engine/state"
)

// A process that keeps an SSH connection to an engine for long (the
// background `devstack forward`) shares it, as ssh's ControlMaster does:
// it listens on a unix socket in the user's private state directory, and
// each connection to that socket becomes an API connection to the engine
// over its SSH connection. Other commands on the same engine (ps, logs,
// exec, ...) use the socket when it answers and so skip the SSH handshake,
// which on a slow link is most of their time (seven round trips before
// the first API call). The socket is only the user's (0600 in a 0700
// directory): what reaches it reaches the engine, as the user's SSH key does.

// SharePath is where the connection to the engine at host is shared.
func SharePath(host string) (string, error) {
	dir, err := state.Dir()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(host))
	// Short: a unix socket's path may not exceed 107 bytes.
	return filepath.Join(dir, "ssh", hex.EncodeToString(sum[:8])+".sock"), nil
}

// Share serves the runtime's SSH connection on SharePath until ctx ends.
// It returns at once, without error, when the engine is not reached over
// SSH or another process shares a connection to it already.
func (r *Runtime) Share(ctx context.Context) error {
	if r.ssh == nil {
		return nil
	}
	path, err := SharePath(r.host)
	if err != nil {
		return err
	}
	if answers(path) {
		return nil
	}
	if err := state.MkdirAll(filepath.Dir(path)); err != nil {
		return fmt.Errorf("unable to share the SSH connection: %w", err)
	}
	_ = os.Remove(path) // a socket left by a process that died
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("unable to share the SSH connection: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("unable to share the SSH connection: %w", err)
	}
	r.ssh.mu.Lock()
	r.ssh.shared = "" // this process's own calls go straight over its connection
	r.ssh.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer func() {
		// Only our own socket: another process may have taken the path.
		if fi, err := os.Stat(path); err == nil && fi.Mode()&os.ModeSocket != 0 && !answers(path) {
			_ = os.Remove(path)
		}
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("unable to share the SSH connection: %w", err)
		}
		go func() {
			e, err := r.ssh.sshDial(ctx)
			if err != nil {
				c.Close() // the command sees EOF: the engine's machine is unreachable
				return
			}
			splice.Conns(c, e)
		}()
	}
}

// answers reports whether a process listens on the unix socket at path.
func answers(path string) bool {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// errNotShared means no process shares a connection to the engine.
var errNotShared = errors.New("no shared connection")

// sharedDial connects to the socket of a process sharing its connection
// to the engine.
func sharedDial(ctx context.Context, path string) (net.Conn, error) {
	if path == "" {
		return nil, errNotShared
	}
	var d net.Dialer
	return d.DialContext(ctx, "unix", path)
}
