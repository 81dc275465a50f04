package load

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/schema"
	"github.com/compose-spec/compose-go/v2/tree"
	"github.com/compose-spec/compose-go/v2/types"

	"devstack/engine/model"
)

func TestUnhonouredAttributesAreWarned(t *testing.T) {
	p := mustLoad(t, Options{WorkDir: fixture(t, "warnings")})
	var got []string
	for _, w := range p.Warnings {
		got = append(got, w.String())
	}
	want := []string{
		`networks.default.ipam.config[].gateway: ignored: the engine picks the gateway`,
		`networks.default.ipam.driver: ignored: the default IPAM driver is used`,
		`secrets.npmrc.labels: ignored: secrets are files copied into containers; they carry no labels`,
		`service app: cpu_count: ignored: a Windows container setting (cpus:, cpu_shares:, cpu_quota: and cpuset: limit CPU)`,
		`service app: deploy.mode: value "global" ignored: global mode is a swarm setting; the service runs its replicas (default 1)`,
		`service app: deploy.placement: ignored: a swarm setting; a single engine has no use for it`,
		`service app: deploy.restart_policy.delay: ignored: the engine's own restart back-off is used`,
		`service app: develop.watch[].exec.privileged: ignored: the exec runs unprivileged`,
		`service app: networks.default.gw_priority: ignored: not passed to the engine, which picks the default gateway (gw_priority needs Docker Engine API 1.48; priority: orders the networks)`,
		`service app: networks.default.use_service_name_alias: value "false" ignored: the service's name is always an alias on its networks`,
		`service app: ports[].mode: value "host" ignored: host mode is a swarm setting; the port is published like any other`,
		`service app: ports[].name: ignored: port names are informational`,
		`service app: pre_start[].per_replica: value "true" ignored: per-replica steps are not run per replica: the steps run once, before the service's first container starts (as Compose)`,
		`service app: pre_start[].volumes: ignored: of a pre_start step devstack uses image, command, entrypoint, user, working_dir, environment and privileged; the step shares the service container's volumes and networks`,
		`service app: pull_policy: value "daily" ignored: refreshing pull policies are not supported; the image is pulled when missing`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
	// The service behind a profile, and a label key with dots, bring none.
	for _, w := range p.Warnings {
		if w.Service == "off" || strings.Contains(w.Field, "labels") && w.Service != "" {
			t.Errorf("unexpected warning %q", w)
		}
	}

	// Selecting a service keeps only its warnings (and the project's).
	p = mustLoad(t, Options{WorkDir: fixture(t, "warnings"), Services: []string{"cache"}})
	for _, w := range p.Warnings {
		if w.Service != "" && w.Service != "cache" {
			t.Errorf("selected cache, got a warning for %s: %s", w.Service, w)
		}
	}
}

func TestUnknownAttributeIsStillWarned(t *testing.T) {
	cp := &types.Project{Services: types.Services{"a": {Name: "a"}}}
	got := attributeWarnings(cp, []loader.UnsupportedAttribute{{Path: tree.NewPath("services", "a", "brand_new")}})
	want := []model.Warning{{Service: "a", Field: "brand_new", Message: "ignored: devstack does not know this attribute yet"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// classified says whether the attribute at path is honoured, or ignored
// (itself or through an ancestor).
func classified(path tree.Path) (honouredHere, ignoredHere bool) {
	honouredHere = slices.Contains(honoured, string(path))
	for q := path; q != ""; q = q.Parent() {
		if _, ok := ignoredAt(q); ok {
			ignoredHere = true
		}
	}
	return honouredHere, ignoredHere
}

// TestEveryAttributeIsClassified fails when compose-go's schema knows an
// attribute that devstack neither honours nor warns about: after an
// upgrade of compose-go, decide for each new one.
func TestEveryAttributeIsClassified(t *testing.T) {
	known := map[string]bool{}
	for _, p := range schema.AttributePaths() {
		known[string(p)] = true
		h, i := classified(p)
		switch {
		case !h && !i:
			t.Errorf("%s is neither honoured nor ignored: add it to honoured (and map it) or to ignored (with the reason)", p)
		case h && i:
			t.Errorf("%s is both honoured and ignored", p)
		}
	}
	for _, p := range honoured {
		if !known[p] {
			t.Errorf("honoured %q is not an attribute of the compose specification", p)
		}
	}
	for p := range ignored {
		if !known[p] {
			t.Errorf("ignored %q is not an attribute of the compose specification", p)
		}
	}
	for _, c := range valueChecks {
		if !slices.Contains(honoured, c.path) {
			t.Errorf("value check on %q: the attribute must be honoured for its values to be screened", c.path)
		}
	}
}

// notInSchema are keys of compose-go's Go types that the schema does not
// allow in a file (legacy or internal), so no file can set them.
var notInSchema = map[string]bool{
	"services.*.net":                                       true, // compose v1 syntax, rejected by validation
	"services.*.log_driver":                                true,
	"services.*.log_opt":                                   true,
	"services.*.dockerfile":                                true,
	"services.*.name":                                      true, // the map key
	"services.*.volume_driver":                             true,
	"services.*.deploy.resources.limits.devices":           true, // only reservations may hold devices
	"services.*.deploy.resources.limits.generic_resources": true,
	"services.*.deploy.resources.reservations.pids":        true, // only limits may hold pids
	"secrets.*.content":                                    true, // filled by compose-go from secrets.*.environment
	"configs.*.driver":                                     true, // configs share the secrets' Go type
	"configs.*.driver_opts":                                true,
}

// TestGoFieldsAreClassified walks compose-go's Go types the loader maps:
// a field compose-go adds must be classified, or be shown to be outside
// the schema, before this test passes again.
func TestGoFieldsAreClassified(t *testing.T) {
	roots := []struct {
		path string
		typ  reflect.Type
	}{
		{"services.*", reflect.TypeFor[types.ServiceConfig]()},
		{"networks.*", reflect.TypeFor[types.NetworkConfig]()},
		{"volumes.*", reflect.TypeFor[types.VolumeConfig]()},
		{"secrets.*", reflect.TypeFor[types.SecretConfig]()},
		{"configs.*", reflect.TypeFor[types.ConfigObjConfig]()},
	}
	for _, r := range roots {
		walkFields(t, r.path, r.typ, map[reflect.Type]bool{})
	}
}

func walkFields(t *testing.T, prefix string, typ reflect.Type, seen map[reflect.Type]bool) {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if typ.Kind() != reflect.Struct || seen[typ] {
		return
	}
	seen = maps.Clone(seen)
	seen[typ] = true
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if strings.HasPrefix(name, "#") || name == "-" || !f.IsExported() {
			continue
		}
		if strings.Contains(opts, "inline") {
			walkFields(t, prefix, f.Type, seen)
			continue
		}
		if name == "" {
			continue
		}
		path := prefix + "." + name
		if notInSchema[path] {
			continue
		}
		h, ign := classified(tree.Path(path))
		if ign {
			continue // everything beneath is ignored too
		}
		if !h {
			t.Errorf("%s (%s.%s) is neither honoured nor ignored", path, typ.Name(), f.Name)
			continue
		}
		walkFields(t, childPath(path, f.Type), f.Type, seen)
	}
}

// childPath is where the attributes of a field's type live: beneath the
// field itself, a list item ([]) or a map entry (*).
func childPath(path string, typ reflect.Type) string {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	switch typ.Kind() {
	case reflect.Slice:
		return path + ".[]"
	case reflect.Map:
		return path + ".*"
	}
	return path
}

// Config's one load gives the warnings Load gives: `config` prints them
// without loading the project a second time.
func TestConfigGivesLoadsWarnings(t *testing.T) {
	o := Options{WorkDir: fixture(t, "warnings"), Env: []string{}}
	out, warnings, err := Config(context.Background(), o, "yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "services:") {
		t.Errorf("config output lacks the services:\n%s", out)
	}
	want := mustLoad(t, o).Warnings
	if len(want) == 0 || !slices.Equal(warnings, want) {
		t.Errorf("config's warnings:\n%v\nwant Load's:\n%v", warnings, want)
	}
}
