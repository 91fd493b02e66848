# simcore: the two commands that matter are `make run` and `make test`.
SHELL := /bin/bash
GO    ?= $(shell command -v go || echo /usr/local/go/bin/go)
ENV   := set -a && . .run/env && set +a &&

.PHONY: all build run test fuzz services services-down services-status bench bench-ingest bench-portal hostprobe vet clean

all: build

build:
	@$(GO) version >/dev/null 2>&1 || { echo "make: Go 1.26 is needed (not found as '$(GO)')" >&2; exit 1; }
	$(GO) build -o bin/simcore ./cmd/simcore

## services: install (Debian packages) and start PostgreSQL, Redis and ClickHouse on 127.0.0.1 under .run/
services:
	deploy/local/services.sh up

services-down:
	deploy/local/services.sh down

services-status:
	deploy/local/services.sh status

## run: the engine with demo traffic, until Ctrl-C
run: services build
	$(ENV) exec bin/simcore run --demo

## test: vet, each fuzz target briefly, then every test against the real services
test: services
	$(ENV) $(GO) vet ./...
	$(MAKE) fuzz
	$(ENV) $(GO) test -race -count=1 -timeout 30m ./...

## fuzz: the parsers of hostile input, each for an execution budget of about 8 s on the
## development machine (go test -fuzz takes one target at a time). Budgets are counts, not
## durations: a -fuzztime duration races Go's fuzz coordinator (golang/go#75804, fixed in
## Go 1.27) and fails a clean run with "context deadline exceeded" now and then.
## FUZZTIME=30s (or 1000000x) overrides every budget for a longer run. An optional fourth field
## is the minimization budget (default 10000x): 0 for the targets that go through the real
## stores, where each execution is a request and minimizing one new input would take minutes.
FUZZTIME ?=
FUZZ_TARGETS := ingest/ber:FuzzDecode:180000x ingest/radius:FuzzPacket:120000x ingest/radius:FuzzParseClients:50000x ingest:FuzzCSVParse:3000x \
	ingest:FuzzSplitter:40000x ingest:FuzzDecodeFlatNDJSON:75000x workers/smpp:FuzzParseReceiptText:90000x \
	workers/smpp:FuzzDecodeDeliverSM:95000x netsim/hlr:FuzzHandler:80000x rating:FuzzParseCatalogue:10000x \
	netsim/mailsink:FuzzDecode:110000x ingest:FuzzRecordsAccounted:40000x ingest:FuzzMappedParse:30000x \
	workers/gateway:FuzzAnswer:12000x ingest:FuzzPush:20000x:0 portal/http:FuzzRequest:8000x:0
fuzz:
	@set -e; log=$$(mktemp); trap 'rm -f "$$log"' EXIT; all='$(FUZZTIME)'; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; fn=$${rest%%:*}; rest=$${rest#*:}; budget=$${all:-$${rest%%:*}}; \
		min=10000x; [ "$$rest" = "$${rest#*:}" ] || min=$${rest#*:}; \
		echo "fuzz $$fn ./$$pkg ($$budget)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $$budget -fuzzminimizetime $$min ./$$pkg/ > "$$log" 2>&1 || { cat "$$log"; exit 1; }; \
	done

vet:
	$(GO) vet ./...

## bench: Go benchmarks of every package, then the end-to-end ingest benchmark
bench: services hostprobe
	$(ENV) $(GO) test -run '^$$' -bench . -benchmem -count 1 ./...
	$(MAKE) bench-ingest

## bench-ingest: 2,000,000 generated records: clickhouse-client against simcore ingest
bench-ingest: services build hostprobe
	$(ENV) deploy/bench/ingest.sh

## bench-portal: GET /v1/sims/{iccid}/usage under wrk, over the ingest benchmark's data set
bench-portal: services build hostprobe
	$(ENV) deploy/bench/portal.sh

## hostprobe: what this machine can do (CPU, fsync, waking another CPU), to read next to any figure
hostprobe:
	@mkdir -p .run && $(GO) run ./deploy/bench/hostprobe -dir .run

clean:
	rm -rf bin
