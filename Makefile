# devstack: the two commands the README promises (demo, test), and helpers.
GO      ?= go
BIN     ?= bin/devstack
IMAGE   := devstack-test/busybox:1
EXAMPLE := -f testdata/example/compose.yaml -f testdata/example/compose.override.yaml
N       ?= 5
KUBE_CLUSTER ?= testdata/kube/cluster.sh

.PHONY: kube-cluster kube-test kube-tests kube-down build test cross dist lint demo demo-down bench bench-cp soak image compose-v2 clean

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

# The whole suite on a fresh machine (.ci/run installs and starts what it needs),
# and beside it every other release target vetted (`cross`, niced): the suite
# mostly waits on the engine, so the cross-compiling fills cores it leaves idle.
# The Kubernetes test cluster (testdata/kube/cluster.sh) is built, niced, and
# started beside the suite too, and its tests run after it: when the cluster
# cannot be made they skip saying why; when it is made they must pass.
test: image
	@log=$$(mktemp); klog=$$(mktemp); trap 'rm -f "$$log" "$$klog"' EXIT; \
	( nice -n 10 $(MAKE) --no-print-directory cross >"$$log" 2>&1 ) & cross=$$!; \
	( DEVSTACK_KUBE_NICE=10 bash $(KUBE_CLUSTER) up >"$$klog" 2>&1 ) & kube=$$!; \
	DEVSTACK_KUBE=off $(GO) vet ./... && DEVSTACK_KUBE=off $(GO) test ./... -timeout 45m; rc=$$?; \
	wait $$cross || rc=1; cat "$$log"; \
	if wait $$kube; then \
	  DEVSTACK_KUBE=require $(MAKE) --no-print-directory kube-tests || rc=1; \
	else \
	  reason=$$(grep -E '^cluster: ' "$$klog" | tail -1); reason=$${reason:-$$(tail -1 "$$klog")}; \
	  echo "make test: the Kubernetes test cluster could not be made ($$reason); its tests skip. The log ends with:"; tail -5 "$$klog"; \
	  DEVSTACK_KUBE=unavailable DEVSTACK_KUBE_REASON="$$reason" $(MAKE) --no-print-directory kube-tests || rc=1; \
	fi; exit $$rc

# The Kubernetes runtime's tests on a real single-node cluster on this
# machine (testdata/kube/cluster.sh: built from the Go module proxy, cached
# in ~/.cache/devstack-kube; about 5 minutes cold, under a minute warm).
# make test runs them after the suite; kube-test makes the cluster first and
# fails, rather than skips, when there is none.
kube-cluster:
	bash testdata/kube/cluster.sh up
kube-test: image kube-cluster
	DEVSTACK_KUBE=require $(MAKE) --no-print-directory kube-tests
kube-tests:
	$(GO) test ./engine/kube/... ./cmd/devstack -run 'Kube' -count=1 -timeout 45m
kube-down:
	bash testdata/kube/cluster.sh down

# Every release target but the host's vets (type-checking every package and test,
# compiling what they import), cross-compiled without cgo, the
# targets in parallel; a failing target's output is shown.
TARGETS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
cross:
	@logs=$$(mktemp -d) && trap 'rm -rf "$$logs"' EXIT && start=$$(date +%s) && pids= && \
	host=$$($(GO) env GOOS)/$$($(GO) env GOARCH); targets=; \
	for t in $(TARGETS); do [ "$$t" = "$$host" ] || targets="$$targets $$t"; done; \
	for t in $$targets; do \
	  ( export GOOS=$${t%/*} GOARCH=$${t#*/} CGO_ENABLED=0; \
	    $(GO) vet ./... ) >"$$logs/$${t%/*}-$${t#*/}" 2>&1 & pids="$$pids $$!"; \
	done; \
	failed=; set -- $$targets; for p in $$pids; do \
	  if ! wait $$p; then failed="$$failed $$1"; echo "== $$1"; cat "$$logs/$$(echo $$1 | tr / -)"; fi; shift; \
	done; \
	if [ -n "$$failed" ]; then echo "cross: build or vet failed for$$failed" >&2; exit 1; fi; \
	echo "cross:$$targets vet, the host's $$host vetted by the suite ($$(( $$(date +%s) - start )) s)"

# One archive per release target in dist/: the binary (version stamped, no
# cgo), README.md, LICENSE and completions for bash, zsh and fish (written
# by this machine's build of the same source), with SHA256SUMS.
# tar.gz for Linux and macOS, zip for Windows.
DIST ?= dist
dist:
	@rm -rf $(DIST) && mkdir -p $(DIST) && \
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(DIST)/.host-devstack ./cmd/devstack && \
	for t in $(TARGETS); do \
	  os=$${t%/*} arch=$${t#*/} exe=devstack; [ $$os = windows ] && exe=devstack.exe; \
	  name=devstack-$(VERSION)-$$os-$$arch dir=$(DIST)/devstack-$(VERSION)-$$os-$$arch; \
	  mkdir -p $$dir/completions && \
	  GOOS=$$os GOARCH=$$arch CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $$dir/$$exe ./cmd/devstack && \
	  cp README.md LICENSE $$dir/ && \
	  $(DIST)/.host-devstack completion bash >$$dir/completions/devstack.bash && \
	  $(DIST)/.host-devstack completion zsh >$$dir/completions/_devstack && \
	  $(DIST)/.host-devstack completion fish >$$dir/completions/devstack.fish && \
	  if [ $$os = windows ]; then (cd $(DIST) && zip -qr $$name.zip $$name); \
	  else tar -C $(DIST) -czf $(DIST)/$$name.tar.gz $$name; fi && \
	  rm -rf $$dir && echo "dist: $$name" || exit 1; \
	done && rm -f $(DIST)/.host-devstack && \
	(cd $(DIST) && sha256sum devstack-* >SHA256SUMS) && echo "dist: $(DIST)/SHA256SUMS"

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

# cp of a 100 MB tree both ways, devstack beside docker cp in the same run:
# medians of CP_RUNS (default 5) alternating pairs, with the load average.
CP_RUNS ?= 5
bench-cp: image
	DEVSTACK_CP_RUNS=$(CP_RUNS) $(GO) test ./cmd/devstack -run '^$$' -bench '^BenchmarkCpTree$$' -benchtime 1x -count=1 -timeout 45m

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
	rm -rf bin dist
