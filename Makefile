# CronOps developer commands. `make dev` and `make test` are the two that matter; both set up
# a private PostgreSQL and Redis under .cronops/ first (installing Debian packages if needed).

SHELL := /bin/bash
.DEFAULT_GOAL := help

PG_PORT    ?= 15432
REDIS_PORT ?= 16379
PORT       ?= 3001
DEV_DB     ?= cronops

export CRONOPS_PG_PORT := $(PG_PORT)
export CRONOPS_REDIS_PORT := $(REDIS_PORT)

DEV_ENV := APP_ENV=development \
	PORT=$(PORT) \
	DATABASE_URL=postgres://postgres@127.0.0.1:$(PG_PORT)/$(DEV_DB) \
	REDIS_URL=redis://127.0.0.1:$(REDIS_PORT) \
	ALLOW_PRIVATE_TARGETS=true \
	MAIL_DIR=$(CURDIR)/.cronops/mail

# Tests make their own databases (from a template) and Redis prefixes on the same servers,
# so they never touch the development data.
TEST_ENV := TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$(PG_PORT)/postgres \
	TEST_REDIS_URL=redis://127.0.0.1:$(REDIS_PORT) \
	CRONOPS_BIN=$(CURDIR)/target/debug/cronops

# Keep docker/Dockerfile's build step identical to `release` (e2e/tests/deploy.rs checks).
.PHONY: help dev services stop status test bench build release web migrate seed schema lint fmt tools test-deps clean-test-dbs

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

dev: services build ## Start PostgreSQL + Redis, migrate, seed, run API and scheduler (Ctrl-C stops)
	@echo "Dashboard: http://localhost:$(PORT)   GraphiQL: http://localhost:$(PORT)/graphql   health: http://localhost:$(PORT)/health"
	@echo "Log in as demo@cronops.dev / Password123! (admin: admin@cronops.dev / Admin123!)"
	$(DEV_ENV) ./target/debug/cronops dev

services: ## Start (installing if missing) the private PostgreSQL and Redis
	@scripts/services.sh up $(DEV_DB)

stop: ## Stop the PostgreSQL and Redis that `make dev` / `make test` started
	@scripts/services.sh down

status: ## Say whether the private services run
	@scripts/services.sh status

build: tools web ## Build the cronops binary (debug), dashboard included
	cargo build --bin cronops

release: tools web ## Build the optimised cronops binary (what docker/Dockerfile runs)
	cargo build --release --bin cronops

test: services tools test-deps web clean-test-dbs ## Set up services, check format and lints, run every test (nextest)
	cargo build --bin cronops --bin bench
	npm run --prefix web --silent check
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(TEST_ENV) cargo nextest run --workspace --no-fail-fast
	@echo "benchmark harness smoke run (figures not checked):"
	$(TEST_ENV) ./target/debug/bench --smoke all

bench: services tools web clean-test-dbs ## Run every benchmark scenario on release builds and print the table
	cargo build --release --bin cronops --bin bench
	$(TEST_ENV) CRONOPS_BIN=$(CURDIR)/target/release/cronops ./target/release/bench all

migrate: services build ## Apply migrations to the development database
	$(DEV_ENV) ./target/debug/cronops migrate

seed: services build ## Create the demo accounts in the development database
	$(DEV_ENV) ./target/debug/cronops seed

schema: build ## Regenerate schema.graphql from the code
	./target/debug/cronops schema > schema.graphql

lint: web ## cargo fmt --check, clippy with warnings as errors, and the dashboard's type check
	npm run --prefix web --silent check
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt: ## Format the code
	cargo fmt --all

# The dashboard: npm ci when the lockfile changed (npm writes node_modules/.package-lock.json),
# then esbuild into web/dist/, which the binary embeds. It rewrites only changed files.
web/node_modules/.package-lock.json: web/package-lock.json
	@scripts/services.sh node
	npm ci --prefix web --no-audit --no-fund --loglevel=error

web: web/node_modules/.package-lock.json ## Build the dashboard (web/) into web/dist/, which the binary embeds
	npm run --prefix web --silent build

tools: ## Install cargo-nextest when it is missing
	@command -v cargo >/dev/null || { echo "cargo not found: install the Rust toolchain (rustup)"; exit 1; }
	@cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked

test-deps: ## Install Node.js and Chromium (Debian) and the GraphQL over HTTP audit suite (npm ci)
	@scripts/services.sh test-tools
	npm ci --prefix e2e/http-audit --no-audit --no-fund --loglevel=error

# Test databases are dropped by each test; this sweeps any left by a killed run.
clean-test-dbs:
	@psql -h 127.0.0.1 -p $(PG_PORT) -U postgres -d postgres -tAc \
	  "SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE);', datname) FROM pg_database WHERE datname LIKE 'cronops\_test\_%' AND datname NOT LIKE 'cronops\_test\_template\_%'" \
	  | psql -h 127.0.0.1 -p $(PG_PORT) -U postgres -d postgres -q >/dev/null
