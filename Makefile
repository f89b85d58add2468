# tsstream — the two commands a newcomer needs are `make run` and `make test`.

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/tsstream/tsstream/internal/cli.Version=$(VERSION)
GO      ?= go

.PHONY: build run test test-go deps assets bench fuzz vet clean netns-test

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/tsstream ./cmd/tsstream

# Runs the server with its zero-config defaults (see README).
run: build
	./bin/tsstream

# The whole test suite: installs what the tests need when missing (ffmpeg),
# then unit, integration, hostile-input and end-to-end tests.
test: deps test-go

test-go:
	$(GO) vet ./...
	$(GO) test -race -timeout 25m ./...

deps:
	bash scripts/deps.sh

# Copies the browser player libraries (pinned in web/package-lock.json) into
# internal/web/static/vendor, with their licences. The copies are committed,
# so that go build needs no npm; internal/web's tests check them.
assets:
	cd web && npm ci --no-audit --no-fund && node copy-assets.mjs

# Benchmarks: Go micro-benchmarks of the hot paths, then the load harness:
# tsstream and a minimal reference fan-out side by side (real-time TS on
# loopback), viewer counts over WebSocket with a plot, HTTP-TS and TCP,
# late joiners and slow viewers, time to first frame, then delay per hop and
# on-demand set-up over a chain of six nodes (-chain). JSON lines and
# the plot go to bin/. Not part of `make test`: about 20 minutes.
BENCH_VIEWERS ?= 10,200,1000,2000,3000
BENCH_RUNS    ?= 3
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...
	$(GO) build -o bin/tsbench ./cmd/tsbench
	ulimit -n 20000 2>/dev/null; bin/tsbench -bin bin/tsstream -viewers $(BENCH_VIEWERS) -runs $(BENCH_RUNS) \
	  -duration 10s -plot bin/bench.svg > bin/bench.jsonl
	ulimit -n 20000 2>/dev/null; bin/tsbench -bin bin/tsstream -viewers 1000 -runs $(BENCH_RUNS) -duration 10s \
	  -protocol http,tcp >> bin/bench.jsonl
	ulimit -n 20000 2>/dev/null; bin/tsbench -bin bin/tsstream -viewers 1000 -runs $(BENCH_RUNS) -duration 10s \
	  -gop 2s -scenario base,late -timeline bin/bench-timeline.jsonl >> bin/bench.jsonl
	ulimit -n 20000 2>/dev/null; bin/tsbench -bin bin/tsstream -viewers 1000 -runs $(BENCH_RUNS) -duration 20s \
	  -gop 2s -scenario slow -stream-defaults 'ring_age: 3s, max_skips: 1' >> bin/bench.jsonl
	bin/tsbench -bin bin/tsstream -ttff
	bin/tsbench -bin bin/tsstream -chain 6 -duration 10s >> bin/bench.jsonl
	bin/tsbench -bin bin/tsstream -chain 6 -duration 10s -gop 1s >> bin/bench.jsonl

# Two nodes in network namespaces joined by a veth link that is cut with
# `ip link set down` (needs root; skips with a message otherwise). Not part
# of `make test`: it takes about 20 s of real time.
netns-test:
	bash scripts/netns-relay.sh

# Runs each fuzz target for FUZZTIME (default 30s).
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./internal/...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin
