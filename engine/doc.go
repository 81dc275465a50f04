// Package engine brings a compose project to life on a container engine:
// it observes what exists, asks the planner what to change, runs the plan
// through a Runtime, and reports every step as events.
//
// # Up, step by step
//
//  1. `load.Load` → `model.Project` (each service carries its config hash).
//  2. `plan.Images` → builds (shared builds once) and pulls; executed.
//  3. `Runtime.Observe` → one snapshot of containers, networks, volumes, image IDs.
//  4. `plan.Up` → create networks/volumes, create/recreate/start per replica, waits where a dependent needs a
//     condition (`service_healthy`, `service_completed_successfully`) or `--wait` asks; orphans reported.
//     A recreate is Compose's: the replacement is created under `<old ID prefix>_<name>` while the old container
//     runs, mounting its anonymous volumes (`-V`: fresh ones), then the old one is stopped and removed (volumes
//     kept) and the replacement renamed into place and started. A refused create touches nothing; a replacement
//     cut short is finished by the next `up`. Only `down -v` removes anonymous volumes (devstack labels each with
//     the project, so it finds those a replacement took over, which the engine itself no longer counts as anonymous).
//     `UpOptions.BeforeStart` (and `start`'s own hook) runs just before each start, the container created: on a
//     remote engine the CLI brings the volumes made from bind mounts there in line with this machine's files
//     (`sync.Seed`, one-shot: an exec in a short-lived helper container of the service's image mounting the same
//     volumes, gzipped; the archive API into the created container where the image has no tools), skipped when the
//     sources' digest (`sync.SourcesDigest`) matches the last complete fill; the engine stays ignorant of sync.
//     A container made with another service's (`network_mode`/`ipc`/`pid` `service:X`, `volumes_from`, `links`) is
//     created after X's container exists and recreated when X's is; its config hash, like Compose's, is taken with X's
//     container ID in place (`model.Service.RefHash`, finished by `engine` from the observation and by `engine/docker`
//     at create). Lifecycle hooks (`post_start`, `pre_stop`) are execs the executor runs around start, stop and
//     restart (`engine/hooks.go`); `run` calls `Engine.PostStart` itself once its one-off container has started
//     (the runtime's `AttachStart` says when, through `ExecOptions.Started`). `pre_start` steps are containers the
//     executor runs to completion before a service's first created container starts, once per service per apply.
//  5. `engine.execute` walks the DAG: each op starts when the ops it follows are done, one bounded pool for all;
//     a failure skips only what follows it. Waits subscribe to the engine's event stream (health_status, die)
//     before inspecting, and run the healthcheck's test themselves (`engine/ready`), so a dependent starts the
//     moment its dependency's test first passes, not at the engine's next interval tick.
package engine
