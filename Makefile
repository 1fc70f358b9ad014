# sqlsession — developer commands. `make test` is what CI runs (via .ci/run).
GO      ?= go
# The dev tools are pinned in tools/go.mod, outside go.work (go tool
# -modfile does not work in workspace mode), and built into bin/tools.
TOOLS    = GOWORK=off $(GO) tool -modfile=$(CURDIR)/tools/go.mod
SQLC     = $(TOOLS) sqlc
STATICCHECK = $(CURDIR)/bin/tools/staticcheck
# Every Go module of the repository; go.work joins them for development.
# The root module is what a service imports; sqlitestore, sess-gc and the
# examples have their own go.mod so that their SQLite driver never reaches it.
MODULES  = . sessions/sqlitestore cmd/sess-gc examples integration
PUBLISHED = . sessions/sqlitestore cmd/sess-gc examples
RACE    ?= -race
BENCHTIME ?= 1s
BENCHCOUNT ?= 5

.PHONY: all generate check-generated check-sizes lint test test-quick test-modules bench-smoke test-go-min test-citus deps-check fuzz fuzz-all bench bench-scale demo screenshots node-deps node-test tidy $(STATICCHECK)

all: check-generated lint test

## generate: regenerate internal/pgdb and internal/sqlitedb from db/queries with sqlc.
generate:
	$(SQLC) generate

## check-generated: fail when the committed sqlc output is stale.
check-generated:
	$(SQLC) diff
	$(SQLC) vet
	$(SQLC) compile

## lint: no tracked file over 1 MB (a built binary, a dump), gofmt, go vet and
## staticcheck on every module; doccheck (internal/doccheck): no exported name
## without a doc comment in the published modules (generated code aside).
MAX_TRACKED_BYTES ?= 1048576
lint: check-sizes $(STATICCHECK)
	@bad=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$bad" ]; then echo "gofmt would change:"; echo "$$bad"; exit 1; fi
	@if grep -l '^replace' $(PUBLISHED:%=%/go.mod); then echo "published modules must not use replace (go install @latest refuses them): use go.work"; exit 1; fi
	@for m in $(MODULES); do echo "go vet ($$m)"; (cd $$m && $(GO) vet ./...) || exit 1; done
	@for m in $(MODULES); do echo "staticcheck ($$m)"; (cd $$m && $(STATICCHECK) ./...) || exit 1; done
	@echo "doccheck ($(PUBLISHED) and internal/): every exported name has a doc comment"; \
	$(GO) run ./internal/doccheck $(PUBLISHED)

## check-sizes: fail when a tracked file is over MAX_TRACKED_BYTES (1 MB): it
## would go into every module zip that `go install …@latest` downloads.
check-sizes:
	@big=$$(git ls-files -z | xargs -0 -r stat -c '%s %n' 2>/dev/null | awk -v max=$(MAX_TRACKED_BYTES) '$$1 > max'); \
	if [ -n "$$big" ]; then echo "tracked files over $(MAX_TRACKED_BYTES) bytes (untrack them, add them to .gitignore):"; echo "$$big"; exit 1; fi

$(STATICCHECK):
	@cd tools && GOWORK=off $(GO) build -o $(CURDIR)/bin/tools/ honnef.co/go/tools/cmd/staticcheck

## node-deps: install the npm packages the Node tests run (express compatibility,
##   connect-sqlsession and its integration app). Without Node.js/npm it prints
##   one line and those tests skip, unless SQLSESSION_REQUIRE_NODE=1 (CI), which
##   makes it an error.
NODE_DIRS = sessions/testdata/express node/connect-sqlsession integration/testdata/nodeapp
node-deps:
	@if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then \
		if [ "$$SQLSESSION_REQUIRE_NODE" = 1 ]; then \
			echo "node-deps: Node.js and npm are required (SQLSESSION_REQUIRE_NODE=1) but not found"; exit 1; fi; \
		echo "make: express-compatibility and Node store tests skipped: Node.js/npm not found (install Node.js 20+ to run them; CI requires them)"; \
		[ -z "$$SQLSESSION_SKIP_REPORT" ] || printf 'Node\tNode.js/npm not found (install Node.js 20+; CI requires them)\n' >> "$$SQLSESSION_SKIP_REPORT"; \
	else for d in $(NODE_DIRS); do \
		(cd $$d && npm ci --no-audit --no-fund --loglevel=error) || exit 1; done; fi

