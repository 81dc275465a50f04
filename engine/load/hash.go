package load

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/compose-spec/compose-go/v2/types"

	"devstack/engine/model"
)

// composeHash is the config hash Docker Compose v2 writes on a container
// (com.docker.compose.config-hash): the SHA-256 of the service's
// compose-go configuration as JSON, without what Compose leaves out
// (build, pull policy, scale, replicas, depends_on, profiles) and with
// the environment resolved and env_file dropped, as Compose's up does.
// With the same hash, devstack and Compose each see the other's
// containers as up to date and alternating them recreates nothing.
//
// Compose marshals the ServiceConfig of the compose-go it is built with,
// whose fields come out in its struct order; the compose-go devstack
// builds with orders them differently (embedded groups). So the fields
// are written in the order of Compose v2's (composeFieldOrder), and any
// field that list does not know, which such a Compose could not have set,
// after them in name order.
func composeHash(s types.ServiceConfig) string {
	sum := sha256.Sum256(composeJSON(s))
	return hex.EncodeToString(sum[:])
}

// composeJSON is the service as Compose hashes it.
func composeJSON(s types.ServiceConfig) []byte {
	s.Build = nil
	s.PullPolicy = ""
	s.Scale = nil
	if s.Deploy != nil {
		d := *s.Deploy
		d.Replicas = nil
		s.Deploy = &d
	}
	s.DependsOn = nil
	s.Profiles = nil
	s.EnvFiles = nil
	raw, err := json.Marshal(s)
	if err != nil {
		// compose-go's types always marshal; only a programming error lands here.
		panic("load: cannot hash service " + s.Name + ": " + err.Error())
	}
	keys, fields := objectFields(raw)
	if len(s.Volumes) > 0 {
		fields["volumes"] = composeVolumes(s.Volumes)
	}
	return ordered(composeFieldOrder, keys, fields)
}

// composeVolumes writes volumes as Compose v2's compose-go does: there a
// bind's create_host_path is a plain bool, written when true, where the
// newer compose-go writes it only when false.
func composeVolumes(vols []types.ServiceVolumeConfig) json.RawMessage {
	// The bind section in the older shape and order.
	type bind struct {
		SELinux        string `json:"selinux,omitempty"`
		Propagation    string `json:"propagation,omitempty"`
		CreateHostPath bool   `json:"create_host_path,omitempty"`
		Recursive      string `json:"recursive,omitempty"`
	}
	order := []string{"type", "source", "target", "read_only", "consistency", "bind", "volume", "tmpfs", "image"}
	var b bytes.Buffer
	b.WriteByte('[')
	for i, v := range vols {
		if i > 0 {
			b.WriteByte(',')
		}
		old := v.Bind
		v.Bind = nil
		raw, _ := json.Marshal(v)
		keys, fields := objectFields(raw)
		if old != nil {
			fields["bind"], _ = json.Marshal(bind{old.SELinux, old.Propagation, bool(old.CreateHostPath), old.Recursive})
			keys = append(keys, "bind")
		}
		b.Write(ordered(order, keys, fields))
	}
	b.WriteByte(']')
	return b.Bytes()
}

// objectFields splits a JSON object into its keys, in order, and values.
func objectFields(raw []byte) ([]string, map[string]json.RawMessage) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	fields := map[string]json.RawMessage{}
	var keys []string
	if _, err := dec.Token(); err != nil { // {
		panic("load: hashing a service: " + err.Error())
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			panic("load: hashing a service: " + err.Error())
		}
		k := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			panic("load: hashing a service: " + err.Error())
		}
		keys = append(keys, k)
		fields[k] = v
	}
	return keys, fields
}

