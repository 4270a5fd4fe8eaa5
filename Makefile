# posagent — build, test and run.
#
# On a fresh machine: `make run` (the whole terminal on the simulated board)
# and `make test` (the full suite; it installs what it needs itself).

SHELL   := /bin/bash
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BIN     := bin
CMDS    := posagent acqhost possim
GOPATH_BIN := $(shell $(GO) env GOPATH)/bin
STATICCHECK := $(GOPATH_BIN)/staticcheck
FUZZTIME ?= 3s
RUNDIR  ?= run

export CGO_ENABLED := 0

.PHONY: all build cross test test-unit test-fuzz test-qemu bench lint run deps deps-qemu deps-lint deps-apt deps-npm clean soak

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ $(addprefix ./cmd/,$(CMDS))

# Every target platform of the device binary: armv7, arm64, amd64.
cross:
	@mkdir -p $(BIN)
	GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/posagent-linux-arm64 ./cmd/posagent
	GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/posagent-linux-armv7 ./cmd/posagent
	GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/posagent-linux-amd64 ./cmd/posagent
	@ls -l $(BIN)/posagent-linux-*

# The whole suite: unit, integration and system tests, a short run of every
# fuzz target, and the arm64/armv7 builds under qemu-user.
test: deps lint test-unit test-fuzz test-qemu
	@echo "make test: all stages passed"

# POSAGENT_REQUIRE_CROSSCHECK=1: a cross-check against an independent
# implementation (libnfc, gsm-utils, npm esc-pos-encoder and iso_8583) fails
# instead of skipping when its tool is missing.
test-unit: deps-apt deps-npm
	POSAGENT_REQUIRE_CROSSCHECK=1 $(GO) test -count=1 -timeout 12m ./...

test-fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz-short.sh

# Cross builds run under qemu-user: the binary's version and config check,
# and the store and core package tests through go test -exec.
test-qemu: deps-qemu cross
	scripts/qemu-check.sh $(BIN)

bench:
	$(GO) test -count=1 -run '^$$' -bench . -benchmem ./...

soak:
	POSAGENT_SOAK=1 $(GO) test -count=1 -timeout 60m ./...

lint: deps-lint
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags failpoints ./store/...
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags failpoints ./store/...

deps: deps-qemu deps-lint deps-apt deps-npm

# Debian packages the tests use: GNU Unifont (the printer emulator's glyphs),
# zbar-tools (tests scan the emulator's barcodes and QR codes back), and the
# independent implementations the emulators are checked against: libnfc
# (PN532 over UART), gsm-utils and comgt (AT command clients; gcc builds a
# small DTR shim for gsmctl on a pseudo-terminal).
APT_PKGS := unifont zbar-tools libnfc-bin libnfc-examples libnfc-pn53x-examples gsm-utils comgt gcc libc6-dev
deps-apt:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then echo "installing$$missing"; \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; fi

# The npm packages of scripts/crosscheck (independent ESC/POS and ISO 8583
# implementations), from its package-lock.json; node from Debian if missing.
deps-npm:
	@command -v node >/dev/null && command -v npm >/dev/null || { \
	  echo "installing nodejs npm"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm >/dev/null; }
	@test scripts/crosscheck/node_modules/.package-lock.json -nt scripts/crosscheck/package-lock.json || { \
	  echo "npm ci (scripts/crosscheck)"; npm ci --prefix scripts/crosscheck --no-audit --no-fund --loglevel=error; }

# Debian's qemu-user-static, installed when missing (CI runs as root).
deps-qemu:
	@command -v qemu-aarch64-static >/dev/null && command -v qemu-arm-static >/dev/null || { \
	  echo "installing qemu-user-static"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq qemu-user-static >/dev/null; }

deps-lint:
	@test -x $(STATICCHECK) || { echo "installing staticcheck"; CGO_ENABLED=1 $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2; }

# The whole terminal on the simulated board, in the foreground. In another
# terminal: ./bin/posagent pay 12.34 (see README.md).
run: build
	scripts/run-sim.sh $(BIN) $(RUNDIR)

clean:
	rm -rf $(BIN) $(RUNDIR)
