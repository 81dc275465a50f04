#!/usr/bin/env bash
# Builds Docker Compose v2 as a docker CLI plugin from the Go module proxy, in a
# scratch module outside the repository (no compose code is ever committed),
# for the benchmark's side-by-side comparison. Cached: does nothing when the
# plugin already answers. Exits non-zero when the build fails; the benchmark
# then falls back to Debian's docker-compose (v1) and says so in its table.
set -euo pipefail

version=${COMPOSE_VERSION:-v2.40.3}
plugins=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
work=${XDG_CACHE_HOME:-$HOME/.cache}/devstack-bench/compose-$version

if "$plugins/docker-compose" version --short >/dev/null 2>&1; then
  echo "compose v2 plugin present: $("$plugins/docker-compose" version --short)"
  exit 0
fi

mkdir -p "$work" "$plugins"
cd "$work"
export GOTOOLCHAIN=auto GOFLAGS=-mod=mod GOWORK=off
[ -f go.mod ] || go mod init composebuild >/dev/null
echo "building Docker Compose $version in $work (several minutes on 2 cores)..."
go get "github.com/docker/compose/v2/cmd@$version"
go build -trimpath \
  -ldflags "-w -X github.com/docker/compose/v2/internal.Version=$version" \
  -o "$plugins/docker-compose.tmp" github.com/docker/compose/v2/cmd
mv "$plugins/docker-compose.tmp" "$plugins/docker-compose"
echo "installed $plugins/docker-compose: $("$plugins/docker-compose" version --short)"
