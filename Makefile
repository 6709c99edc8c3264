# Omnivox. The two commands: `make run` (serve the demo) and `make test` (lint, types, tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
CONFIG ?= examples/acme/omnivox.yaml
PIP_INSTALL := $(PIP) install --constraint constraints.txt

# llama-cpp-python is built from source. Its default (-march=native) can emit AMX/AVX-512
# instructions that virtual machines advertise but fault on (SIGILL), so we build a portable
# AVX2 wheel once and keep it in a wheelhouse outside the repo (reused by every clone).
LLAMA_CPP_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON \
	-DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF \
	-DGGML_AMX_BF16=OFF
WHEELHOUSE ?= $(HOME)/.cache/omnivox/wheels/llama-cpp-python-$(LLAMA_CPP_VERSION)-avx2
LLAMA_WHEEL := $(WHEELHOUSE)/.built

.PHONY: run test install install-test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(LLAMA_WHEEL): | $(BIN)/python
	@echo "Building llama-cpp-python $(LLAMA_CPP_VERSION) (portable CPU build, a few minutes, once)"
	mkdir -p $(WHEELHOUSE)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) wheel --no-deps --no-binary llama-cpp-python \
		--no-cache-dir --wheel-dir $(WHEELHOUSE) llama-cpp-python==$(LLAMA_CPP_VERSION)
	touch $@

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt $(LLAMA_WHEEL)
	$(PIP_INSTALL) $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl
	$(PIP_INSTALL) -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP_INSTALL) -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(BIN)/omnivox serve --config $(CONFIG)

lint: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install-test
	$(BIN)/mypy --strict src

# pytest-xdist: one worker per core (at most 4). Most tests wait on servers, sockets and the
# database, so two workers on two cores take the suite from about 20 to about 14 minutes.
# PYTEST_WORKERS= (empty) runs it in one process.
PYTEST_WORKERS ?= -n auto --maxprocesses 4

pytest: install-test
	$(BIN)/python -m pytest $(PYTEST_WORKERS) $(PYTEST_ARGS)

test: lint typecheck pytest

bench: install-test
	$(BIN)/python bench/turn_latency.py

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
