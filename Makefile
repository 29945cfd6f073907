# twauth — see README.md. Every target runs on a fresh machine with Go 1.26.

GO      ?= go
BIN     ?= bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# -s -w: no symbol table or DWARF (a third of the binary; panics keep their
# stack traces), as release builds of Go CLIs ship.
LDFLAGS := -s -w -X github.com/twauth/twauth/internal/cli.version=$(VERSION)
# A count, not a duration: go1.26's fuzz coordinator can fail a duration run with a
# spurious "context deadline exceeded" at its end (go.dev/issue/75804, fixed in go1.27).
FUZZTIME ?= 150000x

# Release files take their times from the last commit (reproducible-builds.org).
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
# make dist's GOOS/GOARCH pairs; empty: scripts/dist's own list (linux, darwin,
# windows, freebsd on amd64 and arm64).
PLATFORMS ?=

.PHONY: build install test lint fuzz bench demo man dist clean

# CGO_ENABLED=0: a static binary with Go's own DNS resolver starts about
# 3 ms sooner than one linked to libc (BENCHMARKS.md), and twauth needs no C.
## build: bin/twauth and bin/twauth-dev (the fake X server for demos)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/twauth ./cmd/twauth
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/twauth-dev ./cmd/twauth-dev

## install: twauth into $(go env GOPATH)/bin
install:
	CGO_ENABLED=0 $(GO) install -trimpath -ldflags '$(LDFLAGS)' ./cmd/twauth

## test: every test, with the race detector (Chromium, gnome-keyring, D-Bus and etcd from Debian: .ci/run installs them)
test:
	$(GO) test -race ./...

## lint: gofmt, go vet, staticcheck (a go.mod tool)
lint:
	@out=$$(gofmt -l cmd internal scripts); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

## fuzz: each fuzz target for FUZZTIME (default 150000x: 150 000 inputs, 8-23 s each here)
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzSet$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 100x ./internal/balconfig/
	$(GO) test -run '^$$' -fuzz '^FuzzDelete$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 100x ./internal/balconfig/
	$(GO) test -run '^$$' -fuzz '^FuzzCheck$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 100x ./internal/balconfig/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 100x ./internal/store/
	$(GO) test -run '^$$' -fuzz '^FuzzCallback$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 100x ./internal/loopback/
	$(GO) test -run '^$$' -fuzz '^FuzzParsePasted$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 100x ./internal/app/
	$(GO) test -run '^$$' -fuzz '^FuzzSafe$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 100x ./internal/termtext/

## bench: the Go benchmarks, each for BENCHTIME (see BENCHMARKS.md; ~2 min)
BENCHTIME ?= 1s
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

## demo: a whole login against the fake X server, in your browser or a scripted one
demo: build
	./scripts/demo.sh $(BIN)

## man: man/twauth.1 and a page per command, from the command tree (not committed)
man:
	rm -rf man
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./scripts/genman -version '$(VERSION)' man

## dist: release archives, .debs (linux) and SHA256SUMS in dist/ (see scripts/dist)
dist: man
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./scripts/dist -version '$(VERSION)' -ldflags '$(LDFLAGS)' \
		-man man -out dist $(if $(PLATFORMS),-platforms '$(PLATFORMS)')

clean:
	rm -rf $(BIN) man dist
