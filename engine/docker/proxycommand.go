package docker

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"time"
)

// proxyConn is the connection a ProxyCommand makes: what is written goes
// to its standard input, what it writes to its standard output is read.
// Its pipes are files, so deadlines work (the handshake is bounded).
type proxyConn struct {
	cmd    *exec.Cmd
	r, w   *os.File // our ends: its stdout, its stdin
	waited chan struct{}
}

// dialProxyCommand runs command with sh, as ssh(1) does.
func dialProxyCommand(command string) (net.Conn, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, os.Stderr
	ownProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("ProxyCommand %q: %w", command, err)
	}
	inR.Close()
	outW.Close()
	c := &proxyConn{cmd: cmd, r: outR, w: inW, waited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.waited) }()
	return c, nil
}

func (c *proxyConn) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c *proxyConn) Write(b []byte) (int, error) { return c.w.Write(b) }

// Close ends the command (its whole process group) and its pipes.
func (c *proxyConn) Close() error {
	c.w.Close()
	c.r.Close()
	signalGroup(c.cmd, false)
	select {
	case <-c.waited:
	case <-time.After(2 * time.Second):
		signalGroup(c.cmd, true)
		<-c.waited
	}
	return nil
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "proxycommand" }

func (c *proxyConn) LocalAddr() net.Addr  { return pipeAddr{} }
func (c *proxyConn) RemoteAddr() net.Addr { return pipeAddr{} }

func (c *proxyConn) SetDeadline(t time.Time) error {
	return errors.Join(c.r.SetReadDeadline(t), c.w.SetWriteDeadline(t))
}
func (c *proxyConn) SetReadDeadline(t time.Time) error  { return c.r.SetReadDeadline(t) }
func (c *proxyConn) SetWriteDeadline(t time.Time) error { return c.w.SetWriteDeadline(t) }
