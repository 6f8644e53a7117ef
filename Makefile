# forge-exporter Makefile. `make run` and `make test` are the two commands a
# newcomer needs; see README.md.

GO        ?= go
# The shipped binary is built with Go 1.27.3: Go 1.26.8 (the machine's Go) has
# standard-library vulnerabilities (net/http, crypto/x509, crypto/tls) that
# govulncheck finds reachable. The go command fetches this toolchain from the
# module proxy on first use (~76 MB, seconds). Override with GOTOOLCHAIN=local.
export GOTOOLCHAIN ?= go1.27.3
BIN       := bin/forge-exporter
PKG       := github.com/railiance/forge-exporter
# --abbrev=12: the default abbreviation grows with a repository's object
# count, so two clones of one commit could otherwise disagree on the version.
VERSION   ?= $(shell git describe --tags --always --dirty --abbrev=12 2>/dev/null || echo dev)
# Evaluate once: a recursive variable would run git describe at every use, and
# a commit made during a long build would change the version half-way.
VERSION   := $(VERSION)
REVISION  := $(shell git rev-parse --verify -q HEAD 2>/dev/null || echo unknown)
BRANCH    := $(shell git symbolic-ref --short -q HEAD 2>/dev/null || echo unknown)
VPKG      := github.com/prometheus/common/version
LDFLAGS   := -X $(VPKG).Version=$(VERSION) -X $(VPKG).Revision=$(REVISION) -X $(VPKG).Branch=$(BRANCH) \
             -X $(VPKG).BuildUser=$(or $(USER),unknown) -X $(VPKG).BuildDate=$(shell date -u +%Y%m%d-%H:%M:%S)
# Tools the Makefile installs, pinned, outside the repository.
TOOLS     ?= $(HOME)/.cache/forge-exporter/tools
STATICCHECK_VERSION := v0.8.2
GOVULNCHECK_VERSION := v1.9.0
# Analysers must be built by the toolchain whose standard library they read.
STATICCHECK := $(TOOLS)/staticcheck-$(STATICCHECK_VERSION)-$(GOTOOLCHAIN)
GOVULNCHECK := $(TOOLS)/govulncheck-$(GOVULNCHECK_VERSION)-$(GOTOOLCHAIN)
# govulncheck cannot reach vuln.go.dev from here: build its database from the
# OSV entries in the golang.org/x/vulndb module (served by the module proxy).
VULNDB_VERSION := v0.0.0-20261105234957-e22db6528018
VULNDB := $(TOOLS)/vulndb-$(VULNDB_VERSION)
RUN_ARGS  ?=
DEMO_ARGS ?=

.PHONY: all build run demo test test-go test-quick vet fmt fmt-check lint vulncheck promtool-check bench bench-gitea bench-walk fuzz soak tools clean chart-sync

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/forge-exporter

## run: build and start the exporter on the built-in example configuration.
run: build
	@echo "forge-exporter: serving on http://localhost:10100/metrics (examples/forge-exporter.yaml); Ctrl-C stops it"
	./$(BIN) --config.file=examples/forge-exporter.yaml --web.enable-lifecycle $(RUN_ARGS)

## demo: a whole forge on loopback (real Gitea, runners, packages, evidence,
## the exporter, Prometheus with the alert rules, Alertmanager); prints where to
## look and which alerts fire, then waits for Ctrl-C and removes everything.
demo:
	@echo "forge-exporter demo: building hack/demo"
	$(GO) build -o bin/forge-demo ./hack/demo
	./bin/forge-demo $(DEMO_ARGS)

## test: everything CI runs. test-go leaves out the tests that build and run
## the shipped artifacts; image-test and release-check run them as steps of
## their own. Within make test, release-check double-builds linux/amd64 only
## (~4 min less; every platform's binary is still built once); .ci/run runs
## the full release-check after it.
SHIP_TESTS := ^(TestImage|TestReleaseReproducible)$$
test: fmt-check vet lint vulncheck promtool-check test-go image-test release-check
test: RELEASE_CHECK_PLATFORMS ?= linux/amd64

promtool-check:
	@command -v promtool >/dev/null || { echo "promtool is missing: install the Debian 'prometheus' package (.ci/run does)"; exit 1; }

# test-go first builds the real servers this machine has not built yet (once,
# into ~/.cache/forge-exporter; hack/realbin.sh says what it builds), so no
# test skips for want of one.
test-go: tools
	$(GO) test -race -count=1 -timeout 30m -skip '$(SHIP_TESTS)' ./...

