# Assay build, test and demo. Every target installs what it needs into
# .tools/ (Go tools built from the module proxy; Go's caches are reused).

GO        ?= go
BIN       := bin
PLUGINS   := $(BIN)/plugins
TOOLS     := $(CURDIR)/.tools/bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
PLUGIN_NAMES := notation cosign vulnreport

DISTRIBUTION_VERSION   := v3.1.2
CONTROLLER_GEN_VERSION := v0.22.0
PROTOC_GEN_GO_VERSION  := v1.36.12
PROTOC_GEN_GRPC_VERSION := v1.6.2
HELM_VERSION           := v3.22.0
# GATEKEEPER_VERSION must be the gatekeeper version of go.mod: test/admission
# installs the CRDs of that module's deploy/gatekeeper.yaml.
GATEKEEPER_VERSION     := v3.23.1
CHART                  := charts/assay

.PHONY: all build plugins test rego-test lint vet fmt-check demo serve-demo tools cluster-tools generate verify-generated clean bench

all: build

## build: assay and every plugin into bin/, with bin/plugins/SHA256SUMS
build: plugins
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/assay ./cmd/assay

plugins:
	@mkdir -p $(PLUGINS)
	@for p in $(PLUGIN_NAMES); do \
		echo "$(GO) build -o $(PLUGINS)/$$p ./plugins/$$p"; \
		$(GO) build -ldflags "$(LDFLAGS)" -o $(PLUGINS)/$$p ./plugins/$$p || exit 1; \
	done
	cd $(PLUGINS) && sha256sum $(PLUGIN_NAMES) > SHA256SUMS

## tools: test dependencies (the distribution v3 registry binary, kube-apiserver, etcd and helm; redis-server via apt-get)
tools: $(TOOLS)/registry cluster-tools $(TOOLS)/helm
	bash hack/install-test-deps.sh

## cluster-tools: kube-apiserver, kube-controller-manager and etcd, built from the Go module proxy by the module in test/tools/kube
cluster-tools: $(TOOLS)/kube-apiserver $(TOOLS)/kube-controller-manager $(TOOLS)/etcd

$(TOOLS)/kube-apiserver:
	cd test/tools/kube && $(GO) build -o $(TOOLS)/kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver

$(TOOLS)/kube-controller-manager:
	cd test/tools/kube && $(GO) build -o $(TOOLS)/kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager

$(TOOLS)/etcd:
	cd test/tools/kube && $(GO) build -o $(TOOLS)/etcd ./etcd

## e2e-tools: what make e2e runs besides assay: Gatekeeper, kube-apiserver, etcd and the distribution registry
.PHONY: e2e e2e-tools
e2e-tools: $(TOOLS)/gatekeeper $(TOOLS)/registry $(TOOLS)/helm cluster-tools

# go install names the binary after the module path without its /v3: gatekeeper.
$(TOOLS)/gatekeeper:
	GOBIN=$(TOOLS) $(GO) install github.com/open-policy-agent/gatekeeper/v3@$(GATEKEEPER_VERSION)

$(TOOLS)/registry:
	GOBIN=$(TOOLS) $(GO) install github.com/distribution/distribution/v3/cmd/registry@$(DISTRIBUTION_VERSION)

$(TOOLS)/helm:
	GOBIN=$(TOOLS) $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

$(TOOLS)/controller-gen:
	GOBIN=$(TOOLS) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)

$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

$(TOOLS)/protoc-gen-go-grpc:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GRPC_VERSION)

## test: every test, with the race detector, against real registries and plugin processes
test: tools
	ASSAY_DISTRIBUTION_BIN=$(TOOLS)/registry ASSAY_KUBE_ASSETS=$(TOOLS) ASSAY_HELM_BIN=$(TOOLS)/helm $(GO) test -race -count=1 -timeout 30m ./...

## e2e: admissions from a client through kube-apiserver, Gatekeeper's webhook and assay serve to the registries, all local processes (test/admission)
e2e: build e2e-tools
	ASSAY_KUBE_ASSETS=$(TOOLS) ASSAY_GATEKEEPER_BIN=$(TOOLS)/gatekeeper ASSAY_DISTRIBUTION_BIN=$(TOOLS)/registry ASSAY_HELM_BIN=$(TOOLS)/helm $(GO) test -tags e2e -count=1 -timeout 30m ./test/admission/...