// ordered writes an object with the keys in order first, then the others
// (keys lists every key of fields) in name order.
func ordered(order, keys []string, fields map[string]json.RawMessage) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	done := map[string]bool{}
	write := func(k string) {
		v, ok := fields[k]
		if !ok || done[k] {
			return
		}
		done[k] = true
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:", k)
		b.Write(v)
	}
	for _, k := range order {
		write(k)
	}
	rest := slices.Clone(keys)
	slices.Sort(rest)
	for _, k := range rest {
		write(k)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// composeFieldOrder is the order in which Docker Compose v2 (v2.40, on
// compose-go v2.9) writes a service's fields when it hashes it.
var composeFieldOrder = []string{
	"profiles", "annotations", "attach", "build", "develop", "blkio_config", "cap_add", "cap_drop",
	"cgroup_parent", "cgroup", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota", "cpu_rt_period",
	"cpu_rt_runtime", "cpus", "cpuset", "cpu_shares", "command", "configs", "container_name",
	"credential_spec", "depends_on", "deploy", "device_cgroup_rules", "devices", "dns", "dns_opt",
	"dns_search", "dockerfile", "domainname", "entrypoint", "provider", "environment", "env_file",
	"expose", "extends", "external_links", "extra_hosts", "group_add", "gpus", "hostname", "healthcheck",
	"image", "init", "ipc", "isolation", "labels", "label_file", "links", "logging", "log_driver",
	"log_opt", "mem_limit", "mem_reservation", "memswap_limit", "mem_swappiness", "mac_address", "models",
	"net", "network_mode", "networks", "oom_kill_disable", "oom_score_adj", "pid", "pids_limit",
	"platform", "ports", "privileged", "pull_policy", "read_only", "restart", "runtime", "scale",
	"secrets", "security_opt", "shm_size", "stdin_open", "stop_grace_period", "stop_signal",
	"storage_opt", "sysctls", "tmpfs", "tty", "ulimits", "use_api_socket", "user", "userns_mode", "uts",
	"volume_driver", "volumes", "volumes_from", "working_dir", "post_start", "pre_stop",
}

// refHashTemplate is the text Compose hashes for a service whose
// network_mode, ipc, pid or volumes_from name another service: Compose
// hashes it after putting that service's first container ID in place of
// the name (and a volumes_from entry without its :ro/:rw, as its
// resolveServiceReferences writes it), so the hash can only be finished
// once the ID is known (model.Service.RefHash). "" for other services.
func refHashTemplate(s types.ServiceConfig) string {
	changed := false
	ns := func(mode string) string {
		if name, ok := model.ServiceRef(mode); ok {
			changed = true
			return types.ContainerPrefix + model.RefPlaceholder(name)
		}
		return mode
	}
	s.NetworkMode, s.Ipc, s.Pid = ns(s.NetworkMode), ns(s.Ipc), ns(s.Pid)
	if len(s.VolumesFrom) > 0 {
		vf := make([]string, len(s.VolumesFrom))
		for i, v := range s.VolumesFrom {
			if r := model.ParseVolumesFrom(v); r.Service == "" {
				vf[i] = r.Container
			} else {
				vf[i] = model.RefPlaceholder(r.Service)
			}
			changed = true
		}
		s.VolumesFrom = vf
	}
	if !changed {
		return ""
	}
	return string(composeJSON(s))
}

// apiSocketConfig is the config use_api_socket gives a container: the
// docker CLI's credentials, under Compose's own name for it.
const apiSocketConfig = "#apisocket"

// withAPISocket makes use_api_socket what Compose makes it before it
// creates (and hashes) the service: a bind of the engine's socket, the
// credentials as a config at /run/secrets/docker/config.json and
// DOCKER_CONFIG pointing there (unless the service sets it).
func withAPISocket(s types.ServiceConfig) types.ServiceConfig {
	s.Volumes = append(slices.Clone(s.Volumes), types.ServiceVolumeConfig{
		Type: types.VolumeTypeBind, Source: "/var/run/docker.sock", Target: "/var/run/docker.sock"})
	env := maps.Clone(s.Environment)
	if env == nil {
		env = types.MappingWithEquals{}
	}
	if _, ok := env["DOCKER_CONFIG"]; !ok {
		dir := "/run/secrets/docker"
		env["DOCKER_CONFIG"] = &dir
	}
	s.Environment = env
	s.Configs = append(slices.Clone(s.Configs), types.ServiceConfigObjConfig{Source: apiSocketConfig, Target: "/run/secrets/docker/config.json"})
	return s
}
