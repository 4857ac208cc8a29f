# certflow's entry points. The lead owns the README and .ci/run; these are
# the targets they call.
#
#   make run            the whole demo on this machine (Temporal dev server,
#                       CA simulator, worker, gateway, seeded refunds);
#                       pass runner flags with ARGS, e.g. make run ARGS=-fresh=false
#   make run-production the production topology on this machine without Docker:
#                       the real Temporal server 1.30.1 on a throwaway
#                       PostgreSQL (the compose file's configuration), the
#                       store on that PostgreSQL, two workers, two gateways,
#                       the simulators and the demo; flags with ARGS
#   make temporal       build the pinned Temporal CLI into bin/ if absent
#   make temporal-server
#                       build the pinned Temporal server and temporal-sql-tool
#                       (the compose file's version) into bin/ if absent
#   make test-real-temporal
#                       the e2e refund, fault and crash suites on a real Temporal
#                       server (PostgreSQL persistence + SQL visibility, the
#                       compose file's configuration) instead of the dev server,
#                       two workers and two gateways on the PostgreSQL store,
#                       and make run-production run for real
#   make test           the README's test command (CI runs it): vet, the
#                       workflow determinism check, and every test with the
#                       race detector, the dev-server tests required
#   make vet            go vet ./...
#   make workflowcheck  determinism check of the workflow code
#   make record-histories RELEASE=v0.2.0
#                       record the workflow history corpus of a release into
#                       testdata/histories/$(RELEASE) on a dev server (every
#                       path and waiting point; docs/orchestration.md)
#   make bench          benchmarks
#   make bench-e2e      end-to-end benchmark on its own dev server (docs/performance.md);
#                       flags with ARGS, e.g. make bench-e2e ARGS='-mode waiting -waiting 10000'
#   make bench-e2e-real the same on the real Temporal server 1.30.1 and the
#                       store on PostgreSQL (scripts/with-temporal-server), e.g.
#                       make bench-e2e-real ARGS='-mode throughput -n 300'
#   make images         build the Docker images from the Dockerfile's targets
#                       (needs Docker; IMAGE_TAG=dev by default)
#   make deploy-check   the compose file, Dockerfile, dashboard and go.mod checks
#   make clean          delete the demo state (.run/) and built binaries,
#                       keeping bin/temporal (slow to rebuild)

GO               ?= go
TEMPORAL_VERSION := v1.5.1
BIN              := $(CURDIR)/bin
TEMPORAL         := $(BIN)/temporal
ARGS             ?=
# The CLI build is cached outside the clone, so a fresh clone (CI) builds it
# once per machine.
CACHE            ?= $(HOME)/.cache/certflow
CACHED_TEMPORAL  := $(CACHE)/temporal-$(TEMPORAL_VERSION)
# The real server the compose file runs (temporalio/server:1.30.1), its SQL
# tool and its PostgreSQL schema, for make test-real-temporal.
TEMPORAL_SERVER_VERSION := v1.30.1
TEMPORAL_SERVER  := $(BIN)/temporal-server
TEMPORAL_SQL_TOOL := $(BIN)/temporal-sql-tool
TEMPORAL_SCHEMA  := $(BIN)/temporal-schema
CACHED_SERVER    := $(CACHE)/temporal-server-$(TEMPORAL_SERVER_VERSION)
# The race detector needs a C toolchain; without one the tests run without it.
RACE             ?= $(shell command -v $${CC:-cc} >/dev/null 2>&1 && echo -race)

.PHONY: run run-production bench-e2e-real temporal temporal-server test-real-temporal test vet workflowcheck record-histories bench bench-e2e clean images deploy-check

# Built, then run (not `go run`): `go run` exits 1 when Ctrl-C reaches it,
# so make would report a failure after a clean stop.
run: $(TEMPORAL)
	$(GO) build -o $(BIN)/certflow-dev ./cmd/certflow-dev
	$(BIN)/certflow-dev -temporal $(TEMPORAL) $(ARGS)

# The production topology (docs/operations.md, "The production topology on
# one machine"): scripts/with-temporal-server starts PostgreSQL and the real
# server, then the runner starts two workers and two gateways on them. The
# binaries the script uses are named, so that BIN=... works. exec: a SIGTERM
# to make reaches the script, which stops the runner first, then the server
# and PostgreSQL.
WITH_TEMPORAL_SERVER = env TEMPORAL_SERVER_BIN=$(TEMPORAL_SERVER) TEMPORAL_SQL_TOOL=$(TEMPORAL_SQL_TOOL) \
	TEMPORAL_SCHEMA_DIR=$(TEMPORAL_SCHEMA)/postgresql/v12 TEMPORAL_CLI=$(TEMPORAL) scripts/with-temporal-server
