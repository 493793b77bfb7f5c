# Tessera: `make run` sets up and serves; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export FLASK_APP := idp

.PHONY: run demo test test-middleware-alone lint format migrate seed serve bench bench-ws clean browser-deps stack stack-down nginx-deps

# The resource-server middleware is its own distribution (middleware/); examples and tests use it.
$(STAMP): pyproject.toml middleware/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet -e './middleware[redis,flask,asgi,websockets,fastapi,test]'
	touch $(STAMP)

migrate: $(STAMP)
	$(BIN)/tessera db upgrade

seed: migrate
	$(BIN)/tessera seed-demo

run: seed
	@echo
	@echo "Tessera is starting on http://127.0.0.1:5000"
	@echo "  sign in:        http://127.0.0.1:5000/login"
	@echo "  your account:   http://127.0.0.1:5000/account"
	@echo "  discovery:      http://127.0.0.1:5000/.well-known/openid-configuration"
	@echo "  demo credentials are printed above on the first run, and kept in instance/demo-credentials.txt"
	@echo
	$(BIN)/tessera serve --host 127.0.0.1 --port 5000

# Tessera, the example market API and WebSocket server together; Ctrl-C stops all three.
demo: seed
	$(BIN)/python -m examples.run_demo

test: $(STAMP) browser-deps nginx-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Debian's chromium for tests/browser (Playwright drives it; no browser download). Without apt
# the browser tests skip with the reason, except under CI=true, where this target fails instead.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  (echo "browser-deps: could not install chromium (the browser tests skip; under CI=true they fail)" >&2; [ -z "$$CI" ])

# The middleware distribution alone (middleware/test-alone.sh): its wheel in a fresh venv with
# only its extras, none of the identity provider, running middleware/tests.
test-middleware-alone:
	middleware/test-alone.sh $(PYTHON)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-output

# Server benchmark (bench/README.md): wrk on loopback against the production server, SQLite then PostgreSQL.
bench: $(STAMP) nginx-deps
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	$(BIN)/python bench/run_bench.py

# The production recipe on this machine (deploy/README.md): nginx with TLS on
# https://127.0.0.1:8443 in front of two `tessera serve` instances, PostgreSQL and Redis.
# STACK_ARGS passes options to deploy/stack.py (e.g. STACK_ARGS="--workers 1 --no-seed").
stack: $(STAMP) nginx-deps
	$(BIN)/python -m deploy.stack start $(STACK_ARGS)

stack-down: $(STAMP)
	$(BIN)/python -m deploy.stack stop

# Debian's nginx for `make stack`, the failover test and the stack benchmark. Its package may
# try to start a system nginx on :80; the stack never uses that one, it runs its own master.
# Without apt the failover test skips with the reason, except under CI=true, where this fails.
nginx-deps:
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null) || \
	  (echo "nginx-deps: could not install nginx (the failover test skips; under CI=true it fails)" >&2; [ -z "$$CI" ])

# WebSocket sessions at scale (bench/README.md): 10,000 signed-in sessions on one `websockets`
# server process, bare and on the middleware; memory per session, sign-in rate, revocation time.
bench-ws: $(STAMP)
	$(BIN)/python bench/ws_bench.py $(BENCH_WS_ARGS)
