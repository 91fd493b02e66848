# simcore: the two commands that matter are `make run` and `make test`.
SHELL := /bin/bash
GO    ?= $(shell command -v go || echo /usr/local/go/bin/go)
ENV   := set -a && . .run/env && set +a &&

.PHONY: all build run test fuzz services services-down services-status bench bench-ingest bench-portal vet clean

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

## fuzz: the parsers of hostile input, FUZZTIME each (go test -fuzz takes one target at a time)
FUZZTIME ?= 8s
FUZZ_TARGETS := ingest/ber:FuzzDecode ingest/radius:FuzzPacket ingest:FuzzCSVParse ingest:FuzzSplitter ingest:FuzzDecodeFlatNDJSON \
	workers/smpp:FuzzParseReceiptText workers/smpp:FuzzDecodeDeliverSM netsim/hlr:FuzzHandler rating:FuzzParseCatalogue
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$fn ./$$pkg ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./$$pkg/ > /tmp/simcore-fuzz.log 2>&1 || { cat /tmp/simcore-fuzz.log; exit 1; }; \
	done

vet:
	$(GO) vet ./...

## bench: Go benchmarks of every package, then the end-to-end ingest benchmark
bench: services
	$(ENV) $(GO) test -run '^$$' -bench . -benchmem -count 1 ./...
	$(MAKE) bench-ingest

## bench-ingest: 2,000,000 generated records: clickhouse-client against simcore ingest
bench-ingest: services build
	$(ENV) deploy/bench/ingest.sh

## bench-portal: GET /v1/sims/{iccid}/usage under wrk, over the ingest benchmark's data set
bench-portal: services build
	$(ENV) deploy/bench/portal.sh

clean:
	rm -rf bin
