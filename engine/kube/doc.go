// Package kube runs a compose project on a Kubernetes cluster through the
// cluster's own API (client-go): each service becomes a Deployment and a
// Service, named volumes claims, configs and secrets ConfigMaps and
// Secrets (see Translate). The cluster converges by itself; devstack
// applies what changed, in dependency order, and follows what the cluster
// does (pods, logs, exec, port-forward) for the CLI, live sync and the
// dashboard. It never shells out to kubectl.
//
// # How the project maps to the cluster
//
// The seam runs above `engine.Runtime`: a cluster converges by itself, so `engine/kube` has its own small
// apply loop instead of the container planner, and shares the model, the event stream, the loader and
// sync (whose narrow `sync.Engine` `cmd/devstack` adapts to pods: exec streams through the API, pods
// followed through a watch). `--kube-context`/`--namespace` or `x-devstack.runtime: kubernetes` route
// `up`, `down`, `ps`, `logs`, `exec`, `run`, `restart`, `watch`, `ui` and `scratch` there (`cmd/devstack/kube.go`,
// `kubeui.go`); `start` and `stop` say they do not work there. `kube.Run` copies the service's live Deployment pod
// template into a one-off pod (probes off, `restartPolicy: Never`, labelled `devstack.run` and the project but not
// the service, so its Service sends it nothing and `down` removes it), follows its log (attaches when stdin is
// given) and returns its exit code. The dashboard is the same `tui`: it reads
// events only, and `kube.Monitor` is the cluster's counterpart of the engine's monitor (one informer on the
// project's pods → `event.State` with the pod's node, readiness as health, restarts; `event.Stats` from
// `metrics.k8s.io`, or `Unavailable: "no metrics"`; logs of every pod across restarts), so `tui` imports no
// client-go (its import test says so). A pod's row number is the lowest free one of its service, and a terminating
// pod gives it up at once to the pod that replaces it. `kube.Scratch` applies the project into
// `<namespace>-scratch-<hex>` (labelled `devstack.scratch`) with the same apply loop and `--wait`, and removes the
// namespace after, whatever happened. Built images are pushed by the local engine to
// `--registry` and run by digest. Every object carries compose's project/service labels, the
// `app.kubernetes.io/*` ones and a `com.docker.compose.config-hash` annotation (sha256 of the object):
// `up` writes only objects whose hash changed; `down` deletes by label and waits for the pods.
//
//	| compose | Kubernetes |
//	| service | Deployment (name = service) + ClusterIP Service with its ports (headless without ports); each network alias one more Service |
//	| `deploy.replicas` / `scale` | `spec.replicas` |
//	| `image` / `build` | the image; built ones as `REGISTRY/<project>-<service>@sha256:…` |
//	| `entrypoint` / `command` | container `command` / `args` |
//	| `environment`, `env_file`, `working_dir`, `tty`, `stdin_open` | `env` (sorted), `workingDir`, `tty`, `stdin` |
//	| `user` (numeric) | `securityContext.runAsUser/runAsGroup` (a name: warning) |
//	| `privileged`, `cap_add/cap_drop`, `read_only`, `sysctls` | container / pod `securityContext` |
//	| `mem_limit`, `cpus` (`deploy.resources.limits`) | `resources.limits` (requests default to them) |
//	| `healthcheck` | readiness probe (period = interval, Ready at the first success) and liveness probe (failureThreshold = retries, initial delay = start_period) |
//	| `ports` (published) | Service port; forwarded to the host IP (default 127.0.0.1) through the API's port-forward while `up` is attached |
//	| named volume | PersistentVolumeClaim (1Gi, default class; emptyDir + warning when the cluster has none); Deployment strategy Recreate |
//	| anonymous volume, `tmpfs`, `shm_size` | emptyDir (memory-backed for tmpfs and /dev/shm) |
//	| bind mount | emptyDir filled by live sync when a sync rule targets it; otherwise a warning |
//	| `configs` / `secrets` | ConfigMap `config-<name>` / Secret `secret-<name>`, one file mounted (subPath) where compose mounts it; their hash is in the pod template, so an edit rolls exactly their users |
//	| `depends_on` | deploy order: a dependent is applied once its dependency's pods run / are Ready / exited 0 |
//	| `extra_hosts`, `hostname`, `stop_grace_period`, `labels` | `hostAliases`, `hostname`, `terminationGracePeriodSeconds`, annotations |
//	| service names without cluster DNS | `hostAliases` of every Service IP |
//	| `network_mode`, `restart` other than always, `init`, `container_name`, `dns`, `ulimits`, `pids_limit`, `stop_signal`, `logging`, `security_opt`, `platform` | warning naming service and field |
package kube
