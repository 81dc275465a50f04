package load

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/tree"
	"github.com/compose-spec/compose-go/v2/types"

	"devstack/engine/model"
)

// Every attribute of the compose specification is either honoured
// (mapped onto the model and acted upon) or ignored with a warning that
// says why: nothing is dropped silently. compose-go screens the loaded
// file against the honoured list (loader.WithSupportedAttributes) and
// reports everything else; TestEveryAttributeIsClassified fails when a
// newer compose-go knows an attribute that is in neither list.

// ignored maps the attributes devstack does not honour (with everything
// beneath them) to the reason the warning gives.
var ignored = map[string]string{
	// Top level.
	"jobs":   "jobs are not run by devstack",
	"models": "AI models are not provisioned by devstack",

	"networks.*.enable_ipv4":                  "IPv4 is always enabled",
	"networks.*.ipam.driver":                  "the default IPAM driver is used",
	"networks.*.ipam.options":                 "IPAM options are not passed to the engine",
	"networks.*.ipam.config.[].gateway":       "the engine picks the gateway",
	"networks.*.ipam.config.[].ip_range":      "the whole subnet is used",
	"networks.*.ipam.config.[].aux_addresses": "auxiliary addresses are not reserved",
	"secrets.*.driver":                        "secret drivers need swarm; use file: or environment:",
	"secrets.*.driver_opts":                   "secret drivers need swarm; use file: or environment:",
	"secrets.*.labels":                        "secrets are files copied into containers; they carry no labels",
	"secrets.*.template_driver":               "templated secrets need swarm",
	"configs.*.labels":                        "configs are files copied into containers; they carry no labels",
	"configs.*.template_driver":               "templated configs need swarm",

	// Services: swarm and orchestration.
	"services.*.deploy.endpoint_mode":                            "a swarm setting; a single engine has no use for it",
	"services.*.deploy.labels":                                   "a swarm setting (service labels); use labels: for container labels",
	"services.*.deploy.placement":                                "a swarm setting; a single engine has no use for it",
	"services.*.deploy.rollback_config":                          "a swarm setting; a single engine has no use for it",
	"services.*.deploy.update_config":                            "a swarm setting; a single engine has no use for it",
	"services.*.deploy.resources.reservations.cpus":              "CPU reservations are a swarm setting; a single engine only limits (cpus:, cpu_shares:)",
	"services.*.deploy.resources.reservations.generic_resources": "generic resources are a swarm setting",
	"services.*.deploy.restart_policy.delay":                     "the engine's own restart back-off is used",
	"services.*.deploy.restart_policy.window":                    "the engine's own restart back-off is used",
	"services.*.provider":                                        "provider services are not supported",
	"services.*.pull_refresh_after":                              "images are pulled per pull_policy only",
	"services.*.models":                                          "AI models are not provisioned by devstack",
	"services.*.develop.watch.[].exec.privileged":                "the exec runs unprivileged",
	"services.*.credential_spec":                                 "a Windows container setting",
	"services.*.isolation":                                       "a Windows container setting",
	"services.*.storage_opt":                                     "storage driver options are not passed to the engine",
	"services.*.umask":                                           "the image's umask is used",
	"services.*.userns_mode":                                     "the engine's user namespace setting is used",
	"services.*.cgroup":                                          "the engine's cgroup setting is used",
	"services.*.cgroup_parent":                                   "the engine's cgroup setting is used",
	"services.*.cpu_count":                                       "a Windows container setting (cpus:, cpu_shares:, cpu_quota: and cpuset: limit CPU)",
	"services.*.cpu_percent":                                     "a Windows container setting (cpus:, cpu_shares:, cpu_quota: and cpuset: limit CPU)",
	"services.*.ports.[].name":                                   "port names are informational",
	"services.*.ports.[].app_protocol":                           "the application protocol is informational",
	"services.*.networks.*.link_local_ips":                       "link-local addresses are not set",
	"services.*.networks.*.gw_priority":                          "not passed to the engine, which picks the default gateway (gw_priority needs Docker Engine API 1.48; priority: orders the networks)",
	"services.*.networks.*.interface_name":                       "the engine names the interfaces",
	"services.*.volumes.[].consistency":                          "a Docker Desktop for Mac setting; mounts are consistent on Linux engines",
	"services.*.volumes.[].bind.propagation":                     "bind mounts use the engine's default propagation",
	"services.*.volumes.[].bind.recursive":                       "bind mounts use the engine's default recursive mode",
	"services.*.volumes.[].volume.labels":                        "labels of anonymous volumes are not set",
	"services.*.volumes.[].tmpfs.mode":                           "tmpfs mounts use the engine's default mode",
	"services.*.volumes.[].image":                                "image mounts are not supported",
	"services.*.build.isolation":                                 "a Windows container setting",
	"services.*.build.provenance":                                "attestations are not produced",
	"services.*.build.secrets.[].uid":                            "set uid= on the RUN --mount=type=secret line",
	"services.*.build.secrets.[].gid":                            "set gid= on the RUN --mount=type=secret line",
	"services.*.build.secrets.[].mode":                           "set mode= on the RUN --mount=type=secret line",
	"services.*.build.sbom":                                      "attestations are not produced",
}

