package load

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"devstack/engine/model"
)

// compose-go's own warnings (through logrus) become project warnings.
func TestComposeGoWarningsBecomeProjectWarnings(t *testing.T) {
	// compose-go warns about version: once per file and process: load a
	// copy whose path is new to this process.
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(fixture(t, "unset-variable"))); err != nil {
		t.Fatal(err)
	}
	p := mustLoad(t, Options{WorkDir: dir})
	want := []model.Warning{
		{Message: `The "UNSET_TAG" variable is not set. Defaulting to a blank string`},
		{Message: filepath.Join(dir, "compose.yaml") + ": the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion"},
	}
	if !slices.Equal(p.Warnings, want) {
		t.Errorf("warnings\n got %q\nwant %q", p.Warnings, want)
	}
}

func TestSeveralComposeFilesAreWarned(t *testing.T) {
	dir := fixture(t, "several-files")
	p := mustLoad(t, Options{WorkDir: dir})
	want := []model.Warning{{Message: "found several compose files in " + dir + " (compose.yaml, docker-compose.yml); using compose.yaml"}}
	if !slices.Equal(p.ServiceNames(), []string{"a"}) || !slices.Equal(p.Warnings, want) {
		t.Errorf("services %v warnings %q", p.ServiceNames(), p.Warnings)
	}
}