## test-quick: the fast loop while editing: `go test -short` skips every test
## that runs a real server (listed at the end), without the race detector.
## Not a substitute for `make test`.
test-quick:
	@log=$$(mktemp); $(GO) test -short -count=1 -v ./... >$$log 2>&1; rc=$$?; \
	  grep -E '^(ok|FAIL|--- FAIL|panic:)' $$log; \
	  grep -- '--- SKIP' $$log | sed 's/^ *--- SKIP: /test-quick skipped: /'; \
	  echo "test-quick: $$(grep -c -- '--- SKIP' $$log) tests skipped (they run real servers: make test runs them)"; \
	  [ $$rc -eq 0 ] || sed -n '/--- FAIL/,/^FAIL/p' $$log; rm -f $$log; exit $$rc

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

$(STATICCHECK):
	@echo "installing staticcheck $(STATICCHECK_VERSION) into $(TOOLS) (first run only)"
	@mkdir -p $(TOOLS)/tmp-sc && GOBIN=$(TOOLS)/tmp-sc $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) && mv $(TOOLS)/tmp-sc/staticcheck $@

lint: $(STATICCHECK)
	$(STATICCHECK) ./...

$(GOVULNCHECK):
	@echo "installing govulncheck $(GOVULNCHECK_VERSION) into $(TOOLS) (first run only)"
	@mkdir -p $(TOOLS)/tmp-vc && GOBIN=$(TOOLS)/tmp-vc $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION) && mv $(TOOLS)/tmp-vc/govulncheck $@

