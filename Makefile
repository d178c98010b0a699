# Two commands matter: `make run` and `make test`. Both build their own .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Exact versions, so every run and CI installs what was tested; pyproject.toml keeps the
# ranges for people installing the package. `make lock` refreshes both after an edit there.
RUN_LOCK := requirements/run.lock
TEST_LOCK := requirements/test.lock

.PHONY: run test lint typecheck pytest bench soak lock clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "byok-bot needs Python 3.11 or newer (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml $(RUN_LOCK) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r $(RUN_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(TEST_LOCK) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r $(TEST_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/byok-bot init --if-missing
	$(BIN)/byok-bot run

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

pytest: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

test: lint typecheck pytest

lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --quiet -o $(RUN_LOCK)
	$(BIN)/uv pip compile pyproject.toml --extra test --universal --python-version 3.11 --quiet \
		-o $(TEST_LOCK)

bench: $(VENV)/.installed-test
	$(BIN)/python -m bench

# Not part of `make test`: 30 minutes of mixed traffic from 200 members with faults on.
soak: $(VENV)/.installed-test
	$(BIN)/python -m bench.soak --minutes $(or $(MINUTES),30) --members $(or $(MEMBERS),200)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