// honoured lists the attributes devstack implements, exactly (a map's or
// a list's own entries are listed with .* or .[]). What is neither here
// nor under an ignored attribute is reported as unknown.
var honoured = []string{
	"name", "version", "services", "services.*",
	"include", "include.[].env_file", "include.[].path", "include.[].project_directory",

	"networks", "networks.*", "networks.*.attachable", "networks.*.driver", "networks.*.driver_opts",
	"networks.*.driver_opts.*", "networks.*.enable_ipv6", "networks.*.external", "networks.*.external.name",
	"networks.*.internal", "networks.*.ipam", "networks.*.ipam.config", "networks.*.ipam.config.[].subnet",
	"networks.*.labels", "networks.*.labels.*", "networks.*.name",

	"volumes", "volumes.*", "volumes.*.driver", "volumes.*.driver_opts", "volumes.*.driver_opts.*",
	"volumes.*.external", "volumes.*.external.name", "volumes.*.labels", "volumes.*.labels.*", "volumes.*.name",

	"secrets", "secrets.*", "secrets.*.environment", "secrets.*.external", "secrets.*.external.name",
	"secrets.*.file", "secrets.*.name",

	"configs", "configs.*", "configs.*.content", "configs.*.environment", "configs.*.external",
	"configs.*.external.name", "configs.*.file", "configs.*.name",

	// Loading: compose-go applies these before devstack sees the service.
	"services.*.extends", "services.*.extends.file", "services.*.extends.service",
	"services.*.env_file", "services.*.env_file.[].format", "services.*.env_file.[].path", "services.*.env_file.[].required",
	"services.*.label_file", "services.*.profiles",

	"services.*.image", "services.*.command", "services.*.entrypoint",
	"services.*.environment", "services.*.environment.*",
	"services.*.working_dir", "services.*.user", "services.*.hostname", "services.*.domainname",
	"services.*.container_name", "services.*.extra_hosts", "services.*.extra_hosts.*", "services.*.dns",
	"services.*.labels", "services.*.labels.*", "services.*.init", "services.*.privileged",
	"services.*.read_only", "services.*.tty", "services.*.stdin_open", "services.*.cap_add", "services.*.cap_drop",
	"services.*.security_opt", "services.*.sysctls", "services.*.sysctls.*",
	"services.*.ulimits", "services.*.ulimits.*", "services.*.ulimits.*.soft", "services.*.ulimits.*.hard",
	"services.*.shm_size", "services.*.mem_limit", "services.*.cpus", "services.*.pids_limit",
	"services.*.platform", "services.*.pull_policy", "services.*.network_mode",
	"services.*.stop_signal", "services.*.stop_grace_period", "services.*.restart", "services.*.scale",
	"services.*.expose", "services.*.tmpfs", "services.*.attach",
	"services.*.logging", "services.*.logging.driver", "services.*.logging.options", "services.*.logging.options.*",

	"services.*.ports", "services.*.ports.[].target", "services.*.ports.[].published",
	"services.*.ports.[].host_ip", "services.*.ports.[].protocol", "services.*.ports.[].mode",

	"services.*.volumes", "services.*.volumes.[].type", "services.*.volumes.[].source",
	"services.*.volumes.[].target", "services.*.volumes.[].read_only",
	"services.*.volumes.[].bind", "services.*.volumes.[].bind.create_host_path",
	"services.*.volumes.[].volume", "services.*.volumes.[].volume.nocopy",
	"services.*.volumes.[].tmpfs", "services.*.volumes.[].tmpfs.size",

	"services.*.networks", "services.*.networks.*", "services.*.networks.*.aliases",
	"services.*.networks.*.ipv4_address", "services.*.networks.*.priority",
	"services.*.networks.*.use_service_name_alias",

	"services.*.secrets", "services.*.secrets.[].source", "services.*.secrets.[].target",
	"services.*.secrets.[].uid", "services.*.secrets.[].gid", "services.*.secrets.[].mode",
	"services.*.configs", "services.*.configs.[].source", "services.*.configs.[].target",
	"services.*.configs.[].uid", "services.*.configs.[].gid", "services.*.configs.[].mode",

	"services.*.depends_on", "services.*.depends_on.*", "services.*.depends_on.*.condition",
	"services.*.depends_on.*.required", "services.*.depends_on.*.restart",

	"services.*.healthcheck", "services.*.healthcheck.test", "services.*.healthcheck.interval",
	"services.*.healthcheck.timeout", "services.*.healthcheck.retries", "services.*.healthcheck.start_period",
	"services.*.healthcheck.start_interval", "services.*.healthcheck.disable",

	"services.*.deploy", "services.*.deploy.mode", "services.*.deploy.replicas",
	"services.*.deploy.resources", "services.*.deploy.resources.limits",
	"services.*.deploy.resources.limits.cpus", "services.*.deploy.resources.limits.memory",
	"services.*.deploy.resources.limits.pids",
	"services.*.deploy.restart_policy", "services.*.deploy.restart_policy.condition",
	"services.*.deploy.restart_policy.max_attempts",

	"services.*.build", "services.*.build.context", "services.*.build.dockerfile", "services.*.build.dockerfile_inline",
	"services.*.build.args", "services.*.build.args.*", "services.*.build.target", "services.*.build.network",
	"services.*.build.labels", "services.*.build.labels.*", "services.*.build.extra_hosts", "services.*.build.extra_hosts.*",
	"services.*.build.shm_size", "services.*.build.no_cache", "services.*.build.pull", "services.*.build.tags",
	// BuildKit builds (engine/docker/buildkit.go says how each is passed).
	"services.*.build.secrets", "services.*.build.secrets.[].source", "services.*.build.secrets.[].target",
	"services.*.build.ssh", "services.*.build.ssh.*",
	"services.*.build.additional_contexts", "services.*.build.additional_contexts.*",
	"services.*.build.cache_from", "services.*.build.cache_to", "services.*.build.platforms",
	"services.*.build.no_cache_filter", "services.*.build.privileged", "services.*.build.entitlements",
	"services.*.build.ulimits", "services.*.build.ulimits.*", "services.*.build.ulimits.*.soft", "services.*.build.ulimits.*.hard",

	// Namespaces, devices, resources and hooks (engine/docker/spec.go and
	// engine/hooks.go say how each reaches the engine).
	"services.*.ipc", "services.*.pid", "services.*.uts", "services.*.volumes_from",
	"services.*.links", "services.*.external_links", "services.*.group_add",
	"services.*.dns_search", "services.*.dns_opt", "services.*.runtime", "services.*.mac_address",
	"services.*.annotations", "services.*.annotations.*", "services.*.use_api_socket",
	"services.*.cpu_shares", "services.*.cpuset", "services.*.cpu_quota", "services.*.cpu_period",
	"services.*.cpu_rt_period", "services.*.cpu_rt_runtime", "services.*.mem_swappiness",
	"services.*.mem_reservation", "services.*.memswap_limit", "services.*.oom_score_adj", "services.*.oom_kill_disable",
	"services.*.blkio_config", "services.*.blkio_config.weight", "services.*.blkio_config.weight_device",
	"services.*.blkio_config.weight_device.[].path", "services.*.blkio_config.weight_device.[].weight",
	"services.*.blkio_config.device_read_bps", "services.*.blkio_config.device_read_bps.[].path", "services.*.blkio_config.device_read_bps.[].rate",
	"services.*.blkio_config.device_read_iops", "services.*.blkio_config.device_read_iops.[].path", "services.*.blkio_config.device_read_iops.[].rate",
	"services.*.blkio_config.device_write_bps", "services.*.blkio_config.device_write_bps.[].path", "services.*.blkio_config.device_write_bps.[].rate",
	"services.*.blkio_config.device_write_iops", "services.*.blkio_config.device_write_iops.[].path", "services.*.blkio_config.device_write_iops.[].rate",
	"services.*.devices", "services.*.devices.[].source", "services.*.devices.[].target", "services.*.devices.[].permissions",
	"services.*.device_cgroup_rules",
	"services.*.gpus", "services.*.gpus.[].capabilities", "services.*.gpus.[].driver", "services.*.gpus.[].count",
	"services.*.gpus.[].device_ids", "services.*.gpus.[].options", "services.*.gpus.[].options.*",
	"services.*.deploy.resources.reservations", "services.*.deploy.resources.reservations.memory",
	"services.*.deploy.resources.reservations.devices", "services.*.deploy.resources.reservations.devices.[].capabilities",
	"services.*.deploy.resources.reservations.devices.[].driver", "services.*.deploy.resources.reservations.devices.[].count",
	"services.*.deploy.resources.reservations.devices.[].device_ids", "services.*.deploy.resources.reservations.devices.[].options",
	"services.*.deploy.resources.reservations.devices.[].options.*",
	"services.*.networks.*.ipv6_address", "services.*.networks.*.mac_address",
	"services.*.networks.*.driver_opts", "services.*.networks.*.driver_opts.*",
	"services.*.volumes.[].bind.selinux", "services.*.volumes.[].volume.subpath",
	"services.*.post_start", "services.*.post_start.[].command", "services.*.post_start.[].user",
	"services.*.post_start.[].privileged", "services.*.post_start.[].working_dir",
	"services.*.post_start.[].environment", "services.*.post_start.[].environment.*",
	"services.*.pre_start", "services.*.pre_start.[].image", "services.*.pre_start.[].command",
	"services.*.pre_start.[].entrypoint", "services.*.pre_start.[].user", "services.*.pre_start.[].working_dir",
	"services.*.pre_start.[].environment", "services.*.pre_start.[].environment.*",
	"services.*.pre_start.[].privileged", "services.*.pre_start.[].per_replica",

	"services.*.pre_stop", "services.*.pre_stop.[].command", "services.*.pre_stop.[].user",
	"services.*.pre_stop.[].privileged", "services.*.pre_stop.[].working_dir",
	"services.*.pre_stop.[].environment", "services.*.pre_stop.[].environment.*",

	"services.*.develop", "services.*.develop.watch", "services.*.develop.watch.[].path",
	"services.*.develop.watch.[].action", "services.*.develop.watch.[].target",
	"services.*.develop.watch.[].ignore", "services.*.develop.watch.[].include",
	"services.*.develop.watch.[].initial_sync", "services.*.develop.watch.[].exec",
	"services.*.develop.watch.[].exec.command", "services.*.develop.watch.[].exec.user",
	"services.*.develop.watch.[].exec.working_dir", "services.*.develop.watch.[].exec.environment",
	"services.*.develop.watch.[].exec.environment.*",
}