## node-test: connect-sqlsession's own unit tests (node --test).
node-test: node-deps
	@if command -v npm >/dev/null 2>&1; then \
		cd node/connect-sqlsession && npm test --silent -- --test-reporter=spec; fi

## test: every test of every module (see MODULES), with -race, connect-sqlsession's
## node tests, a short fuzz run, and every in-memory benchmark once (bench-smoke).
## It ends with one line per group of tests that
## did not run (no Postgres, PgBouncer, Node, …: see internal/testskip) and, when
## SQLSESSION_TEST_POSTGRES_DSN is set and psql is installed, the peak number of
## connections the run held on that server (.ci/pgpeak; at most PG_MAX_CONNS).
test:
	@$(TEST_START); status=0; \
	$(MAKE) --no-print-directory test-modules node-test fuzz bench-smoke || status=$$?; \
	$(TEST_END); exit $$status

## bench-smoke: the benchmarks that need no database, one iteration each, so that a
## broken benchmark fails make test instead of the next make bench.
bench-smoke:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./sessions ./internal/jsonobj

## test-quick: the same go tests without -race, without fuzzing and without the
## Node store's unit tests: a check while working (the same summary at the end).
test-quick:
	@$(TEST_START); status=0; \
	$(MAKE) --no-print-directory test-modules RACE= || status=$$?; \
	$(TEST_END); exit $$status

# Packages of one module run one at a time when they use the test server
# (TEST_P=1 keeps a run under PG_MAX_CONNS connections on a shared server;
# `make test TEST_P=2` is faster on an idle one).
TEST_P ?= 1
test-modules: node-deps
	@for m in $(MODULES); do echo "go test ($$m)"; (cd $$m && $(GO) test $(RACE) -p $(TEST_P) -count=1 ./...) || exit 1; done

