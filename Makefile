# Two commands for a newcomer: `make run` (the registry) and `make test` (the suite).
# Both create the virtual environment from the lock file on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench lock clean

$(STAMP): pyproject.toml requirements.lock client/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "==> installing dependencies into $(VENV) (first run only)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]' -e ./client
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/tenant-registry up

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m bench

# Regenerate the lock file after changing dependencies in pyproject.toml.
lock:
	rm -rf /tmp/tr-lock-venv && $(PYTHON) -m venv /tmp/tr-lock-venv
	/tmp/tr-lock-venv/bin/pip install --quiet -e '.[dev]'
	/tmp/tr-lock-venv/bin/pip freeze --exclude-editable | grep -v '^tenant-registry' > requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