// valueChecks are honoured attributes of which only some values are: the
// others get the warning.
var valueChecks = []struct {
	path   string
	ok     func(v any) bool
	reason string
}{
	{"services.*.ports.[].mode", oneOf("ingress"),
		"host mode is a swarm setting; the port is published like any other"},
	{"services.*.deploy.mode", oneOf("replicated"),
		"global mode is a swarm setting; the service runs its replicas (default 1)"},
	{"services.*.volumes.[].type", oneOf(types.VolumeTypeVolume, types.VolumeTypeBind, types.VolumeTypeTmpfs),
		"only volume, bind and tmpfs mounts are supported; this mount is left out"},
	{"services.*.pull_policy", oneOf(types.PullPolicyAlways, types.PullPolicyNever, types.PullPolicyMissing, types.PullPolicyIfNotPresent, types.PullPolicyBuild),
		"refreshing pull policies are not supported; the image is pulled when missing"},
	{"services.*.pre_start.[].per_replica", oneOf(false),
		"per-replica steps are not run per replica: the steps run once, before the service's first container starts (as Compose)"},
	{"services.*.networks.*.use_service_name_alias", oneOf(true),
		"the service's name is always an alias on its networks"},
}

func oneOf(values ...any) func(any) bool {
	return func(v any) bool { return slices.Contains(values, v) }
}

