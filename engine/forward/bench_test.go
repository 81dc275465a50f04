package forward_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"devstack/engine"
	"devstack/engine/docker"
	"devstack/engine/enginetest"
	"devstack/engine/event"
	"devstack/engine/forward"
	"devstack/engine/load"
)

// BenchmarkForwardedRequest times HTTP requests to a container on the SSH
// test host through its forward on 127.0.0.1 and directly at the host's
// address (the engine's published port over the same veth), alternating,
// on one kept-alive connection each and with a new connection per
// request; then 100 connections at once through the forward. Run with
// -benchtime=1x: the setup (a private engine) is most of the time.
func BenchmarkForwardedRequest(b *testing.B) {
	h := enginetest.StartSSHHost(b)
	h.LoadImage(enginetest.Busybox(b))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rt, err := docker.New(ctx, docker.Options{Host: h.URL})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	port := 20000 + int(time.Now().UnixNano()%9000)
	for ; ; port++ {
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			l.Close()
			break
		}
	}
	dir := b.TempDir()
	compose := fmt.Sprintf("services:\n  web:\n    image: %s\n    command: [\"sh\", \"-c\", \"mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 80 -h /www\"]\n    ports: [\"%d:80\"]\n    init: true\n",
		enginetest.BusyboxImage, port)
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		b.Fatal(err)
	}
	p, err := load.Load(ctx, load.Options{WorkDir: dir, ProjectName: "fwdbench"})
	if err != nil {
		b.Fatal(err)
	}
	if err := engine.New(rt, event.Discard).Up(ctx, p, engine.UpOptions{}); err != nil {
		b.Fatal(err)
	}
	f := forward.New(rt.DialEngineHost(), nil)
	defer f.Close()
	ready := make(chan struct{})
	go func() {
		_ = forward.Follow(ctx, rt, p, f, forward.FollowOptions{Ready: func() { close(ready) }})
	}()
	<-ready
	local := "127.0.0.1:" + strconv.Itoa(port)
	direct := net.JoinHostPort(h.Addr, strconv.Itoa(port))

	kept := func() *http.Client { return &http.Client{Timeout: 10 * time.Second} }
	fresh := func() *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	}
	request := func(c *http.Client, addr string) (time.Duration, error) {
		start := time.Now()
		resp, err := c.Get("http://" + addr + "/")
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(start), err
	}
	// Wait for httpd, through both ways.
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, e1 := request(fresh(), direct)
		_, e2 := request(fresh(), local)
		if e1 == nil && e2 == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("not answering: direct %v, forwarded %v", e1, e2)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
	const n = 200
	for _, mode := range []struct {
		name   string
		client func() *http.Client
	}{{"keepalive", kept}, {"newconn", fresh}} {
		cd, cl := mode.client(), mode.client()
		var ds, ls []time.Duration
		for i := 0; i < n; i++ {
			d, err := request(cd, direct)
			if err != nil {
				b.Fatal(err)
			}
			l, err := request(cl, local)
			if err != nil {
				b.Fatal(err)
			}
			ds, ls = append(ds, d), append(ls, l)
		}
		pd, pl := p50(ds), p50(ls)
		b.ReportMetric(ms(pd), mode.name+"-direct-p50-ms")
		b.ReportMetric(ms(pl), mode.name+"-forwarded-p50-ms")
		b.ReportMetric(ms(pl-pd), mode.name+"-added-p50-ms")
		b.Logf("%s: p50 direct %.2f ms, forwarded %.2f ms (+%.2f ms), %d requests each", mode.name, ms(pd), ms(pl), ms(pl-pd), n)
	}

	// 100 connections held at once through the forward.
	const conns = 100
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	start := time.Now()
	held := make([]net.Conn, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", local, 10*time.Second)
			if err != nil {
				errs <- err
				return
			}
			held[i] = c
		}()
	}
	wg.Wait()
	for i := range conns {
		if held[i] == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := held[i]
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.WriteString(c, "GET / HTTP/1.0\r\n\r\n"); err != nil {
				errs <- err
				return
			}
			body, err := io.ReadAll(c)
			if err != nil || len(body) == 0 {
				errs <- fmt.Errorf("read: %v (%d bytes)", err, len(body))
			}
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		failed++
		b.Log(err)
	}
	b.ReportMetric(float64(conns-failed), "concurrent-ok")
	b.Logf("%d connections held at once through the forward: %d answered, in %v", conns, conns-failed, time.Since(start).Round(time.Millisecond))
	if failed > 0 {
		b.Errorf("%d of %d concurrent connections failed", failed, conns)
	}
	_ = engine.New(rt, event.Discard).Down(ctx, p, engine.DownOptions{Volumes: true})
}

func p50(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
