# make run   set up and start the whole stack on http://127.0.0.1:$(PORT); Ctrl-C stops it
# make test  the same on a throwaway cluster and port, then every test
SHELL := /bin/bash
PORT ?= 8080
TEST_PORT ?= 18080
DATA := $(CURDIR)/.data
# The Swift runtime and Foundation linked in statically: a worker maps 6 MB fewer pages of
# shared libraries (README, "RSS"). Tests link them dynamically, as XCTest needs, in a tree
# of their own so that neither build undoes the other.
SWIFT_BUILD := swift build -c release --static-swift-stdlib
PYTHON := PYTHONPATH=$(DATA)/py python3

.PHONY: run test build deps unit e2e stop reload format lint clean

deps:
	@scripts/stack.sh deps

build: deps
	$(SWIFT_BUILD)

run: build
	@trap 'scripts/stack.sh down $(DATA)/run; exit 0' INT TERM EXIT; \
	scripts/stack.sh up $(DATA)/run $(PORT); \
	cp "$$(scripts/stack.sh home $(DATA)/run)/billing.pid" $(DATA)/billing.pid; \
	key=$$(.build/release/billing api-key create --name "make run" --quiet \
		--database-url "$$(scripts/stack.sh app-url $(DATA)/run)"); \
	echo; \
	echo "Billing API:  http://127.0.0.1:$(PORT)/"; \
	echo "Swagger UI:   http://127.0.0.1:$(PORT)/docs/"; \
	echo "Dashboard:    http://127.0.0.1:$(PORT)/dashboard/"; \
	echo "OpenAPI:      http://127.0.0.1:$(PORT)/openapi.yaml"; \
	echo "Health:       http://127.0.0.1:$(PORT)/health/ready"; \
	echo "Pool PID:     $$(head -n 1 $(DATA)/billing.pid) (.data/billing.pid)"; \
	echo "API key: $$key"; \
	echo "Press Ctrl-C to stop."; \
	while kill -0 $$(head -n 1 $(DATA)/billing.pid) 2>/dev/null; do sleep 1; done

stop:
	@scripts/stack.sh down $(DATA)/run

reload:
	@.build/release/billing reload --pid-file $(DATA)/billing.pid

# Unit tests, and the API and SQL tested in process against a throwaway PostgreSQL.
unit: build
	@dir=$$(mktemp -d $(DATA)/unit-XXXXXX); \
	trap "KEEP_DATA=0 scripts/stack.sh down $$dir; rm -rf $$dir" EXIT; \
	scripts/stack.sh db $$dir >/dev/null && \
	DATABASE_URL="$$(scripts/stack.sh app-url $$dir)" \
	swift test -c release --scratch-path .build/tests

test: lint build unit e2e

# The stack's own webhook sender is off: the webhook tests start the senders they need.
e2e: build
	@dir=$$(mktemp -d $(DATA)/test-XXXXXX); \
	trap "KEEP_DATA=0 scripts/stack.sh down $$dir; rm -rf $$dir" EXIT; \
	BILLING_RUN_INTERVAL=0 WEBHOOK_SENDER=0 scripts/stack.sh up $$dir $(TEST_PORT) && \
	BASE_URL=http://127.0.0.1:$(TEST_PORT) STACK_DIR=$$dir DATABASE_URL="$$(scripts/stack.sh url $$dir)" \
	APP_DATABASE_URL="$$(scripts/stack.sh app-url $$dir)" \
	BILLING_BIN=$(CURDIR)/.build/release/billing REPO_ROOT=$(CURDIR) \
	$(PYTHON) -m pytest -q -p no:cacheprovider Tests/e2e $(PYTEST_ARGS)

format:
	swift format --in-place --recursive Sources Tests Package.swift

# The code as `make format` leaves it: any difference fails the tests.
lint:
	swift format lint --strict --recursive Sources Tests Package.swift

clean:
	rm -rf .build