// preStartOthers is the reason for a pre_start step's other attributes
// (a step takes the full container specification).
const preStartOthers = "of a pre_start step devstack uses image, command, entrypoint, user, working_dir, environment and privileged; the step shares the service container's volumes and networks"

// preStartOther says whether the attribute at path (a pattern, or a
// path in a file) is an attribute of a pre_start step devstack does not
// use.
func preStartOther(path tree.Path) bool {
	parts := path.Parts()
	if len(parts) != 5 || parts[0] != "services" || parts[2] != "pre_start" || parts[3] != tree.PathMatchList {
		return false
	}
	return !slices.Contains(honoured, "services.*.pre_start.[]."+parts[4])
}

// ignoredAt is why the attribute pattern p is ignored, when it is itself
// (not through an ancestor).
func ignoredAt(p tree.Path) (string, bool) {
	if why, ok := ignored[string(p)]; ok {
		return why, true
	}
	if preStartOther(p) {
		return preStartOthers, true
	}
	return "", false
}

var (
	supportedPaths      = toPaths(honoured)
	unsupportedPatterns = func() []loader.UnsupportedAttributePattern {
		var out []loader.UnsupportedAttributePattern
		for _, c := range valueChecks {
			ok := c.ok
			out = append(out, loader.UnsupportedAttributePattern{Path: tree.Path(c.path), Detect: func(v any) bool { return !ok(v) }})
		}
		return out
	}()
)

