# The two commands of the README: `make serve` and `make test`. Both set everything up themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALL := tools/install-locked.sh
# The main environment: the locked dependencies, then what builds calsync itself, then calsync (no resolution).
LOCKS := requirements.lock requirements-build.lock
STAMP := $(VENV)/.installed-$(shell cat $(LOCKS) pyproject.toml $(INSTALL) | cksum | cut -d' ' -f1)
# Tools that cannot share the main environment (openapi-python-client pins an older typer), each locked apart.
TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed-$(shell cat requirements-tools.lock $(INSTALL) | cksum | cut -d' ' -f1)

.PHONY: install serve test lint typecheck unit e2e suite emulator lock clean bench browser pooler tools

$(STAMP): $(LOCKS) pyproject.toml $(INSTALL)
	@sh $(INSTALL) $(PYTHON) $(VENV) --project $(LOCKS)
	@rm -f $(VENV)/.installed-*
	@touch $@

# The virtual environment with the locked dependencies, nothing else (deployments).
install: $(STAMP)

$(TOOLS_STAMP): requirements-tools.lock $(INSTALL)
	@sh $(INSTALL) $(PYTHON) $(TOOLS_VENV) requirements-tools.lock
	@rm -f $(TOOLS_VENV)/.installed-*
	@touch $@

# The OpenAPI client generator the generated-client test runs (tests/api/test_generated_client.py; docs/api.md).
tools: $(TOOLS_STAMP)

serve: $(STAMP)
	@echo "calsync: starting (API, workers and the dashboard; migrations apply first)"
	$(BIN)/calsync serve

emulator: $(STAMP)
	$(BIN)/calsync emulator

lint: $(STAMP)
	$(BIN)/ruff check calsync calsync_emulator tests bench examples
	$(BIN)/ruff format --check calsync calsync_emulator tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy calsync calsync_emulator

# The fast tier: pure and SQLite tests, for feedback while working (tests/conftest.py says what is end to end).
unit: $(STAMP)
	$(BIN)/pytest -q -m "not e2e" $(PYTEST_ARGS)

# The end-to-end tier: the PostgreSQL variants, killed processes, browsers, fuzzing, SDKs, installs, chaos.
e2e: $(STAMP) $(TOOLS_STAMP) browser pooler
	$(BIN)/pytest -q -m e2e $(PYTEST_ARGS)

# Both tiers in one run.
suite: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/pytest -q $(PYTEST_ARGS)

# The dashboard's browser tests drive Debian's Chromium (Playwright's own browser download is never used). Without
# it they are skipped, or fail under CALSYNC_REQUIRE_BROWSER=1 (.ci/run), so a failed install shows there.
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q chromium; } \
		|| echo "chromium could not be installed: the browser tests will be skipped (they fail under CALSYNC_REQUIRE_BROWSER=1)"

# calsync through PgBouncer in transaction pooling mode (tests/store/test_pooler.py) needs Debian's pgbouncer; the
# test fails without it, so a failed install shows there.
pooler:
	@test -x /usr/sbin/pgbouncer || command -v pgbouncer >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q pgbouncer; } \
		|| echo "pgbouncer could not be installed: tests/store/test_pooler.py will fail"

test: lint typecheck browser pooler tools suite

# Regenerate the locks after changing dependencies in pyproject.toml or tools/*.in.
# uv is pinned so that a lock made today and one made next month differ only by what was asked.
lock: $(STAMP)
	$(BIN)/python -m pip install -q uv==0.13.9
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes -o requirements.lock
	$(BIN)/uv pip compile tools/build.in -c requirements.lock --generate-hashes -o requirements-build.lock
	$(BIN)/uv pip compile tools/openapi-client.in --generate-hashes -o requirements-tools.lock

clean:
	rm -rf $(VENV) $(TOOLS_VENV) .mypy_cache .ruff_cache .pytest_cache
