# storefence — see README.md. Every target works on a fresh machine with Go.
GO       ?= go
BIN      := bin/storefence
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
DATE     ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
PLATFORMS := linux/amd64 linux/arm64 windows/amd64 windows/arm64 darwin/amd64 darwin/arm64

export CGO_ENABLED ?= 0

.PHONY: all build build-agent test lint cross bench run clean fuzz

all: build

build: ## the binary, stripped, with version stamped
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/storefence

build-agent: ## the agent-only binary for operator machines (collect, agent, preflight, version): no server, databases or registry
	$(GO) build -tags agentonly -trimpath -ldflags '$(LDFLAGS)' -o bin/storefence-agent ./cmd/storefence

test: ## every test with the race detector (needs cgo for -race)
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...
	CGO_ENABLED=1 $(GO) test -race -count=1 -tags agentonly ./cmd/storefence

lint: ## go vet and staticcheck (pinned as a tool in go.mod)
	$(GO) vet ./...
	$(GO) vet -tags agentonly ./cmd/...
	$(GO) tool staticcheck ./...

cross: ## build for every platform storefence supports
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		echo "build $$os/$$arch"; \
		GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/storefence-$$os-$$arch$$ext ./cmd/storefence; \
		GOOS=$$os GOARCH=$$arch $(GO) build -tags agentonly -trimpath -ldflags '$(LDFLAGS)' -o bin/storefence-agent-$$os-$$arch$$ext ./cmd/storefence; \
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

# install: the binary, the systemd units and (only where absent) the example
# configuration; the storefence system user; systemctl daemon-reload when
# systemd runs. DESTDIR stages a package: then no user is created, nothing is
# chgrp-ed and systemd is not touched (a package's postinst does that).
# PREFIX (/usr/local; /usr puts the units in /lib/systemd/system) may be
# changed; the directories and the user below are named by the units and the
# example configuration, so they are fixed.
PREFIX     ?= /usr/local
DESTDIR    ?=
UNITDIR    ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,/etc/systemd/system)
CONFDIR    := /etc/storefence
STATEDIR   := /var/lib/storefence
SF_USER    := storefence
UNITS      := storefence-agent.service storefence-server.service
EXAMPLES   := agent.yaml server.yaml policy.yaml

.PHONY: install uninstall e2e

install: build ## binary, systemd units, example configuration (kept when present), the storefence user
	@set -e; if [ -n "$(DESTDIR)" ]; then \
		echo "DESTDIR set: not creating the $(SF_USER) user, not chgrp-ing $(CONFDIR), not touching systemd"; \
	elif [ "$$(id -u)" != 0 ]; then \
		echo "not root: create the $(SF_USER) system user yourself"; \
	elif ! getent passwd $(SF_USER) >/dev/null; then \
		useradd --system --user-group --home-dir $(STATEDIR) --no-create-home \
			--shell "$$(command -v nologin || echo /bin/false)" --comment storefence $(SF_USER); \
		echo "created system user $(SF_USER)"; \
	fi
	install -d -m 0755 $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(UNITDIR)
	[ -d $(DESTDIR)$(CONFDIR) ] || install -d -m 0755 $(DESTDIR)$(CONFDIR)
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/storefence
	@set -e; for u in $(UNITS); do \
		sed 's|/usr/local/bin/storefence|$(PREFIX)/bin/storefence|g' configs/systemd/$$u > $(DESTDIR)$(UNITDIR)/$$u.tmp; \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.tmp; mv $(DESTDIR)$(UNITDIR)/$$u.tmp $(DESTDIR)$(UNITDIR)/$$u; \
		echo "installed $(DESTDIR)$(UNITDIR)/$$u"; \
	done
	@set -e; grp=; if [ -z "$(DESTDIR)" ] && getent group $(SF_USER) >/dev/null; then grp=$(SF_USER); chgrp $$grp $(CONFDIR); fi; \
	for f in $(EXAMPLES); do \
		if [ -e $(DESTDIR)$(CONFDIR)/$$f ]; then echo "kept $(DESTDIR)$(CONFDIR)/$$f (exists)"; continue; fi; \
		install -m 0640 $${grp:+-g $$grp} configs/$$f $(DESTDIR)$(CONFDIR)/$$f; \
		echo "installed example $(DESTDIR)$(CONFDIR)/$$f"; \
	done
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; echo "systemctl daemon-reload done"; \
	else echo "systemd is not running here (or DESTDIR is set): skipped systemctl daemon-reload"; fi
	@echo "next: edit $(CONFDIR)/agent.yaml, put the agent's token in $(CONFDIR)/agent.token (0640, group $(SF_USER)),"
	@echo "      systemctl enable --now storefence-agent; for a server: server.yaml, stores.yaml, secret, admin.token,"
	@echo "      systemctl enable --now storefence-server"

uninstall: ## remove the binary and the units; configuration, data and the user are kept
	@set -e; if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
		systemctl disable --now $(UNITS) 2>/dev/null || true; \
	fi
	rm -f $(DESTDIR)$(PREFIX)/bin/storefence
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS))
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; echo "systemctl daemon-reload done"; \
	else echo "systemd is not running here (or DESTDIR set): skipped systemctl daemon-reload"; fi
	@echo "kept $(DESTDIR)$(CONFDIR) (configuration, tokens), $(DESTDIR)$(STATEDIR) (database, spool) and the $(SF_USER) user;"
	@echo "remove them by hand if you mean to: rm -r $(CONFDIR) $(STATEDIR); userdel $(SF_USER)"

e2e: build ## end-to-end test: server, DNS echo and agents in network namespaces (root; skips otherwise)
	$(GO) build -trimpath -o bin/dnsecho ./internal/tools/dnsecho
	STOREFENCE_E2E_BIN=$(CURDIR)/bin $(GO) test -tags e2e -count=1 -v -timeout 5m ./e2e/
