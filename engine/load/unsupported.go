package load

import (
	"reflect"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"devstack/engine/model"
)

// Fields of a service that devstack honours, by their compose key. Every
// other field compose-go parsed and that is set gets a warning: nothing is
// silently ignored. New fields in compose-go are warned about until they
// are added here.
var honouredService = set(
	"name", "profiles", "deploy", "develop", "restart", "scale", "container_name", "extends",
	"image", "command", "entrypoint", "environment", "env_file", "working_dir", "user", "hostname",
	"domainname", "extra_hosts", "dns", "labels", "label_file", "init", "privileged", "read_only", "tty",
	"stdin_open", "cap_add", "cap_drop", "security_opt", "sysctls", "ulimits", "shm_size", "mem_limit",
	"cpus", "pids_limit", "platform", "pull_policy", "network_mode", "stop_signal", "stop_grace_period",
	"expose", "tmpfs", "ports", "volumes", "networks", "secrets", "configs", "depends_on", "healthcheck",
	"logging", "build",
)

var honouredBuild = set(
	"context", "dockerfile", "dockerfile_inline", "args", "target", "network", "labels", "extra_hosts",
	"shm_size", "no_cache", "pull", "tags",
)

var honouredDeploy = set("replicas", "resources", "restart_policy")

var honouredLimits = set("memory", "cpus", "pids")

// unsupported lists the warnings for s.
func unsupported(s types.ServiceConfig) []model.Warning {
	var out []model.Warning
	warn := func(field string) {
		out = append(out, model.Warning{Service: s.Name, Field: field,
			Message: "not supported by devstack; it is ignored"})
	}
	for _, f := range setFields(reflect.ValueOf(s)) {
		if !honouredService[f] {
			warn(f)
		}
	}
	if s.Build != nil {
		for _, f := range setFields(reflect.ValueOf(*s.Build)) {
			if !honouredBuild[f] {
				warn("build." + f)
			}
		}
	}
	if d := s.Deploy; d != nil {
		for _, f := range setFields(reflect.ValueOf(*d)) {
			if !honouredDeploy[f] {
				warn("deploy." + f)
			}
		}
		if d.Resources.Reservations != nil {
			warn("deploy.resources.reservations")
		}
		if l := d.Resources.Limits; l != nil {
			for _, f := range setFields(reflect.ValueOf(*l)) {
				if !honouredLimits[f] {
					warn("deploy.resources.limits." + f)
				}
			}
		}
		if rp := d.RestartPolicy; rp != nil && (rp.Delay != nil || rp.Window != nil) {
			warn("deploy.restart_policy.delay/window")
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

// setFields returns the compose keys of the non-zero fields of a struct,
// descending into inline structs and skipping extensions.
func setFields(v reflect.Value) []string {
	var out []string
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || strings.HasPrefix(name, "#") {
			continue
		}
		if strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Struct {
			out = append(out, setFields(v.Field(i))...)
			continue
		}
		if name == "" || v.Field(i).IsZero() {
			continue
		}
		if fv := v.Field(i); (fv.Kind() == reflect.Map || fv.Kind() == reflect.Slice) && fv.Len() == 0 {
			continue
		}
		out = append(out, name)
	}
	return out
}

// composeKeys lists every compose key of a struct, for tests that check
// the honoured sets name real fields.
func composeKeys(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Struct {
			for k := range composeKeys(f.Type) {
				out[k] = true
			}
			continue
		}
		if name != "" && name != "-" {
			out[name] = true
		}
	}
	return out
}

func set(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}
