# sqlsession — developer commands. `make test` is what CI runs (via .ci/run).
GO      ?= go
TOOLS    = $(GO) tool -modfile=$(CURDIR)/tools/go.mod
SQLC     = $(TOOLS) sqlc
STATICCHECK = $(TOOLS) staticcheck
MODULES  = . integration
RACE    ?= -race
BENCHTIME ?= 1s
BENCHCOUNT ?= 5

.PHONY: all generate check-generated lint test test-root test-integration fuzz bench demo screenshots node-deps tidy

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

## node-deps: install the npm packages the express-compatibility tests run.
node-deps:
	@if [ -f sessions/testdata/express/package.json ]; then \
		cd sessions/testdata/express && npm ci --no-audit --no-fund --loglevel=error; fi

## test: every test of the root module and of the integration module, with -race.
test: test-root test-integration fuzz

test-root: node-deps
	$(GO) test $(RACE) -count=1 ./...

test-integration:
	cd integration && $(GO) test $(RACE) -count=1 ./...

## fuzz: a short, bounded run of the fuzz targets (part of make test).
FUZZTIME ?= 10s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzUnsign$$' -fuzztime $(FUZZTIME) ./sessions/cookiesig
	cd integration && $(GO) test -run '^$$' -fuzz '^FuzzCookie$$' -fuzztime $(FUZZTIME) .

## bench: peer benchmarks on Postgres (see BENCHMARKS.md); needs SQLSESSION_TEST_POSTGRES_DSN.
bench:
	cd integration && $(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(BENCHCOUNT) ./bench | tee bench.out

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
