# kubectl-opea: build, test and try the plugin.
# `make help` lists the targets.

GO          ?= go
PREFIX      ?= $(shell $(GO) env GOPATH)
BINDIR      := bin
CLUSTER_DIR ?= .cluster
# A semantic version, as krew requires: the newest v* tag, else v0.0.0-<commit>.
VERSION     ?= $(shell git describe --tags --match 'v*' --dirty 2>/dev/null || echo v0.0.0-$$(git rev-parse --short HEAD 2>/dev/null || echo dev))
COMMIT      ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
PKG         := github.com/opea-project/kubectl-opea
LDFLAGS     := -s -w -X $(PKG)/pkg/buildinfo.Version=$(VERSION) -X $(PKG)/pkg/buildinfo.Commit=$(COMMIT)
LOCAL       := $(GO) run ./test/cmd/opea-local-cluster

.PHONY: help build install control-plane demo test unit bench dist docs lint cluster-up cluster-down try clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# Without cgo, as the release archives are built (krew/dist): the same static
# binary, 12 MB smaller than a cgo build, and as much less resident memory.
# The shim kubectl_complete-opea goes next to the plugin: kubectl completes
# "kubectl opea ..." by running it from PATH.
build: ## Build bin/kubectl-opea, next to its completion shim bin/kubectl_complete-opea
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BINDIR)/kubectl-opea ./cmd/kubectl-opea
	install -m 0755 cmd/kubectl-opea/kubectl_complete-opea $(BINDIR)/

install: build ## Install kubectl-opea and its completion shim into $(PREFIX)/bin
	install -d $(PREFIX)/bin
	install -m 0755 $(BINDIR)/kubectl-opea $(BINDIR)/kubectl_complete-opea $(PREFIX)/bin/
	@echo "Installed into $(PREFIX)/bin. With it on PATH, run: kubectl opea --help"

control-plane: ## Build etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, kubectl, istiod, istioctl and cert-manager-controllers once (about 22 minutes the first time)
	@$(LOCAL) build

test: control-plane ## Run all tests: unit tests, tests against the local control plane, a short fuzz run
	$(GO) test -count=1 -timeout 30m ./...
	@$(MAKE) --no-print-directory fuzz FUZZTIME=2000x

# Each package, followed by what its tests import. Those whose tests import
# test/controlplane need the local control plane: the end-to-end tests start
# one, krew/dist's take kubectl and krew from its cache. The others run
# without it.
TEST_IMPORTS  = $(GO) list -f '{{.ImportPath}}{{range .TestImports}} {{.}}{{end}}{{range .XTestImports}} {{.}}{{end}}' ./...
CONTROL_PLANE = '(^| )$(PKG)/test/controlplane( |$$)'

unit: ## Run the unit and command tests: all but those that need the local control plane (make test runs every test)
	@echo "not run (they need the local control plane):" $$($(TEST_IMPORTS) | grep -E $(CONTROL_PLANE) | cut -d' ' -f1 | sed 's|^$(PKG)/||')
	$(GO) test -count=1 $$($(TEST_IMPORTS) | grep -v -E $(CONTROL_PLANE) | cut -d' ' -f1)

bench: control-plane build ## Benchmarks against the local control plane: secure vs the manual procedure's kubectl apply; verify vs istioctl analyze, --help time, archive size
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 10x -benchmem ./test/e2e/
	$(GO) run ./test/cmd/opea-bench -plugin $(BINDIR)/kubectl-opea

# A number of executions (2000x) rather than a duration: Go 1.26's fuzzing
# coordinator can fail a target with "context deadline exceeded" when a
# duration ends while a busy machine's worker is mid-call (go.dev/issue/75804,
# fixed in Go 1.27); a count has no deadline to race.
FUZZTIME    ?= 2000x

.PHONY: fuzz
fuzz: ## Run each fuzz target FUZZTIME times (executions, Nx) or for a duration (5s)
	@set -e; grep -r -o --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' pkg | sort | while IFS=: read -r file fn; do \
		name=$${fn#func }; pkg=./$$(dirname $$file); \
		echo "$(GO) test -run '^$$' -fuzz '^$$name\$$' -fuzztime $(FUZZTIME) $$pkg"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

DIST        ?= dist

dist: ## Release archives for linux, darwin, windows (amd64, arm64), sha256sums.txt and the krew manifest, in $(DIST)
	$(GO) run ./krew/dist -version $(VERSION) -commit $(COMMIT) -out $(DIST)

docs: ## Regenerate docs/commands from the commands' help (a test fails when they drift)
	$(GO) test ./pkg/plugin -run TestCommandDocsAreUpToDate -update

lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l cmd pkg test krew manifests); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd test/istiotools && $(GO) vet ./render-chart
	cd test/certmanagertools && $(GO) vet ./...
	cd tools && $(GO) build -o ../$(BINDIR)/staticcheck honnef.co/go/tools/cmd/staticcheck
	$(BINDIR)/staticcheck ./...

demo: build control-plane ## Show kubectl opea at work on the local control plane (no cluster needed)
	@$(GO) run ./test/cmd/opea-demo -plugin $(BINDIR)/kubectl-opea

# APP=chatqna also stages ChatQnA and an ingress gateway, ready for secure.
cluster-up: control-plane ## Start the local control plane in the background; admin kubeconfig in $(CLUSTER_DIR)/kubeconfig (APP=chatqna: with ChatQnA)
	@$(LOCAL) up -dir $(CLUSTER_DIR) -bin $(BINDIR) $(if $(APP),-app $(APP))

try: build ## Try the plugin by hand: the local control plane with ChatQnA and an ingress gateway, ready for kubectl opea secure
	@$(MAKE) --no-print-directory cluster-up APP=chatqna

cluster-down: ## Stop the local control plane and remove $(CLUSTER_DIR)
	@$(LOCAL) down -dir $(CLUSTER_DIR)

clean: cluster-down ## Remove build output (the control-plane binaries cached in ~/.cache/kubectl-opea stay)
	rm -rf $(BINDIR) $(DIST)
