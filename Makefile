# `make run` and `make test` are all a fresh clone needs (Python 3.11+ on the PATH).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test lint types unit bench bench-peers clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

run: $(VENV)/.installed
	$(BIN)/fuchsia validate examples/hello.yaml
	$(BIN)/fuchsia run examples/hello.yaml --input '{"name": "Ada"}'
	$(BIN)/fuchsia component install --python-runtime
	$(BIN)/fuchsia run examples/python-steps.yaml --input-file examples/data/order.json
	$(BIN)/python examples/run_components.py

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

types: $(VENV)/.dev
	$(BIN)/mypy

test: lint types
	$(BIN)/pytest -q

bench: $(VENV)/.installed
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/components.py
	$(BIN)/python bench/webhooks.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/validate.py
	$(BIN)/python bench/templates.py

# DBOS side by side with Fuchsia (its own venv: DBOS is not a dependency)
bench-peers: $(VENV)/.installed
	test -x .venv-peers/bin/python || (python3 -m venv .venv-peers && .venv-peers/bin/pip install --quiet 'dbos>=2,<4')
	$(BIN)/python bench/peers.py

clean:
	rm -rf $(VENV) .venv-peers .fuchsia .cache .mypy_cache .ruff_cache .pytest_cache