## chart-sync: copy crds/*.yaml into the chart's crds/ and library/*/template.yaml into its files/library/ (test/helm fails when they differ)
.PHONY: chart-sync helm-test
chart-sync:
	rm -f $(CHART)/crds/*.yaml $(CHART)/files/library/*.yaml
	mkdir -p $(CHART)/crds $(CHART)/files/library
	cp crds/*.yaml $(CHART)/crds/
	for t in library/*/template.yaml; do cp $$t $(CHART)/files/library/$$(basename $$(dirname $$t)).yaml; done

## helm-test: helm lint and helm template of the chart with several value sets (test/helm)
helm-test: $(TOOLS)/helm
	ASSAY_HELM_BIN=$(TOOLS)/helm $(GO) test -count=1 ./test/helm/

## rego-test: the Rego unit tests of library/ and the checks of its templates, samples and suites
rego-test:
	$(GO) test ./library/...

## bench: the Go benchmarks (provider handler, verify path, store), then the load harness with its defaults
bench: tools build
	ASSAY_DISTRIBUTION_BIN=$(TOOLS)/registry $(GO) test -run '^$$' -bench . -benchmem ./...
	$(LOAD)

## load: the load harness against bin/assay: warm, cold and throttled runs (docs/performance.md); more flags in LOAD_FLAGS, e.g. LOAD_FLAGS="-images 1000 -duration 30s"
.PHONY: load
LOAD = $(GO) run ./test/load -assay $(BIN)/assay -plugin-dir $(PLUGINS) $(LOAD_FLAGS)
load: build
	$(LOAD)

## lint: go vet, gofmt, and no build output tracked by git (hack/check-tracked.sh); the package dependency rules are a test (test/arch)
lint: vet fmt-check tracked-check

.PHONY: tracked-check
tracked-check:
	bash hack/check-tracked.sh

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## generate: deepcopy, CRDs and protobuf code
generate: $(TOOLS)/controller-gen $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc
	$(TOOLS)/controller-gen object:headerFile=hack/boilerplate.go.txt paths=./pkg/apis/...
	$(TOOLS)/controller-gen crd paths=./pkg/apis/... output:crd:artifacts:config=crds
	PATH=$(TOOLS):$$PATH $(GO) generate ./pkg/plugin/...

## verify-generated: regenerate deepcopy code and CRDs and fail if they differ from what is committed
verify-generated: $(TOOLS)/controller-gen
	$(TOOLS)/controller-gen object:headerFile=hack/boilerplate.go.txt paths=./pkg/apis/...
	$(TOOLS)/controller-gen crd paths=./pkg/apis/... output:crd:artifacts:config=crds
	git diff --exit-code -- pkg/apis crds

## demo: start a local registry, push a signed and an unsigned image, verify both with the CLI and through assay serve
demo: build
	$(GO) run ./test/demo --assay $(BIN)/assay --plugin-dir $(PLUGINS)

## serve-demo: the demo, then keep the registry (127.0.0.1:5000) and assay serve (https://127.0.0.1:8443) running; config and TLS in examples/demo/
serve-demo: build
	$(GO) run ./test/demo --assay $(BIN)/assay --plugin-dir $(PLUGINS) --wait

## image: the container image the chart runs (static binaries, pkg/ociimage), as an OCI layout in bin/image; IMAGE=<registry/repo:tag> also pushes it
.PHONY: image
image:
	@mkdir -p $(BIN)/static/plugins
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $(BIN)/static/assay ./cmd/assay
	@for p in $(PLUGIN_NAMES); do \
		echo "CGO_ENABLED=0 $(GO) build -o $(BIN)/static/plugins/$$p ./plugins/$$p"; \
		CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $(BIN)/static/plugins/$$p ./plugins/$$p || exit 1; \
	done
	cd $(BIN)/static/plugins && sha256sum $(PLUGIN_NAMES) > SHA256SUMS
	$(GO) run ./hack/image -assay $(BIN)/static/assay -plugins $(BIN)/static/plugins -out $(BIN)/image -tag $(VERSION) -version $(VERSION) $(if $(IMAGE),-push $(IMAGE))

clean:
	rm -rf $(BIN)
