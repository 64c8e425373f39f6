# The two commands of the README: `make serve` and `make test`. Both set everything up themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install serve test lint typecheck unit emulator lock clean bench

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

# The virtual environment with the locked dependencies, nothing else (deployments).
install: $(STAMP)

serve: $(STAMP)
	$(BIN)/calsync serve

emulator: $(STAMP)
	$(BIN)/calsync emulator

lint: $(STAMP)
	$(BIN)/ruff check calsync tests bench examples
	$(BIN)/ruff format --check calsync tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy calsync

unit: $(STAMP)
	$(BIN)/pytest -q $(PYTEST_ARGS)

test: lint typecheck unit

# Regenerate the lock after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(BIN)/python -m pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes -o requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
