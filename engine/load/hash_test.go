package load

import (
	"testing"
)

func TestConfigHashIsDeterministic(t *testing.T) {
	for _, name := range []string{"full", "hash"} {
		dir := fixture(t, name)
		first := mustLoad(t, Options{WorkDir: dir})
		// Several loads: map order in compose-go differs from one to the next.
		for range 5 {
			again := mustLoad(t, Options{WorkDir: dir})
			for _, s := range first.Services {
				if got := service(t, again, s.Name).ConfigHash; got != s.ConfigHash {
					t.Fatalf("%s/%s: hash %s, then %s", name, s.Name, s.ConfigHash, got)
				}
			}
		}
	}
}

func TestConfigHashFollowsTheEnvironment(t *testing.T) {
	dir := fixture(t, "hash")
	dev := mustLoad(t, Options{WorkDir: dir})
	prod := mustLoad(t, Options{WorkDir: dir, Env: []string{"MODE=prod"}})
	if service(t, dev, "api").ConfigHash == service(t, prod, "api").ConfigHash {
		t.Error("MODE=prod did not change the hash of api, which reads it")
	}
	if service(t, dev, "db").ConfigHash != service(t, prod, "db").ConfigHash {
		t.Error("MODE=prod changed the hash of db, which does not read it")
	}
}

func TestSelectionSkipsOtherServicesEnvFiles(t *testing.T) {
	p := mustLoad(t, Options{WorkDir: fixture(t, "selection"), Services: []string{"web"}})
	if got := p.ServiceNames(); len(got) != 1 || got[0] != "web" || len(p.Disabled) != 1 || p.Disabled[0] != "broken" {
		t.Errorf("services %v, left out %v", got, p.Disabled)
	}
}

// The hashes Docker Compose v2.40.3 writes for the hash fixture (its
// ServiceHash on the project its up loads): alternating the two tools on
// an unchanged project recreates nothing only while these agree.
func TestConfigHashIsCompose(t *testing.T) {
	p := mustLoad(t, Options{WorkDir: fixture(t, "hash"), ProjectName: "hashgolden"})
	for svc, want := range map[string]string{
		"api": "1873d173b4f82f56eb9d24f5b20f42c3b743b99ebcbb55ec8a03928dd75725e6",
		"db":  "828c1d07ee4cc604456ecf246b65ce37dc36248ecb399f8b48d68bdd15e6b741",
	} {
		if got := service(t, p, svc).ConfigHash; got != want {
			t.Errorf("%s: hash %s, Compose writes %s", svc, got, want)
		}
	}
}
