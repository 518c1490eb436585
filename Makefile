# tacet build, test and CI targets. `make help` lists them; docs/ci.md
# says which CI job runs which target and how long each takes.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO ?= go
# PKGS narrows unit, lint and bench-smoke to some packages, e.g. PKGS=./codec.
PKGS ?= ./...
TEST_TIMEOUT ?= 15m
LOAD_TIMEOUT ?= 30m
FUZZTIME ?= 20s
# The interop scripts use Debian's Python, where python3-msgpack lives.
PYTHON ?= /usr/bin/python3
# TEST_PARTS lets CI run unit and interop as separate jobs (see .gitlab-ci.yml).
TEST_PARTS ?= unit interop
# Directories whose files `go generate` must leave unchanged.
GEN_DIRS ?= codec

export TOOLBIN ?= $(CURDIR)/.bin
export GO
STATICCHECK := $(TOOLBIN)/staticcheck
SCRIPTS := $(CURDIR)/scripts/ci

# no_pkgs prints a note and stops the recipe while no Go package matches.
no_pkgs = if [ -z "$$($(GO) list -e $(1) 2>/dev/null)" ]; then \
	echo "$@: skipped: no Go packages match $(1) yet"; exit 0; fi

.PHONY: help deps build build-race test unit interop lint generate-check load \
	netns netns-clean fuzz fuzz-long bench-smoke bench demo ci-selftest clean

help: ## List the targets
	@awk 'BEGIN { FS = ":.*## " } \
		/^[a-zA-Z0-9_-]+:.*## / { printf "  %-15s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

deps: ## Install test dependencies (apt packages, staticcheck); idempotent
	@$(SCRIPTS)/deps.sh

build: ## Build the binaries into bin/
	@if [ ! -d cmd ]; then echo "build: skipped: no cmd/ yet"; exit 0; fi; set -x; \
	mkdir -p bin; \
	$(GO) build -o bin/ ./cmd/...

build-race: ## Build the binaries with -race into bin-race/
	@if [ ! -d cmd ]; then echo "build-race: skipped: no cmd/ yet"; exit 0; fi; set -x; \
	mkdir -p bin-race; \
	$(GO) build -race -o bin-race/ ./cmd/...

test: deps $(TEST_PARTS) ## Run the fast tests: unit (with -race) and interop

unit: deps build-race ## Run go test -race on PKGS against bin-race/tacetd
	@$(call no_pkgs,$(PKGS)); set -x; \
	TACETD_BIN=$(abspath bin-race/tacetd) \
		$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

interop: deps build ## Run the Python checks in spec/ and the Python package's tests against bin/tacetd
	@export TACETD_BIN=$(abspath bin/tacetd); \
	for f in spec/check_vectors.py spec/controller_test.py \
		$(filter-out spec/controller_test.py,$(wildcard spec/*_test.py)); do \
		if [ ! -f "$$f" ]; then echo "interop: $$f skipped: file absent"; continue; fi; \
		echo "interop: $(PYTHON) $$f"; \
		$(PYTHON) "$$f"; \
	done; \
	echo "interop: client/python/run_tests.sh"; \
	client/python/run_tests.sh

lint: deps ## Check gofmt, go vet and staticcheck
	@files=$$($(SCRIPTS)/gofiles.sh); \
	if [ -z "$$files" ]; then echo "lint: skipped: no Go files yet"; exit 0; fi; \
	bad=$$(gofmt -l $$files); \
	if [ -n "$$bad" ]; then echo "lint: gofmt -l lists files that need gofmt -w:"; \
		echo "$$bad"; gofmt -d $$bad; exit 1; fi
	@$(call no_pkgs,$(PKGS)); set -x; \
	$(GO) vet $(PKGS); \
	$(STATICCHECK) $(PKGS)

generate-check: deps ## Fail if go generate changes files under codec/
	@$(SCRIPTS)/generate-check.sh $(GEN_DIRS)

load: deps build ## Run the load tests (-tags load, TACET_SCALE=full), no -race
	@$(call no_pkgs,./...); set -x; \
	TACET_SCALE=full TACETD_BIN=$(abspath bin/tacetd) \
		$(GO) test -count=1 -run 'Load' -tags load -timeout $(LOAD_TIMEOUT) ./...

netns: deps build ## Run the network-namespace tests (root); see docs/ci.md
	@$(call no_pkgs,./...); \
	prefix=$${TACET_NETNS_PREFIX:-t$$(date +%s%N | tail -c 6)}; \
	echo "netns: TACET_NETNS_PREFIX=$$prefix"; \
	mkdir -p bin; echo "$$prefix" >bin/netns-prefix; \
	rc=0; \
	TACET_NETNS_PREFIX=$$prefix TACETD_BIN=$(abspath bin/tacetd) \
		$(GO) test -count=1 -run 'Netns' -timeout $(TEST_TIMEOUT) ./... || rc=$$?; \
	$(SCRIPTS)/netns-clean.sh "$$prefix"; \
	exit $$rc

# Without TACET_NETNS_PREFIX, netns-clean uses the one the last `make netns`
# recorded, so a run killed halfway can still be cleaned up.
netns-clean: ## Delete namespaces and links named tacet-* or $TACET_NETNS_PREFIX*
	@$(SCRIPTS)/netns-clean.sh "$${TACET_NETNS_PREFIX:-$$(cat bin/netns-prefix 2>/dev/null || true)}"

fuzz: deps ## Fuzz each Fuzz target for FUZZTIME (default 20s), one at a time
	@FUZZTIME=$(FUZZTIME) $(SCRIPTS)/fuzz.sh

fuzz-long: ## Fuzz each target for 10 minutes (scheduled pipeline)
	@$(MAKE) --no-print-directory fuzz FUZZTIME=10m

bench-smoke: deps build ## Run every benchmark once; report in bench/out/smoke.txt
	@TACETD_BIN=$(abspath bin/tacetd) $(SCRIPTS)/bench.sh smoke "$(PKGS)" -benchtime=1x

bench: deps build ## Run the benchmarks for real; report in bench/out/bench.txt
	@TACETD_BIN=$(abspath bin/tacetd) $(SCRIPTS)/bench.sh full "$(PKGS)" -benchtime=1s -count=5

demo: build ## Start tacetd on loopback with a fresh key and drive a small experiment
	@BIN=$(CURDIR)/bin scripts/demo.sh

ci-selftest: deps ## Check that lint, unit and generate-check catch planted faults
	@$(SCRIPTS)/selftest.sh

clean: ## Remove build output and reports (keeps the tools in .bin/)
	rm -rf bin bin-race bench/out
