# jitrt — the commands a developer needs. `make help` lists them.
GO ?= go
# The slowest packages first, so that the two cores are not left with one long package at
# the end (go test starts packages in the order given).
PKGS := ./cmd/jitrt ./elements/corps ./api ./kv ./runtime ./wecom ./...

.PHONY: help build demo demo-wasm test test-loaded test-slow bench bench-sync lint fmt clean

# Where make demo serves: make demo ADDR=127.0.0.1:9000
ADDR ?= 127.0.0.1:8787

help:
	@echo "make demo      - build bin/jitrt and run the demo app on ADDR (default $(ADDR))"
	@echo "make test      - run the tests (race detector, -short)"
	@echo "make test-loaded - make test while two busy processes hold the cores"
	@echo "make test-slow - run every test, the slow ones too (kills, soaks, replicas, every-byte cuts)"
	@echo "make bench     - run the benchmarks and print their figures"
	@echo "make bench-sync - sync 100,000 and 1,000,000 members as a user does (WeCom; DingTalk, Feishu at 100,000), beside each fetch floor; 1,000,000 under WeCom's call limit (about 16 min on 2 cores)"
	@echo "make demo-wasm - rebuild the demo's Go-in-WebAssembly Type (apps/demo/corps/CheckedCorp/index.wasm)"
	@echo "make build     - build bin/jitrt"
	@echo "make lint      - gofmt and go vet"

# Static (CGO_ENABLED=0: DNS and user lookups in Go, no libc to load): a jitrt exec starts
# about 5 ms sooner than the cgo build.
build:
	CGO_ENABLED=0 $(GO) build -o bin/jitrt ./cmd/jitrt

# Built, not go run: the commands the demo prints (bin/jitrt wecom-sim ctl …) work as written.
demo: build
	bin/jitrt run apps/demo --addr $(ADDR)

# The demo's Type written in Go, compiled to WebAssembly (the built file is committed).
demo-wasm:
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -ldflags=-s -o apps/demo/corps/CheckedCorp/index.wasm ./apps/demo/corps/CheckedCorp/guest

# The race detector sleeps a second when each test process exits, to catch a late report:
# 50 ms is enough for that, and saves a second per package and per process a test spawns.
RACE_ENV := GORACE="atexit_sleep_ms=50 $(GORACE)"

test:
	$(RACE_ENV) $(GO) test -race -short -count=1 -timeout 10m $(PKGS)

# The same tests while two busy processes hold the cores, as on a shared CI runner.
test-loaded:
	bash .ci/busy $(MAKE) test

test-slow:
	$(RACE_ENV) $(GO) test -race -count=1 -timeout 30m $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m $(PKGS)

# Each step of a sync in a fresh jitrt exec, beside the plain fetch floor of the same run.
bench-sync:
	$(GO) test -run '^$$' -bench 'SyncAsAUserRunsIt' -benchtime 1x -timeout 60m ./cmd/jitrt

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin apps/demo/.jitrt
