// Package splice joins two connections: what one side sends goes to the
// other, both ways. The engine's shared SSH connection, its port
// forwards and the tests' tcp:// engine all relay connections this way.
package splice

import (
	"io"
	"net"
)

// Conns copies both ways until both directions are done, then closes
// both. A side's end of stream is passed on as a half-close (CloseWrite)
// so that the other side still answers: an exec's end of input, an HTTP
// client that shuts its side and reads the reply. An error either way,
// or a side that cannot half-close, ends both directions at once: the
// other copy would otherwise wait on a peer that will never finish.
func Conns(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, err := io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok && err == nil {
			_ = cw.CloseWrite()
		} else {
			a.Close()
			b.Close()
		}
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	<-done
	a.Close()
	b.Close()
}