$(VULNDB):
	@echo "building the Go vulnerability database $(VULNDB_VERSION) from the module proxy (first run only)"
	@dir=$$($(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'); \
	  $(GO) run ./hack/vulndb -src "$$dir/data/osv" -out $@

vulncheck: $(GOVULNCHECK) $(VULNDB)
	$(GOVULNCHECK) -db file://$(VULNDB) ./...

## chart-sync: copy alerts/ and dashboards/ into the Helm chart (Helm cannot read
## files outside it) and regenerate the exporter-config part of its
## values.schema.json; `make test` fails while the copies drift.
CHART := deploy/helm/forge-exporter
chart-sync:
	@for pair in alerts:files/alerts:yaml dashboards:files/dashboards:json; do \
	  src=$${pair%%:*}; rest=$${pair#*:}; dst=$(CHART)/$${rest%%:*}; ext=$${rest#*:}; \
	  mkdir -p $$dst; rm -f $$dst/*.$$ext; \
	  if ls $$src/*.$$ext >/dev/null 2>&1; then cp $$src/*.$$ext $$dst/ && echo "chart-sync: $$src/*.$$ext -> $$dst/"; \
	  else echo "chart-sync: no $$src/*.$$ext in the repository yet: the chart holds none"; fi; \
	done
	$(GO) test ./deploy/helm/charttest -count=1 -run 'TestConfigSchema$$' -update

## tools: build the real servers the integration tests use (cached outside the repo).
tools:
	@hack/realbin.sh all >/dev/null

## bench: every benchmark. Each adds itself to BENCHES (above the bench rule,
## since make expands prerequisites as it reads them) with a bench-<name> target.
BENCH_N      ?= 1000000
BENCH_ROUNDS ?= 5
BENCH_DIR    ?= $(or $(TMPDIR),/tmp)
BENCHES      += bench-gitea bench-walk
BENCHES      += bench-evidence

BENCHES      += bench-kube
BENCHES      += bench-scrape
bench: $(BENCHES)

## bench-kube: /metrics latency (median, p99), RSS and API requests per scrape of the
## pvc, cnpg and volumebackup collectors with 10,000 Backups, 2,000 PVCs and 200
## ScheduledBackups in a real kube-apiserver (hack/kubebench; a few minutes).
bench-kube:
	$(GO) run ./hack/kubebench

## bench-scrape: bytes and allocations per series of one /metrics scrape
## (pvc and cnpg collectors over 2,000 PVCs and 200 CNPG clusters, 15,034
## series, gzip) next to a plain client_golang registry holding the same
## series, from one run, and their ratio (make test keeps it at most 1.5).
bench-scrape:
	$(GO) test -run '^$$' -bench BenchmarkScrapeAllocations -benchtime 20x ./collectors/

## bench-gitea: one Gitea sweep's duration and request count for 500 runners and
## 5,000 package versions: against the httptest fake Gitea (internal/testenv/giteafake),
## then against a real Gitea 1.26.4 filled through its APIs (a few minutes; skipped
## while hack/realbin.sh has not built Gitea).
bench-gitea:
	$(GO) test -run '^$$' -bench 'BenchmarkSweep|BenchmarkRealGiteaSweep' -benchtime 1x -timeout 30m ./internal/gitea/

## bench-evidence: parse, validate and secret-scan one record, and one sample
## of a directory of 1,000 records.
bench-evidence:
	$(GO) test -run '^$$' -bench . -benchtime 5x ./internal/evidence/ ./internal/secretscan/

# bench-walk: the directory walker against du and find on a generated
# Gitea-shaped tree of BENCH_N blobs (removed afterwards), warm cache.
bench-walk:
	$(GO) build -o bin/walkbench ./hack/walkbench
	./bin/walkbench -n $(BENCH_N) -rounds $(BENCH_ROUNDS) -dir $(BENCH_DIR)

## fuzz: run each fuzz target for FUZZTIME. Add a target with a
## `FUZZ_TARGETS += ./package:FuzzName` line; `make test` already runs every
## target's seed corpus.
FUZZTIME ?= 60s
FUZZ_TARGETS += ./internal/config:FuzzParse
FUZZ_TARGETS += ./internal/evidence:FuzzParse
FUZZ_TARGETS += ./internal/secretscan:FuzzScan
FUZZ_TARGETS += ./internal/gitea:FuzzResponses
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t#*:}; \
	  echo "fuzz: $$fn in $$pkg for $(FUZZTIME)"; \
	  $(GO) test $$pkg -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME); \
	done

## soak: run the built exporter for SOAK_DURATION (after a warm-up) on a
## generated blob tree, evidence records and a churning fake Gitea while
## hack/soak, a second process, scrapes /metrics with SOAK_CLIENTS clients
## (and 50 each of PVCs, Backups, ScheduledBackups, Clusters, CronJobs,
## VolumeSnapshots and evidence ConfigMaps churn, under names never reused, in a
## real kube-apiserver; SOAK_ARGS=-kube=false skips it); checks those counts
## in the API server and the exporter at start and end; prints p50/p99 scrape
## latency, RSS, heap after GC, goroutines and bytes allocated per scrape, and
## fails on scrape errors, a wrong world, or growth (start against end, and
## the slope over the second half). See docs/reliability.md.
SOAK_DURATION ?= 10m
SOAK_CLIENTS  ?= 4
SOAK_FILES    ?= 20000
SOAK_ARGS     ?=
soak: build
	$(GO) run ./hack/soak -binary $(BIN) -duration $(SOAK_DURATION) -clients $(SOAK_CLIENTS) -files $(SOAK_FILES) $(SOAK_ARGS)

## Shipping (docs/release.md). Release and image binaries are static
## (CGO_ENABLED=0), path-free (-trimpath), stripped (-s -w) and reproducible:
## their build date is the commit's time (SOURCE_DATE_EPOCH), their build user
## a constant, and -buildvcs=false because version and revision come from the
## ldflags below (Go's VCS stamp would record untracked files as "modified").
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
SOURCE_DATE_EPOCH := $(SOURCE_DATE_EPOCH)
export SOURCE_DATE_EPOCH
REL_LDFLAGS := -s -w -X $(VPKG).Version=$(VERSION) -X $(VPKG).Revision=$(REVISION) \
               -X $(VPKG).BuildUser=reproducible -X $(VPKG).BuildDate=$(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y%m%d-%H:%M:%S)
ARCH      ?= $(shell $(GO) env GOARCH)
IMAGE     ?= forge-exporter:$(VERSION)

.PHONY: image image-test release release-check FORCE
FORCE:

# .build/<os>-<arch>/forge-exporter, the layout the Dockerfile copies from
# (the Prometheus exporters' convention). Always re-run: the Go build cache
# makes an unchanged build cost a link at most. GOAMD64/GOARM64 are pinned so
# an environment setting cannot change the bytes.
.build/%/forge-exporter: FORCE
	@mkdir -p $(@D)
	CGO_ENABLED=0 GOOS=$(word 1,$(subst -, ,$*)) GOARCH=$(word 2,$(subst -, ,$*)) GOAMD64=v1 GOARM64=v8.0 \
	  $(GO) build -trimpath -buildvcs=false -ldflags "$(REL_LDFLAGS)" -o $@ ./cmd/forge-exporter
	@chmod 0755 $@ # whatever the umask: the image copies this mode

## image: the container image $(IMAGE) (FROM scratch, see Dockerfile), built with
## podman from .build/linux-$(ARCH)/forge-exporter. --timestamp makes the image
## (created time, layer mtimes) depend on the commit only.
image: .build/linux-$(ARCH)/forge-exporter
	@command -v podman >/dev/null || { echo "podman is missing: install the Debian 'podman' and 'runc' packages (.ci/run does)"; exit 1; }
	podman build --quiet --no-cache --platform linux/$(ARCH) --timestamp $(SOURCE_DATE_EPOCH) \
	  --build-arg OS=linux --build-arg ARCH=$(ARCH) --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) \
	  -t $(IMAGE) .
	@echo "image: $(IMAGE)"

## release: dist/ with a tarball per platform (binary, LICENSE, README.md), a
## CycloneDX SBOM of the module graph per platform (cyclonedx-gomod, run on a
## clean clone of HEAD because it reads the version from git), the image as an
## OCI archive and sha256sums.txt. Reproducible: `make release-check`.
PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
CYCLONEDX_VERSION := v1.10.0
# -trimpath: the tool's own hash is recorded in every SBOM, so it must not
# depend on where the module cache is.
CYCLONEDX := $(TOOLS)/cyclonedx-gomod-$(CYCLONEDX_VERSION)-$(GOTOOLCHAIN)
$(CYCLONEDX):
	@echo "installing cyclonedx-gomod $(CYCLONEDX_VERSION) into $(TOOLS) (first run only)"
	@mkdir -p $(TOOLS)/tmp-cdx && GOBIN=$(TOOLS)/tmp-cdx $(GO) install -trimpath github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$(CYCLONEDX_VERSION) && mv $(TOOLS)/tmp-cdx/cyclonedx-gomod $@

LINUX_ARCHES = $(patsubst linux/%,%,$(filter linux/%,$(PLATFORMS)))
release: $(foreach p,$(PLATFORMS),.build/$(subst /,-,$(p))/forge-exporter) $(CYCLONEDX)
	@case "$(VERSION)" in *-dirty) echo "release: WARNING: uncommitted changes; the SBOMs describe HEAD ($(REVISION)), not the working tree";; esac
	@case "$(VERSION)" in v[0-9]*.*.*[0-9]) app=$$(sed -n 's/^appVersion: *"*\([^"]*\)"*/\1/p' $(CHART)/Chart.yaml); \
	  [ "$$app" = "$(VERSION:v%=%)" ] || { echo "release: $(VERSION) is a release tag but $(CHART)/Chart.yaml has appVersion $$app"; exit 1; };; esac
	rm -rf .build/sbom .build/sbom-src .build/oci
	mkdir -p .build/sbom .build/oci
	git clone -q --no-checkout . .build/sbom-src && git -C .build/sbom-src checkout -q --detach $(REVISION)
	@set -e; for p in $(PLATFORMS); do os=$${p%/*}; arch=$${p#*/}; \
	  echo "sbom: $$os/$$arch"; \
	  ( cd .build/sbom-src && CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(CYCLONEDX) app -json -licenses -noserial -notimestamp \
	      -main cmd/forge-exporter -output ../sbom/forge-exporter-$(VERSION).$$os-$$arch.cdx.json . 2>../sbom-$$os-$$arch.log ) \
	    || { cat .build/sbom-$$os-$$arch.log; exit 1; }; \
	done
	@# One image per Linux platform (no RUN step, so no emulation: podman only
	@# records the platform), saved as a layout each and merged by hack/release
	@# into one multi-platform image (an OCI image index).
	@set -e; for a in $(LINUX_ARCHES); do \
	  $(MAKE) --no-print-directory image ARCH=$$a IMAGE=forge-exporter:$(VERSION)-linux-$$a VERSION=$(VERSION) REVISION=$(REVISION); \
	  podman save --quiet --format oci-dir -o .build/oci/linux-$$a forge-exporter:$(VERSION)-linux-$$a; \
	done
	$(GO) run ./hack/release -version $(VERSION) -epoch $(SOURCE_DATE_EPOCH) -build .build -out dist -platforms "$(PLATFORMS)" \
	  -sbom .build/sbom -oci "$(foreach a,$(LINUX_ARCHES),linux/$(a)=.build/oci/linux-$(a))" \
	  -oci-ref forge-exporter:$(VERSION) -oci-name forge-exporter-$(VERSION).oci.tar

## release-check: `make release` twice, in two fresh clones of HEAD, the second
## later and with another umask, time zone and user; every file in the two
## dist/ directories must be byte-identical (e2e/release_test.go).
## RELEASE_CHECK_PLATFORMS narrows the platforms; RELEASE_CHECK_COLD=1 gives the
## second build an empty Go build cache.
release-check: $(foreach p,$(PLATFORMS),.build/$(subst /,-,$(p))/forge-exporter)
	RELEASE_CHECK_PLATFORMS="$(RELEASE_CHECK_PLATFORMS)" $(GO) test -count=1 -v -timeout 30m -run '^TestReleaseReproducible$$' ./e2e/

## image-test: build the image and run it in podman, read-only, as 65532, with
## the example config and data mounted read-only; scrape it from the host and
## check build info, collectors, image config and that nothing is writable
## (e2e/image_test.go; about a minute warm).
image-test:
	$(GO) test -count=1 -v -run '^TestImage$$' ./e2e/

clean:
	rm -rf bin .build dist
