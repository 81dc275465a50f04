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
// `kubeui.go`). `stop` scales the project's Deployments (or the services named) to 0 and keeps everything else
// (claims, Services, configs, secrets); the replicas each had go into a `dev.devstack.stopped-replicas`
// annotation, which `start` gives back (so a count set with `kubectl scale` returns), and the next `up` starts a
// stopped Deployment too, as compose's up starts stopped containers. `exec --user` and `run --user` are refused:
// the exec API has no user switch, so the message points at `user:` (runAsUser) or `su` inside. `kube.Run` copies the service's live Deployment pod
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
// # A failed up is rolled back
//
// A Kubernetes user expects a failed deploy to leave the namespace as it was (`helm upgrade --atomic`), not
// half-applied: `up` records each write it makes, and when it fails — a pod that never turns Ready within
// `--wait-timeout` or a depends_on wait, an image the node cannot pull, a write the API refuses — or is
// interrupted (Ctrl-C, quitting the dashboard), it puts back what it wrote before returning, on a context of
// its own (at most 3 minutes), and the error (`*kube.UpError`) says what it did: "…; rolled back: removed
// deployment/x, service/x; restored deployment/y to the previous spec". Objects it created are deleted.
// Objects it changed (Deployments, Services, ConfigMaps, Secrets) get back the object it read before changing
// it — spec, labels and annotations, the config hash included — rather than a rollout undo: the previous
// object is exact for every kind, not only Deployments, the next `up` compares against what is really there,
// and for a Deployment it amounts to the same thing (the controller finds the ReplicaSet of that pod
// template and scales it back up; with the default rolling update its old pods never stopped serving). The
// rollback returns once the removed pods are gone and the restored Deployments are rolled out again.
// Objects the file no longer has are removed only after everything else succeeded, so a failed up has
// deleted nothing that would need re-creating. A claim this up created is deleted unless a Ready pod mounts
// it: a pod that never turned Ready served nobody, so what its claim holds is what a failed start wrote, not
// a user's data; a claim a Ready pod mounts (say a database that came up before its dependent failed) may
// already hold data someone wrote, and is kept and named in the message (`down -v` removes it). Claims that
// existed before are never touched. A namespace this up created is removed when nothing is left in it. Only
// what `up` sees fail is rolled back: without `--wait` (or a depends_on condition) it returns once the
// objects are applied, as `helm upgrade` without `--atomic` does, and a pod failing later is the dashboard's
// and `ps`'s to show. A scratch rebuild does not roll back: its namespace is removed whole.
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