func toPaths(s []string) []tree.Path {
	out := make([]tree.Path, len(s))
	for i, p := range s {
		out[i] = tree.Path(p)
	}
	return out
}

// reason finds why the attribute at p is ignored.
func reason(p tree.Path) (string, bool) {
	for _, c := range valueChecks {
		if p.Matches(tree.Path(c.path)) {
			return c.reason, true
		}
	}
	for q := p; q != ""; q = q.Parent() {
		for pattern, why := range ignored {
			if q.Matches(tree.Path(pattern)) {
				return why, true
			}
		}
		if preStartOther(q) {
			return preStartOthers, true
		}
	}
	return "", false
}

// attributeWarnings turns compose-go's findings into warnings, for the
// services that are loaded (the screening runs before profiles and the
// service selection apply) and for the project.
func attributeWarnings(cp *types.Project, found []loader.UnsupportedAttribute) []model.Warning {
	var out []model.Warning
	seen := map[model.Warning]bool{}
	for _, f := range found {
		parts := f.Path.Parts()
		for i, part := range parts {
			parts[i] = tree.Path(part).String() // keys with dots come back whole
		}
		w := model.Warning{}
		if len(parts) > 2 && parts[0] == "services" {
			if _, active := cp.Services[parts[1]]; !active {
				continue
			}
			w.Service, parts = parts[1], parts[2:]
		}
		w.Field = strings.ReplaceAll(strings.Join(parts, "."), ".[]", "[]")
		why, known := reason(f.Path)
		switch {
		case !known:
			w.Message = "ignored: devstack does not know this attribute yet"
		case isScalar(f.Value) && matchesValueCheck(f.Path):
			w.Message = fmt.Sprintf("value %s ignored: %s", strconv.Quote(fmt.Sprint(f.Value)), why)
		default:
			w.Message = "ignored: " + why
		}
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	slices.SortStableFunc(out, func(a, b model.Warning) int {
		return strings.Compare(a.Service+"\x00"+a.Field, b.Service+"\x00"+b.Field)
	})
	return out
}

func matchesValueCheck(p tree.Path) bool {
	for _, c := range valueChecks {
		if p.Matches(tree.Path(c.path)) {
			return true
		}
	}
	return false
}

func isScalar(v any) bool {
	switch v.(type) {
	case string, bool, int, int64, float64, uint64:
		return true
	}
	return false
}
