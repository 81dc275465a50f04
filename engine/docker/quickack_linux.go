package docker

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// quickAckConn acknowledges every segment at once. sshd leaves Nagle's
// algorithm on for connections without a terminal, so when it sends
// several small responses in a row (Observe's parallel calls) it holds
// each back until the previous one is acknowledged, and Linux's delayed
// ACK makes that wait up to 40 ms. The kernel clears TCP_QUICKACK after
// use, so it is set again after every read.
type quickAckConn struct {
	net.Conn
	raw syscall.RawConn
}

func withQuickAck(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	q := &quickAckConn{Conn: c, raw: raw}
	q.set()
	return q
}

func (q *quickAckConn) set() {
	_ = q.raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
	})
}

func (q *quickAckConn) Read(b []byte) (int, error) {
	n, err := q.Conn.Read(b)
	q.set()
	return n, err
}