# What make test did not test: tests that skip for a missing component append
# "group<TAB>reason" to $(SKIP_REPORT) (internal/testskip); TEST_END prints one
# line per group. PGAPPNAME names this run's connections for .ci/pgpeak.
SKIP_REPORT  = $(CURDIR)/bin/test-skipped.tsv
PG_PEAK      = $(CURDIR)/bin/test-pg-peak
PG_MAX_CONNS ?= 40
export SQLSESSION_SKIP_REPORT = $(SKIP_REPORT)
ifndef PGAPPNAME
PGAPPNAME := sqlsession-test-$(shell od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
endif
export PGAPPNAME
define TEST_START
mkdir -p $(CURDIR)/bin; : > $(SKIP_REPORT); rm -f $(PG_PEAK); start=$$(date +%s); peak_pid=; \
if [ -n "$$SQLSESSION_TEST_POSTGRES_DSN" ] && command -v psql >/dev/null 2>&1; then \
	.ci/pgpeak "$$SQLSESSION_TEST_POSTGRES_DSN" "$(PGAPPNAME)" $(PG_PEAK) & peak_pid=$$!; fi
endef
define TEST_END
if [ -n "$$peak_pid" ]; then kill $$peak_pid 2>/dev/null; wait $$peak_pid 2>/dev/null; fi; \
echo "== $@ took $$(( $$(date +%s) - start ))s"; \
if [ "$$status" != 0 ]; then echo "== FAILED: the modules after the failing one did not run, so the lines below are incomplete"; fi; \
if [ -s $(PG_PEAK) ]; then peak=$$(cat $(PG_PEAK)); \
	echo "== peak connections to the test server: $$peak (limit $(PG_MAX_CONNS))"; \
	if [ "$$peak" -gt $(PG_MAX_CONNS) ]; then echo "== more than PG_MAX_CONNS=$(PG_MAX_CONNS) connections"; status=1; fi; fi; \
if [ -s $(SKIP_REPORT) ]; then \
	awk -F'\t' '!n[$$1]++ { order[++k] = $$1; why[$$1] = $$2 } \
		END { for (i = 1; i <= k; i++) printf "== NOT TESTED: %s (%d skipped): %s\n", order[i], n[order[i]], why[order[i]] }' $(SKIP_REPORT); \
else echo "== every test group ran (Postgres, PgBouncer, Node, …)"; fi
endef

## test-go-min: build and test the root module with the oldest Go it supports
## (its go directive), a toolchain fetched through the module proxy. CI runs it.
GO_MIN ?= go1.25.14
test-go-min: node-deps
	@grep -q "^go $$(echo $(GO_MIN) | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')\." go.mod || { echo "GO_MIN=$(GO_MIN) does not match the go directive in go.mod"; exit 1; }
	GOWORK=off GOTOOLCHAIN=$(GO_MIN) $(GO) version
	GOWORK=off GOTOOLCHAIN=$(GO_MIN) $(GO) vet ./...
	GOWORK=off GOTOOLCHAIN=$(GO_MIN) $(GO) test -count=1 ./...

## test-citus: the Postgres tests again on a Citus cluster, http_sessions distributed by
##   id_hash (internal/pgtest distributes it when the server is Citus): the db package, the
##   store contract in every exec mode and the router-plan tests, sess-gc (all of it), and
##   the end-to-end HTTP, PgBouncer and Node+Go tests of integration. Needs
##   SQLSESSION_TEST_CITUS_DSN (a coordinator; .ci/run starts one with
##   ../shared/citus/cluster.sh); without it prints one line, or fails when
##   SQLSESSION_REQUIRE_CITUS=1 (CI). No -race: the race detector runs on plain Postgres.
CITUS_INTEGRATION = TestEndToEnd|TestNoLostUpdates|TestExecModesHTTP|TestNode.*|TestRevocationRacesOnRealStores|TestSizeLimitConcurrentRequests|TestValuesStoredAsChecked|TestHostileValues|TestHostileUserIDs|TestBouncer|TestGooseInterop|TestRevocationDuringRotation|TestFailedRotationKeepsTheSession|TestLifetimeChangesAreKept|TestPassiveRequestUndoesNothing|TestRotationGraceAndReuse|TestAnonymousRetiredIDIsHarmless|TestParallelRequestsDuringRotation|TestRenewAfter|TestRequireRecentAuth|TestAtomicUpdate.*|TestEncryptedValues.*
test-citus: node-deps
	@if [ -z "$$SQLSESSION_TEST_CITUS_DSN" ]; then \
		if [ "$$SQLSESSION_REQUIRE_CITUS" = 1 ]; then echo "test-citus: SQLSESSION_TEST_CITUS_DSN is required (SQLSESSION_REQUIRE_CITUS=1)"; exit 1; fi; \
		echo "make: Citus tests skipped: set SQLSESSION_TEST_CITUS_DSN (../shared/citus/cluster.sh start prints one)"; exit 0; fi; \
	export SQLSESSION_TEST_POSTGRES_DSN="$$SQLSESSION_TEST_CITUS_DSN"; \
	echo "go test on Citus (db, sessions/pgstore)" && $(GO) test -count=1 -skip '^(TestContract|TestDistributeWithoutCitus)$$' ./db ./sessions/pgstore && \
	echo "go test on Citus (cmd/sess-gc)" && (cd cmd/sess-gc && $(GO) test -count=1 .) && \
	echo "go test on Citus (integration)" && (cd integration && $(GO) test -count=1 -run '^($(CITUS_INTEGRATION))$$' .)

## deps-check: what a Postgres service downloads, with an empty module cache (also part of make test).
deps-check:
	cd integration && $(GO) test -count=1 -run '^TestPostgresServiceDownloads$$' -v .

## fuzz: a short, bounded run of the fuzz targets of the small packages (part of
## make test): FuzzUnsign (cookie signatures) and the three of package sessions, which
## share one instrumented build. Bounded by executions, not time: a time bound makes
## the fuzzing coordinator fail with "context deadline exceeded" on a loaded machine.
## The seed corpora of every fuzz target, integration's FuzzCookie and FuzzSet
## included, run in make test's plain go test; fuzz-all fuzzes those too (the
## integration package's instrumented build, with pgx and SQLite, takes minutes).
FUZZN ?= 200000x
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzUnsign$$' -fuzztime $(FUZZN) ./sessions/cookiesig
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZN) ./sessions
	$(GO) test -run '^$$' -fuzz '^FuzzStoredMaxAge$$' -fuzztime $(FUZZN) ./sessions
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeValue$$' -fuzztime $(FUZZN) ./sessions
	$(GO) test -run '^$$' -fuzz '^FuzzAgreesWithEncodingJSON$$' -fuzztime $(FUZZN) ./internal/jsonobj

