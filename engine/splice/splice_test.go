package splice

import (
	"io"
	"net"
	"testing"
	"time"
)

// pair returns both ends of a loopback TCP connection.
func pair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

// client -> [a | Conns | b] -> server: the client shuts its side after
// the request and still reads the whole answer; Conns returns once both
// are done.
func TestConnsPassesHalfCloseOn(t *testing.T) {
	client, a := pair(t)
	b, server := pair(t)
	joined := make(chan struct{})
	go func() { Conns(a, b); close(joined) }()

	if _, err := client.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	client.(*net.TCPConn).CloseWrite()
	_ = server.SetDeadline(time.Now().Add(10 * time.Second))
	req, err := io.ReadAll(server) // ends only if the half-close came through
	if err != nil || string(req) != "request" {
		t.Fatalf("server read %q, %v", req, err)
	}
	if _, err := server.Write([]byte("answer")); err != nil {
		t.Fatalf("the server cannot answer after the client's half-close: %v", err)
	}
	server.Close()
	_ = client.SetDeadline(time.Now().Add(10 * time.Second))
	ans, err := io.ReadAll(client)
	if err != nil || string(ans) != "answer" {
		t.Fatalf("client read %q, %v", ans, err)
	}
	select {
	case <-joined:
	case <-time.After(10 * time.Second):
		t.Fatal("Conns did not return once both directions were done")
	}
}

// The end of the server's stream cannot be passed on as a half-close to
// a client that has none (a pipe): both directions end, and Conns
// returns although the client never closes.
func TestConnsEndsBothWithoutHalfClose(t *testing.T) {
	client, a := net.Pipe()
	b, server := pair(t)
	joined := make(chan struct{})
	go func() { Conns(a, b); close(joined) }()
	go func() { _, _ = io.Copy(io.Discard, client) }()
	server.Close()
	select {
	case <-joined:
	case <-time.After(10 * time.Second):
		t.Fatal("Conns still runs after the server ended and the client cannot be half-closed")
	}
}
