# Two entry points for a fresh machine:
#   make run   set up (venv, package, Fashion-MNIST) and run the default pipeline (dvc repro)
#   make test  set up and run the whole test suite
# Both are idempotent: a second run reuses the venv and the installed packages.

PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.fmlpipe-installed

.PHONY: setup system-deps run test clean

setup: system-deps $(STAMP)

system-deps:
	bash scripts/system-deps.sh $(DEPS_FLAGS)

# Re-installs only when pyproject.toml or the C kernel changes (pip builds the kernel into
# src/, see fmlpipe.models.native_pool). pip on this kind of machine takes torch from local
# disk; elsewhere it downloads it.
$(STAMP): pyproject.toml src/fmlpipe/models/_pool_relu.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e '.[dev,ray]'
	touch $@

run: setup
	PATH="$(BIN):$$PATH" dvc repro

# One pytest worker per core; each test module stays whole on one worker (tests/conftest.py).
# The Ray tests run after, alone: a local Ray instance's start timed out once beside a busy worker.
TEST_WORKERS ?= auto

test: DEPS_FLAGS = --test
test: setup
	PATH="$(BIN):$$PATH" pytest -n $(TEST_WORKERS) --dist loadgroup -m "not ray"
	PATH="$(BIN):$$PATH" pytest -m ray

clean:
	rm -rf $(VENV)
