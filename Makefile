# devstack — the two commands the README promises, and a few helpers.
GO      ?= go
BIN     ?= bin/devstack
IMAGE   := devstack-test/busybox:1

.PHONY: build test demo bench image compose-v2 clean

build:
	$(GO) build -o $(BIN) ./cmd/devstack

# The local test image: FROM scratch plus a static busybox. Nothing is pulled.
image:
	@docker image inspect $(IMAGE) >/dev/null 2>&1 || { \
	  ctx=$$(mktemp -d) && cp /bin/busybox $$ctx/busybox && \
	  cp testdata/images/busybox/Dockerfile $$ctx/Dockerfile && \
	  DOCKER_BUILDKIT=0 docker build -q -t $(IMAGE) $$ctx && rm -rf $$ctx; }

# Passes the tests on a fresh machine (see .ci/run for what it installs).
test: image
	$(GO) vet ./...
	$(GO) test -timeout 14m ./...

# Brings up the bundled example, attached (Ctrl-C stops it).
demo: image build
	$(BIN) -f testdata/example/compose.yaml up

# Prints the benchmark table, side by side with docker compose.
bench: image build
	$(GO) run ./cmd/devstack-bench -devstack $(BIN)

# Docker Compose v2 for comparison, built from the Go module proxy outside
# the repository (no compose code is committed).
compose-v2:
	@test -x $(HOME)/.docker/cli-plugins/docker-compose || { \
	  mkdir -p $(HOME)/.cache/devstack-bench/compose $(HOME)/.docker/cli-plugins && \
	  cd $(HOME)/.cache/devstack-bench/compose && \
	  { test -f go.mod || $(GO) mod init composebuild; } && \
	  GOTOOLCHAIN=auto GOFLAGS=-mod=mod $(GO) get github.com/docker/compose/v2/cmd@v2.40.3 && \
	  GOTOOLCHAIN=auto GOFLAGS=-mod=mod $(GO) build -o $(HOME)/.docker/cli-plugins/docker-compose github.com/docker/compose/v2/cmd; }

clean:
	rm -rf bin