run-production: $(TEMPORAL) $(TEMPORAL_SERVER)
	$(GO) build -o $(BIN)/certflow-dev ./cmd/certflow-dev
	exec $(WITH_TEMPORAL_SERVER) sh -c 'exec "$$0" -topology production -temporal-address "$$TEMPORAL_ADDRESS" -db "$$CERTFLOW_TEST_POSTGRES" \
		-bin $(BIN) "$$@"' $(BIN)/certflow-dev $(ARGS)

temporal: $(TEMPORAL)

# go install builds outside the module: the CLI's own go.mod pins its
# dependencies. About five minutes cold, cached afterwards.
$(TEMPORAL):
	@mkdir -p $(BIN) $(CACHE)
	@if [ -x $(CACHED_TEMPORAL) ]; then \
		echo "using the cached Temporal CLI $(CACHED_TEMPORAL)"; cp $(CACHED_TEMPORAL) $@; \
	else \
		echo "building the Temporal CLI $(TEMPORAL_VERSION) into bin/ (a few minutes the first time)"; \
		GOBIN=$(BIN) $(GO) install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_VERSION) && cp $@ $(CACHED_TEMPORAL); \
	fi

temporal-server: $(TEMPORAL_SERVER)

# The server and the SQL tool with go install (about two minutes cold on
# two cores, more when busy), and the PostgreSQL schema from the same module,
# cached together under $(CACHED_SERVER).
$(TEMPORAL_SERVER):
	@mkdir -p $(BIN) $(CACHE)
	@if [ ! -x $(CACHED_SERVER)/temporal-server ]; then \
		echo "building the Temporal server $(TEMPORAL_SERVER_VERSION) and temporal-sql-tool (a few minutes the first time)"; \
		rm -rf $(CACHED_SERVER).tmp && mkdir -p $(CACHED_SERVER).tmp && \
		GOBIN=$(CACHED_SERVER).tmp $(GO) install go.temporal.io/server/cmd/server@$(TEMPORAL_SERVER_VERSION) \
			go.temporal.io/server/cmd/tools/sql@$(TEMPORAL_SERVER_VERSION) && \
		mv $(CACHED_SERVER).tmp/server $(CACHED_SERVER).tmp/temporal-server && \
		mv $(CACHED_SERVER).tmp/sql $(CACHED_SERVER).tmp/temporal-sql-tool && \
		mod=$$($(GO) env GOMODCACHE)/go.temporal.io/server@$(TEMPORAL_SERVER_VERSION) && \
		mkdir -p $(CACHED_SERVER).tmp/schema && cp -R $$mod/schema/postgresql $(CACHED_SERVER).tmp/schema/ && \
		chmod -R u+w $(CACHED_SERVER).tmp && rm -rf $(CACHED_SERVER) && mv $(CACHED_SERVER).tmp $(CACHED_SERVER) || exit 1; \
	else \
		echo "using the cached Temporal server $(CACHED_SERVER)"; \
	fi
	rm -rf $(TEMPORAL_SCHEMA)
	cp -R $(CACHED_SERVER)/schema $(TEMPORAL_SCHEMA)
	# Only the SQL: the module's embed.go would make bin/ a package of ours.
	find $(TEMPORAL_SCHEMA) -name '*.go' -delete
	cp $(CACHED_SERVER)/temporal-sql-tool $(TEMPORAL_SQL_TOOL)
	cp $(CACHED_SERVER)/temporal-server $@

# The suite runs inside a throwaway PostgreSQL cluster (scripts/with-postgres)
# so the store suite and the PostgreSQL tests run on both databases; where
# PostgreSQL cannot be had it says so and runs on SQLite alone, unless
# CERTFLOW_REQUIRE_POSTGRES=1 (CI) makes that an error. The e2e package takes
# minutes on two busy cores with the race detector: 25 minutes per package.
# scripts/ensure-chromium gives the operator pages' browser test Debian's
# Chromium (installed when missing as root or under CERTFLOW_REQUIRE_BROWSER).
# Then the end-to-end suites again on the real Temporal server
# (test-real-temporal, below), so `make test` is all of what CI runs.
test: $(TEMPORAL) vet workflowcheck
	scripts/ensure-chromium
	scripts/with-postgres env CERTFLOW_TEMPORAL_BIN=$(TEMPORAL) CERTFLOW_REQUIRE_E2E=1 \
		$(GO) test $(RACE) -count=1 -timeout 25m -skip '^($(subst $(space),|,$(strip $(REAL_TEMPORAL_ONLY))))$$' ./...
	$(MAKE) test-real-temporal

