# sqlsession — developer commands. `make test` is what CI runs (via .ci/run).
GO      ?= go
TOOLS    = $(GO) tool -modfile=$(CURDIR)/tools/go.mod
SQLC     = $(TOOLS) sqlc
STATICCHECK = $(TOOLS) staticcheck
MODULES  = . integration
RACE    ?= -race
BENCHTIME ?= 1s
BENCHCOUNT ?= 5

.PHONY: all generate check-generated lint test test-root test-integration fuzz bench demo screenshots node-deps node-test tidy

all: check-generated lint test

## generate: regenerate db/pgdb and db/sqlitedb from db/queries with sqlc.
generate:
	$(SQLC) generate

## check-generated: fail when the committed sqlc output is stale.
check-generated:
	$(SQLC) diff
	$(SQLC) vet
	$(SQLC) compile

## lint: gofmt, go vet and staticcheck on every module.
lint:
	@bad=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$bad" ]; then echo "gofmt would change:"; echo "$$bad"; exit 1; fi
	@for m in $(MODULES); do echo "go vet ($$m)"; (cd $$m && $(GO) vet ./...) || exit 1; done
	@for m in $(MODULES); do echo "staticcheck ($$m)"; (cd $$m && $(STATICCHECK) ./...) || exit 1; done

## node-deps: install the npm packages the Node tests run (express compatibility,
## connect-sqlsession and its integration app). Without npm: one line, and the
## Node tests skip; with SQLSESSION_REQUIRE_NODE=1 (CI) a missing npm fails.
NODE_DIRS = sessions/testdata/express node/connect-sqlsession integration/testdata/nodeapp
node-deps:
	@if ! command -v npm >/dev/null 2>&1; then \
		if [ "$$SQLSESSION_REQUIRE_NODE" = 1 ]; then echo "node-deps: SQLSESSION_REQUIRE_NODE=1 but npm is not installed"; exit 1; fi; \
		echo "node-deps: npm not installed; Node tests will skip"; exit 0; fi; \
	for d in $(NODE_DIRS); do \
		(cd $$d && npm ci --no-audit --no-fund --loglevel=error) || exit 1; done

## node-test: connect-sqlsession's own unit tests (node --test).
node-test: node-deps
	@if ! command -v npm >/dev/null 2>&1; then \
		if [ "$$SQLSESSION_REQUIRE_NODE" = 1 ]; then echo "node-test: SQLSESSION_REQUIRE_NODE=1 but npm is not installed"; exit 1; fi; \
		echo "node-test: npm not installed; skipped"; exit 0; fi; \
	cd node/connect-sqlsession && npm test --silent -- --test-reporter=spec

## test: every test of the root module and of the integration module (with -race),
## and connect-sqlsession's node tests.
test: test-root test-integration node-test fuzz

test-root: node-deps
	$(GO) test $(RACE) -count=1 ./...

test-integration: node-deps
	cd integration && $(GO) test $(RACE) -count=1 ./...

## fuzz: a short, bounded run of the fuzz targets (part of make test).
FUZZTIME ?= 10s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzUnsign$$' -fuzztime $(FUZZTIME) ./sessions/cookiesig
	cd integration && $(GO) test -run '^$$' -fuzz '^FuzzCookie$$' -fuzztime $(FUZZTIME) .

## bench: peer benchmarks on Postgres (see BENCHMARKS.md); needs SQLSESSION_TEST_POSTGRES_DSN.
## (the #11 set, see below; `make bench-deps` installs its express peer)

## bench-deps: the npm packages of the express-session + connect-pg-simple peer of make bench.
BENCH_NODE_DIR = integration/bench/testdata/expressapp
bench-deps:
	@if ! command -v npm >/dev/null 2>&1; then echo "bench-deps: npm not installed; the express peer is skipped"; exit 0; fi; \
	cd $(BENCH_NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error

## (1) every stack over real HTTP, interleaved, medians + targets; (2) the middleware alone
## against a bare handler; (3) sqlc's GetSession vs the lean read. Each prints Markdown or
## benchmark lines (keep them: make bench | tee bench.out). About 8 minutes on 2 CPUs.
## Tune with BENCH_ROUNDS (9), BENCH_SECONDS (1), BENCH_WORKERS (16), BENCH_QUERY_SECONDS (1).
bench: bench-deps
	cd integration && $(GO) test -run '^$$' -bench '^BenchmarkPeers$$' -benchtime 1x -timeout 30m ./bench
	$(GO) test -run '^$$' -bench '^BenchmarkMiddlewareRead$$' -benchmem -count 5 ./sessions
	cd integration && $(GO) test -run '^$$' -bench '^BenchmarkReadQuery$$' -benchtime 1x -timeout 30m ./bench

## demo: build and run examples/basic (SQLite in ./sqlsession-demo.db, or Postgres when DATABASE_URL is set).
demo:
	$(GO) build -o bin/sqlsession-demo ./examples/basic
	./bin/sqlsession-demo

## screenshots: drive the demo in headless Chromium (Debian: apt-get install -y chromium) and save
## PNGs of each page, desktop and 390 px phone, in bin/screenshots/ (examples/basic/browser_test.go).
screenshots:
	SQLSESSION_SCREENSHOTS=$(CURDIR)/bin/screenshots $(GO) test -run '^TestBrowser$$' -count=1 -v ./examples/basic

tidy:
	@for m in . integration tools; do (cd $$m && $(GO) mod tidy) || exit 1; done
