# `make run` and `make test` set up everything they need in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test demo bench lint clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/monitor run

demo: $(VENV)/.installed
	$(BIN)/monitor demo

lint: $(VENV)/.installed-test
	$(BIN)/ruff check monitor tests benchmarks
	$(BIN)/ruff format --check monitor tests benchmarks
	$(BIN)/mypy monitor
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest -n 2

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@ $(VENV)/.installed $(VENV)/.installed-test

bench: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks

# For docker compose: a random database password, made once, never overwritten.
.env:
	@umask 077 && $(PYTHON) -c 'import secrets; print("MONITOR_DB_PASSWORD=" + secrets.token_urlsafe(24)); print("# MONITOR_NOTIFY_DUTY=ntfy://ntfy.sh/your-topic")' > $@
	@echo "wrote $@: the database password for docker compose"

clean:
	rm -rf $(VENV) data digests .pytest_cache .mypy_cache .ruff_cache
