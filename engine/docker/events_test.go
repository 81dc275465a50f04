package docker

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An engine that ends the event stream (a daemon restart does) must be
// reported once on the error channel. A small stand-in engine plays
// that part: the real one cannot be restarted by a test.
func TestEventsReportTheStreamsEnd(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "engine.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/_ping", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		_, _ = w.Write([]byte("OK"))
	})
	mux.HandleFunc("/v1.41/events", func(w http.ResponseWriter, r *http.Request) {
		if f := r.URL.Query().Get("filters"); !strings.Contains(f, "com.docker.compose.project=demo") || !strings.Contains(f, "container") {
			t.Errorf("filters = %s", f)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"Type":"container","Action":"health_status: unhealthy","Actor":{"ID":"abc","Attributes":{"name":"demo-db-1","com.docker.compose.service":"db","com.docker.compose.container-number":"1"}},"time":1,"timeNano":1000000001}` + "\n"))
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })

	r, err := New(context.Background(), Options{Host: "unix://" + sock})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	evs, errs := r.Events(ctx, "demo")
	select {
	case ev := <-evs:
		if ev.Action != "health_status" || ev.Health != "unhealthy" || ev.Service != "db" || ev.Number != 1 {
			t.Errorf("event = %+v", ev)
		}
	case <-ctx.Done():
		t.Fatal("no event")
	}
	select {
	case err := <-errs:
		if err == nil || !strings.Contains(err.Error(), "ended its event stream") {
			t.Errorf("the end of the stream must be an error that says so: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the end of the stream was not reported")
	}
	if _, open := <-evs; open {
		t.Error("events still open")
	}
	if _, open := <-errs; open {
		t.Error("more than one error")
	}
}
