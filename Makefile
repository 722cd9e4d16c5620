# storefence — see README.md. Every target works on a fresh machine with Go.
GO       ?= go
BIN      := bin/storefence
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
DATE     ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
PLATFORMS := linux/amd64 linux/arm64 windows/amd64 windows/arm64 darwin/amd64 darwin/arm64

export CGO_ENABLED ?= 0

.PHONY: all build test lint cross bench run clean fuzz

all: build

build: ## the binary, stripped, with version stamped
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/storefence

test: ## every test with the race detector (needs cgo for -race)
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

lint: ## go vet and staticcheck (pinned as a tool in go.mod)
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

cross: ## build for every platform storefence supports
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		echo "build $$os/$$arch"; \
		GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/storefence-$$os-$$arch$$ext ./cmd/storefence; \
	done

bench: ## the benchmarks recorded in BENCHMARKS.md
	$(GO) test -run='^$$' -bench=. -benchmem ./...

FUZZTIME ?= 10s
fuzz: ## run every fuzz target for FUZZTIME each
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$f"; $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg; \
		done; \
	done

run: build ## server on SQLite with the example registry, this machine collected into it, the audit; the server stays up
	./scripts/demo.sh

clean:
	rm -rf bin demo
