# rapport — the two commands a newcomer needs:
#   make run    start the service on http://localhost:8080
#   make test   run every test against real PostgreSQL and SMTP
#
# Both start a private PostgreSQL under .data/ when DATABASE_URL is not set
# (see .ci/postgres.sh).

SHELL := /bin/bash
GO ?= go
# staticcheck and sqlc are pinned as tool dependencies in go.mod
# (`go tool staticcheck`, `go tool sqlc`): no separate install step.

DB = $$(./.ci/postgres.sh)

.PHONY: run test check bench bench-dkim profile build sqlc sqlc-diff crashtest scale clean-data

# The version and commit `rapport version` prints come from git.
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)

build:
	$(GO) build -ldflags "-X main.version=$(VERSION) -X main.commit=$(COMMIT)" -o bin/rapport ./cmd/rapport

# A SECRET_KEY is generated once into .data/ so links in sent mail keep
# working across restarts of `make run`.
run: build
	@set -euo pipefail; export DATABASE_URL="$(DB)"; \
	mkdir -p .data; [ -s .data/secret_key ] || head -c 48 /dev/urandom | base64 | tr -d '\n/+=' > .data/secret_key; \
	export SECRET_KEY="$${SECRET_KEY:-$$(cat .data/secret_key)}"; \
	export OUTBOX_DIR="$${OUTBOX_DIR:-outbox}"; \
	echo "rapport: database $$DATABASE_URL; outbox $$OUTBOX_DIR"; \
	exec ./bin/rapport serve

# The system tests (crash, outage, throttle: separate processes and timed
# rates) run after the rest, on their own, so other packages' tests do not
# compete with them for the two cores.
test:
	@set -euo pipefail; export DATABASE_URL="$(DB)"; \
	./.ci/browser.sh >&2; \
	$(GO) test -race -count=1 -timeout 30m $$($(GO) list ./... | grep -v /internal/systemtest); \
	$(GO) test -count=1 -timeout 30m ./internal/systemtest/

check:
	@test -z "$$(gofmt -l cmd internal jobs migrations templates)" || { gofmt -l cmd internal jobs migrations templates; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	$(MAKE) sqlc-diff
	$(MAKE) test

# sqlc generates internal/postgres/internal/dbsqlc from internal/postgres/queries.
sqlc:
	cd internal/postgres && $(GO) tool sqlc generate

# sqlc-diff fails when the generated code is not what the queries produce.
sqlc-diff:
	cd internal/postgres && $(GO) tool sqlc diff

# BENCH picks benchmarks by name: `make bench BENCH=ConsolePages` times
# the console's pages alone (BENCH_CONTACTS=… for a smaller database).
BENCH ?= .
bench:
	@set -euo pipefail; export DATABASE_URL="$(DB)"; \
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime 1x -timeout 60m ./internal/bench/...

# The send benchmark with every message DKIM-signed: RSA-2048, then Ed25519
# (RFC 8463), each with the raw blast and the baseline signing too.
bench-dkim:
	@set -euo pipefail; export DATABASE_URL="$(DB)"; \
	for k in rsa ed25519; do \
	  BENCH_DKIM=$$k $(GO) test -run '^$$' -bench SendHundredThousand -benchtime 1x -timeout 60m ./internal/bench/...; \
	done

# A CPU profile of this process during the send benchmark's end-to-end
# phase alone (BENCH_BASELINE=0: no raw blast, no baseline), written to
# send.cpu.prof next to the test binary bench.test; PostgreSQL and the
# sink are separate processes, not in it.
profile:
	@set -euo pipefail; export DATABASE_URL="$(DB)"; \
	BENCH_BASELINE=0 $(GO) test -run '^$$' -bench SendHundredThousand -benchtime 1x -timeout 60m \
	  -cpuprofile send.cpu.prof -o bench.test ./internal/bench/; \
	echo "profile: go tool pprof -top bench.test send.cpu.prof  (or -http=: for the graph)"

clean-data:
	-./.ci/postgres.sh stop
	rm -rf .data outbox

# The system tests alone: worker processes killed mid-send, an SMTP outage,
# global and per-domain rates and unsubscribes racing sends, each against
# separate rapport and smtpsink processes (internal/systemtest).
# scale measures one campaign of 20,000 messages with one and with two
# worker processes against one database (docs/scaling.md); the figures
# are the "scale workers=" lines.
scale:
	@set -euo pipefail; export DATABASE_URL="$(DB)"; \
	SCALE_CONTACTS=$${SCALE_CONTACTS:-20000} $(GO) test -count=1 -v -timeout 30m -run 'TestScaleWorkers' ./internal/systemtest/ | grep -E 'scale workers=|^(---|ok|FAIL)'

crashtest:
	@set -euo pipefail; export DATABASE_URL="$(DB)"; \
	$(GO) test -count=1 -v -timeout 20m -run 'Crash|Outage|Throttle|UnsubscribeRace' ./internal/systemtest/