# The e2e suites on the real server compose runs (Temporal 1.30.1, PostgreSQL
# persistence and SQL visibility; scripts/with-temporal-server, on the
# throwaway cluster of scripts/with-postgres), each test in a namespace of
# its own: the refund, duplicate-callback and four-eyes flows, the CA
# faults, two workers on the PostgreSQL store, the kill -9 test of two
# gateways and two workers on PostgreSQL, then on its own (it kill -9s and
# restarts the server) the crash test, beside the production topology's
# test (make run-production run for real on a server and PostgreSQL of its
# own; it needs the server binaries, so make test's first pass leaves it
# here: REAL_TEMPORAL_ONLY). Not here: the versioning test (needs
# dev-server dynamic config flags), the walkthrough and browser tests (they
# run cmd/certflow-dev, which starts its own dev server).
REAL_TEMPORAL_TESTS := TestRefundIssuedCertificateOverHTTP TestDuplicateCallbackAppliedOnce \
	TestGatewayRefundFourEyesAndCancelThenRetry TestLostCallbackStillPaidOnce TestCASimRestartWithOpenReview \
	TestTwoWorkersOnPostgresRefund200Orders TestEventsSurviveKills
REAL_TEMPORAL_KILLS := TestCrashSafety
REAL_TEMPORAL_ONLY := TestProductionTopology
empty :=
space := $(empty) $(empty)
test-real-temporal: $(TEMPORAL) $(TEMPORAL_SERVER)
	@tests=$$($(GO) test -list . ./e2e/) && for n in $(REAL_TEMPORAL_TESTS) $(REAL_TEMPORAL_KILLS) $(REAL_TEMPORAL_ONLY); do \
		echo "$$tests" | grep -qx "$$n" || { echo "make test-real-temporal: no test $$n in ./e2e/"; exit 1; }; \
	done
	CERTFLOW_TEMPORAL_BIN=$(TEMPORAL) CERTFLOW_REQUIRE_E2E=1 scripts/with-temporal-server sh -c '\
		$(GO) test $(RACE) -count=1 -timeout 20m -run "^($(subst $(space),|,$(strip $(REAL_TEMPORAL_TESTS))))$$" -v ./e2e/ && \
		$(GO) test $(RACE) -count=1 -timeout 15m -run "^($(subst $(space),|,$(strip $(REAL_TEMPORAL_KILLS) $(REAL_TEMPORAL_ONLY))))$$" -v ./e2e/'

vet:
	$(GO) vet ./...

# workflowcheck exits non-zero on a finding; the config only declares
# fmt's printers deterministic (see the file).
workflowcheck:
	$(GO) tool workflowcheck -config workflowcheck.config.yaml ./workflows/...

# The corpus TestReplayHistories replays on every `go test ./workflows/`.
# Without -record the same test writes into a temporary folder and replays
# it (a self-check that `make test` runs).
RELEASE ?=
record-histories: $(TEMPORAL)
	@test -n "$(RELEASE)" || { echo "usage: make record-histories RELEASE=vX.Y.Z"; exit 2; }
	CERTFLOW_TEMPORAL_BIN=$(TEMPORAL) CERTFLOW_REQUIRE_E2E=1 $(GO) test -count=1 -run '^TestRecordHistories$$' ./workflows/ \
		-args -record -release $(RELEASE)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Figures are printed and appended to docs/BENCHMARKS.md; state and logs
# go to .bench/ (emptied first).
bench-e2e: $(TEMPORAL)
	$(GO) build -o $(BIN)/bench-e2e ./cmd/bench-e2e
	$(BIN)/bench-e2e -temporal $(TEMPORAL) $(ARGS)

# bench-e2e on the real server and the store on PostgreSQL: the server's
# process is measured as the dev server's is. exec: see run-production.
bench-e2e-real: $(TEMPORAL) $(TEMPORAL_SERVER)
	$(GO) build -o $(BIN)/bench-e2e ./cmd/bench-e2e
	exec $(WITH_TEMPORAL_SERVER) sh -c 'exec "$$0" -temporal-address "$$TEMPORAL_ADDRESS" \
		-temporal-pid "$$(cat "$$CERTFLOW_TEMPORAL_STATE/server.pid")" -db "$$CERTFLOW_TEST_POSTGRES" "$$@"' $(BIN)/bench-e2e $(ARGS)

clean:
	rm -rf .run .bench $(BIN)/certflow-dev $(BIN)/bench-e2e $(BIN)/certflow-worker $(BIN)/casim

IMAGE_TAG ?= dev
IMAGES    := worker gateway starter casim paysim

images:
	@for t in $(IMAGES); do \
		echo "docker build --target $$t -t certflow/$$t:$(IMAGE_TAG) ."; \
		docker build --target $$t -t certflow/$$t:$(IMAGE_TAG) . || exit 1; \
	done

deploy-check: $(TEMPORAL)
	CERTFLOW_TEMPORAL_BIN=$(TEMPORAL) CERTFLOW_REQUIRE_E2E=1 $(GO) test -count=1 ./deploy/
