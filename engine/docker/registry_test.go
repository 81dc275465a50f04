package docker

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"devstack/engine"
	"devstack/engine/event"
	"devstack/engine/model"
)

// fakeRegistry serves one image, the test busybox (from docker save), over
// the registry API on 127.0.0.1 behind basic auth user:pass. The engine
// speaks plain HTTP to loopback registries, so it can pull from it.
func fakeRegistry(t *testing.T, img, user, pass string) (host string) {
	t.Helper()
	saved, err := exec.Command("docker", "save", img).Output()
	if err != nil {
		t.Fatalf("docker save: %v", err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(saved))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = b
	}
	var saveManifest []struct {
		Config string
		Layers []string
	}
	if err := json.Unmarshal(files["manifest.json"], &saveManifest); err != nil || len(saveManifest) != 1 {
		t.Fatalf("docker save manifest: %v", err)
	}
	blobs := map[string][]byte{}
	digest := func(b []byte) string {
		sum := sha256.Sum256(b)
		d := "sha256:" + hex.EncodeToString(sum[:])
		blobs[d] = b
		return d
	}
	type descriptor struct {
		MediaType string `json:"mediaType"`
		Size      int    `json:"size"`
		Digest    string `json:"digest"`
	}
	config := files[saveManifest[0].Config]
	manifest := struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Config        descriptor   `json:"config"`
		Layers        []descriptor `json:"layers"`
	}{SchemaVersion: 2, MediaType: "application/vnd.docker.distribution.manifest.v2+json",
		Config: descriptor{"application/vnd.docker.container.image.v1+json", len(config), digest(config)}}
	for _, l := range saveManifest[0].Layers {
		var gz bytes.Buffer
		w := gzip.NewWriter(&gz)
		_, _ = w.Write(files[l])
		_ = w.Close()
		manifest.Layers = append(manifest.Layers, descriptor{"application/vnd.docker.image.rootfs.diff.tar.gzip", gz.Len(), digest(gz.Bytes())})
	}
	mb, _ := json.Marshal(manifest)
	manifestDigest := digest(mb)

	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != want {
			w.Header().Set("WWW-Authenticate", `Basic realm="devstack-test"`)
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v2/"), "/")
		switch {
		case r.URL.Path == "/v2/":
			fmt.Fprint(w, "{}")
		case len(parts) >= 3 && parts[len(parts)-2] == "manifests":
			w.Header().Set("Content-Type", manifest.MediaType)
			w.Header().Set("Docker-Content-Digest", manifestDigest)
			w.Header().Set("Content-Length", fmt.Sprint(len(mb)))
			if r.Method != http.MethodHead {
				_, _ = w.Write(mb)
			}
		case len(parts) >= 3 && parts[len(parts)-2] == "blobs" && blobs[parts[len(parts)-1]] != nil:
			b := blobs[parts[len(parts)-1]]
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			w.Header().Set("Docker-Content-Digest", parts[len(parts)-1])
			if r.Method != http.MethodHead {
				_, _ = w.Write(b)
			}
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"errors":[{"code":"NAME_UNKNOWN"}]}`)
		}
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

func writeDockerConfig(t *testing.T, content string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
}

// Pulls and builds send the credentials `docker login` keeps, inline or
// through a credential helper, to a registry that wants them.
func TestRegistryCredentials(t *testing.T) {
	r, img := newTestRuntime(t)
	host := fakeRegistry(t, img, "dev", "s3cret")
	ctx := testCtx(t, 2*time.Minute)
	ref := host + "/devstack-test/private:1"
	removeRef := func() {
		_, _ = r.api.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{Force: true})
	}
	removeRef()
	t.Cleanup(removeRef)

	// No credentials: refused, and the error says to log in.
	writeDockerConfig(t, `{}`)
	err := r.Pull(ctx, ref, event.Discard)
	if err == nil || !strings.Contains(err.Error(), "docker login") {
		t.Fatalf("pull without credentials: %v", err)
	}

	// Inline auths, as docker login writes them without a helper.
	auth := base64.StdEncoding.EncodeToString([]byte("dev:s3cret"))
	writeDockerConfig(t, `{"auths": {"`+host+`": {"auth": "`+auth+`"}}}`)
	if err := r.Pull(ctx, ref, event.Discard); err != nil {
		t.Fatalf("pull with inline credentials: %v", err)
	}
	removeRef()

	// A credential helper, the way docker login stores them on desktops.
	bin := t.TempDir()
	helper := "#!/bin/sh\nread host\n[ \"$host\" = \"" + host + "\" ] || { echo 'credentials not found in native keychain'; exit 1; }\necho '{\"Username\": \"dev\", \"Secret\": \"s3cret\"}'\n"
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-devstacktest"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	writeDockerConfig(t, `{"auths": {"`+host+`": {}}, "credsStore": "devstacktest"}`)
	if err := r.Pull(ctx, ref, event.Discard); err != nil {
		t.Fatalf("pull through a credential helper: %v", err)
	}
	removeRef()

	// A build whose base image is in that registry.
	p := newProject(t)
	tag := "devstack-test/" + p.Name + ":built"
	t.Cleanup(func() {
		_, _ = r.api.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	})
	svc := model.Service{Name: "app", Image: tag, Build: &model.Build{Context: t.TempDir(), Inline: "FROM " + ref + "\nRUN true\n"}}
	if _, err := r.Build(ctx, p, &svc, engine.BuildOptions{}, event.Discard); err != nil {
		t.Fatalf("build from the private base image: %v", err)
	}

	// A helper the config names but that is not installed is said so.
	writeDockerConfig(t, `{"credsStore": "devstack-nonexistent"}`)
	if err := r.Pull(ctx, ref, event.Discard); err == nil || !strings.Contains(err.Error(), "docker-credential-devstack-nonexistent is not installed") {
		t.Fatalf("missing helper: %v", err)
	}
}

func TestRegistryKeys(t *testing.T) {
	for ref, want := range map[string]string{
		"postgres:17":              dockerHubKey,
		"docker.io/library/redis":  dockerHubKey,
		"ghcr.io/acme/app:1":       "ghcr.io",
		"127.0.0.1:5000/private:1": "127.0.0.1:5000",
		"Not A Reference":          "",
	} {
		if got := registryOf(ref); got != want {
			t.Errorf("registryOf(%q) = %q, want %q", ref, got, want)
		}
	}
	for key, want := range map[string]string{
		"https://index.docker.io/v1/": dockerHubKey,
		"ghcr.io":                     "ghcr.io",
		"https://ghcr.io/v2/":         "ghcr.io",
		"http://127.0.0.1:5000":       "127.0.0.1:5000",
	} {
		if got := registryKey(key); got != want {
			t.Errorf("registryKey(%q) = %q, want %q", key, got, want)
		}
	}
}
