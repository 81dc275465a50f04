# devstack: the two commands the README promises (demo, test), and helpers.
GO      ?= go
BIN     ?= bin/devstack
IMAGE   := devstack-test/busybox:1
EXAMPLE := -f testdata/example/compose.yaml -f testdata/example/compose.override.yaml
N       ?= 5

.PHONY: kube-cluster kube-test kube-down build test lint demo demo-down bench soak image compose-v2 clean

# The commit goes into `devstack version` (the build's own VCS stamp may be
# turned off, as GOFLAGS=-buildvcs=false does).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/devstack

# The local test image: FROM scratch plus Debian's static busybox, built only
# when missing. FROM scratch needs no registry: nothing is pulled.
image:
	@docker image inspect $(IMAGE) >/dev/null 2>&1 || { \
	  test -x /bin/busybox || { echo "make image: /bin/busybox is missing: apt-get install busybox-static" >&2; exit 1; }; \
	  ctx=$$(mktemp -d) && trap 'rm -rf "$$ctx"' EXIT && \
	  cp /bin/busybox "$$ctx/busybox" && \
	  cp testdata/images/busybox/Dockerfile "$$ctx/Dockerfile" && \
	  echo "building $(IMAGE)" && \
	  DOCKER_BUILDKIT=0 docker build -q -t $(IMAGE) "$$ctx" >/dev/null; }

# The whole suite on a fresh machine (.ci/run installs and starts what it needs).
test: image
	$(GO) vet ./... && $(GO) test ./... -timeout 14m

# The Kubernetes runtime's tests on a real single-node cluster on this
# machine (testdata/kube/cluster.sh: built from the Go module proxy, cached
# in ~/.cache/devstack-kube; about 5 minutes cold, under a minute warm).
# Kept out of `make test` for its cost; without a cluster those tests skip.
kube-cluster:
	bash testdata/kube/cluster.sh up
kube-test: image kube-cluster
	$(GO) test ./engine/kube/... ./cmd/devstack -run 'Kube' -count=1 -timeout 20m
kube-down:
	bash testdata/kube/cluster.sh down

# gofmt, go vet and staticcheck (fetched from the Go module proxy, pinned).
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	@out=$$(gofmt -l .); [ -z "$$out" ] || { echo "gofmt would change:"; echo "$$out"; exit 1; }
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# Brings up the bundled example, attached (Ctrl-C stops it; `make demo-down` cleans up).
demo: image build
	$(BIN) $(EXAMPLE) up

demo-down: build
	$(BIN) $(EXAMPLE) down -v

# The benchmark table, devstack side by side with Docker Compose (v2 when it
# can be built, Debian's v1 otherwise; the table says which). N=runs.
bench: image build
	-@cmd/devstack-bench/build-compose-v2.sh
	$(GO) run ./cmd/devstack-bench -devstack $(BIN) -n $(N)

# The soak: the dashboard of a synced stack for SOAK (default 30m) with an
# edit every second and a restart every minute; prints devstack's RSS,
# goroutines and open files over time and fails if they grow or an edit is lost.
SOAK ?= 30m
soak: image
	DEVSTACK_SOAK=$(SOAK) $(GO) test ./cmd/devstack -run '^TestSoak$$' -count=1 -v -timeout 0

# Docker Compose v2 as a docker CLI plugin, built from the Go module proxy
# outside the repository (no compose code is committed). Cached.
compose-v2:
	cmd/devstack-bench/build-compose-v2.sh

clean:
	rm -rf bin
