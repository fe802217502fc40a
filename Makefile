# meshcdn: make build | test | demo | bench | bench-https | bench-purge | bench-shield | bench-store | sim | docker | e2e-docker | e2e-compose | compose-certs | fmt | vet
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN     := bin/meshcdn

# The race detector needs cgo and a C compiler; without them tests run without it.
RACE := $(shell [ "$$($(GO) env CGO_ENABLED)" = 1 ] && command -v "$$($(GO) env CC)" >/dev/null 2>&1 && echo -race)

.PHONY: all build test test-short demo bench bench-https bench-purge bench-shield bench-store sim docker e2e-docker e2e-compose compose-certs fmt vet clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/meshcdn

# Tests that skip themselves under the race detector (it changes allocation
# counts and sizes), run again without it after a -race run. Keep this list
# and .ci/run in step with `grep -rn raceEnabled --include='*_test.go' .`.
NORACE_TESTS := ^(TestBudgetCountsRealMemory|TestLookupDoesNotAllocate)$$
NORACE_PKGS  := ./geo/ ./store/

# Every test (about two minutes on two cores): vet, the containerised
# cluster test when a Docker engine answers, then every Go test, and the
# tests that skip under -race once more without it.
test:
	@[ -n "$(RACE)" ] || echo "warning: no C compiler for cgo: running tests without -race" >&2
	$(GO) vet ./...
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then bash test/docker/e2e.sh && bash test/docker/compose-e2e.sh; \
	else echo "no Docker engine answers: skipping the containerised end-to-end tests (make e2e-docker e2e-compose)" >&2; fi
	bash test/ui/install-chromium.sh
	$(GO) test $(RACE) -count=1 -timeout 14m ./...
ifneq ($(RACE),)
	$(GO) test -count=1 -run '$(NORACE_TESTS)' $(NORACE_PKGS)
endif

# A quicker run: -short trims the largest clusters and soak loops.
test-short:
	$(GO) vet ./... && $(GO) test $(RACE) -count=1 -short -timeout 14m ./...

# A local cluster of three nodes in three regions with the demo origin.
demo: build
	$(BIN) demo

# Hit throughput of one node (wrk, 1 KiB objects), then the Go benchmarks.
bench: build
	BIN=$(BIN) bash deploy/bench/hits.sh
	$(GO) test -run='^$$' -bench=. -benchmem ./store/ ./edge/ ./geo/

# Purge propagation latency and throughput across in-process clusters.
# HTTPS hit throughput beside nginx with the same certificate (wrk, 1 KiB).
bench-https: build
	BIN=$(BIN) bash deploy/bench/https.sh

bench-purge:
	$(GO) test -run='^$$' -bench='Propagation|Throughput' ./cluster/
	$(GO) test -run='^$$' -bench='PartitionHeal' -benchtime=5x ./cluster/

# Shielding (README.md, "Shielding"): 3, 10 and 30 in-process nodes; origin
# fetches per purge, the added latency of a miss via the owner, hit latency
# with and without shielding (benchstat-ready: -count=6).
bench-shield:
	$(GO) test -run='^$$' -bench='Shield/.*/(refill|miss)' -benchtime=30x -count=6 ./test/
	$(GO) test -run='^$$' -bench='Shield/.*/hit' -benchtime=2000x -count=6 ./test/

# 100 real cluster nodes in one process over a simulated network of six
# regions (cluster/README.md, "Simulated wide-area cluster"), once per
# purge dissemination design (direct, relay, gossip): purge latency against
# the physical floor, bytes per purge, a latency CDF per design in
# cluster/sim/out/ (about 4 minutes on two cores). SIM_FLAGS, e.g.
# -nodes 300, -partition 30s -churn 0.1, -loss 0, -trace 150ms.
sim:
	$(GO) run ./cluster/sim $(SIM_FLAGS)

# What the store's size costs a node (test/benchstore): fill a real edge
# through HTTP to each N, then RSS and store bytes per object, Go heap
# objects, GC CPU, 1 KiB hits on a hot set (wrk if installed) and the time
# of a purge of one key tagging 100 000 objects. N=0,200000 for a shorter run.
N    ?= 0,200000,1000000
BODY ?= 100
bench-store:
	$(GO) run ./test/benchstore -n '$(N)' -body '$(BODY)'

# Static binary in a FROM scratch image (nothing is pulled).
docker:
	mkdir -p bin/docker
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/docker/meshcdn ./cmd/meshcdn
	if [ -r /etc/ssl/certs/ca-certificates.crt ]; then cp /etc/ssl/certs/ca-certificates.crt bin/docker/; \
	else echo "warning: no /etc/ssl/certs/ca-certificates.crt: https origins will not verify" >&2; : > bin/docker/ca-certificates.crt; fi
	docker build -f deploy/Dockerfile -t meshcdn:$(VERSION) -t meshcdn:latest bin/docker

# End-to-end test of a 3-region cluster in containers (needs a Docker engine).
e2e-docker:
	bash test/docker/e2e.sh

# deploy/docker-compose.yml itself: config file, HTTPS, a rolling restart
# under load with 0 failed requests.
e2e-compose:
	bash test/docker/compose-e2e.sh

# A self-signed certificate for deploy/docker-compose.yml's HTTPS listeners.
compose-certs:
	bash deploy/compose/make-cert.sh

fmt:
	gofmt -l -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...

clean:
	rm -rf bin