## fuzz-all: fuzz plus integration's FuzzCookie and FuzzSet (end to end, on SQLite and Postgres).
fuzz-all: fuzz
	cd integration && $(GO) test -run '^$$' -fuzz '^FuzzCookie$$' -fuzztime 20000x .
	cd integration && $(GO) test -run '^$$' -fuzz '^FuzzSet$$' -fuzztime 2000x .

## bench: peer benchmarks on Postgres (see BENCHMARKS.md); needs SQLSESSION_TEST_POSTGRES_DSN.
## (the #21 targets, see below; `make bench-deps` installs its express peer)

## bench-deps: the npm packages of the express-session + connect-pg-simple peer of make bench.
BENCH_NODE_DIR = integration/bench/testdata/expressapp
bench-deps:
	@if ! command -v npm >/dev/null 2>&1; then echo "bench-deps: npm not installed; the express peer is skipped"; exit 0; fi; \
	cd $(BENCH_NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error

## (1) every stack over real HTTP, interleaved, medians + targets; (2) the middleware alone
## against a bare handler (read, login, write); (3) sqlc's GetSession vs the lean read;
## (4) the Postgres CPU of each login, read and write statement against the ceiling's, one at
## a time; (5) the same for the login and the write on the table with each part of its
## schema taken away. Each prints Markdown or
## benchmark lines (keep them: make bench | tee bench.out). About 10 minutes on 2 CPUs.
## Tune with BENCH_ROUNDS (9), BENCH_SECONDS (1), BENCH_WORKERS (16), BENCH_QUERY_SECONDS (1),
## BENCH_STATEMENTS (2000).
bench: bench-deps
	cd integration && $(GO) test -run '^$$' -bench '^BenchmarkPeers$$' -benchtime 1x -timeout 30m ./bench
	$(GO) test -run '^$$' -bench '^BenchmarkMiddleware(Read|Write)$$' -benchmem -count 5 ./sessions
	cd integration && $(GO) test -run '^$$' -bench '^BenchmarkReadQuery$$' -benchtime 1x -timeout 30m ./bench
	cd integration && $(GO) test -run '^$$' -bench '^BenchmarkStatementCPU$$' -benchtime 1x -timeout 30m ./bench
	cd integration && $(GO) test -run '^$$' -bench '^BenchmarkSchemaCost$$' -benchtime 1x -timeout 30m ./bench

## bench-scale: read, write and new-session latency and throughput through sqlsession + pgstore
## over HTTP on tables of 10k, 1M and 10M seeded sessions (BenchmarkScaleCurve, see BENCHMARKS.md
## "Scale curve"); needs SQLSESSION_TEST_POSTGRES_DSN and ~8 GB free on the server (10M rows are
## ~5 GB of table, indexes and WAL). About 15 minutes on 2 CPUs, a third of it seeding. Pick sizes
## with BENCH_SCALE_ROWS=10000,1000000; BENCH_LOCK=/path/to/file waits for an flock on it after
## seeding, so benchmarks sharing a machine never measure at the same time. Tune with BENCH_ROUNDS (3),
## BENCH_SECONDS (5), BENCH_WARMUP_SECONDS (2), BENCH_WORKERS (16), BENCH_SEED_WORKERS (2).
bench-scale:
	cd integration && $(GO) test -run '^$$' -bench '^BenchmarkScaleCurve$$' -benchtime 1x -timeout 2h ./bench

## demo: build and run examples/basic (SQLite in ./sqlsession-demo.db, or Postgres when DATABASE_URL is set).
demo:
	cd examples && $(GO) build -o $(CURDIR)/bin/sqlsession-demo ./basic
	./bin/sqlsession-demo

## screenshots: drive the demo in headless Chromium (Debian: apt-get install -y chromium) and save
## PNGs of each page, desktop and 390 px phone, in bin/screenshots/ (examples/basic/browser_test.go).
screenshots:
	cd examples && SQLSESSION_SCREENSHOTS=$(CURDIR)/bin/screenshots $(GO) test -run '^TestBrowser$$' -count=1 -v ./basic

## tidy: go mod tidy in every module (see .ci/tidy for why it is not a loop).
tidy:
	.ci/tidy
