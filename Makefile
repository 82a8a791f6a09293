# dbmesh — every command a developer or CI needs. `make test` works on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PROTO := protos/dbmesh/resolver/v1/resolver.proto

.PHONY: help install test lint protos demo bench clean

help:
	@echo "make demo    run the embedded SQLite demo (installs into .venv first)"
	@echo "make test    lint, then the whole test suite against real databases"
	@echo "make lint    ruff and mypy"
	@echo "make protos  regenerate the gRPC stubs from $(PROTO)"
	@echo "make bench   the benchmark against a hand-written baseline (see bench/README.md)"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	scripts/ensure-db-binaries
	$(MAKE) --no-print-directory lint
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

protos: $(STAMP)
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) -m grpc_tools.protoc -Iprotos --python_out=. --grpc_python_out=. \
		--mypy_out=. --mypy_grpc_out=. $(PROTO)

demo: $(STAMP)
	$(VENV)/bin/dbmesh demo

bench: $(STAMP)
	scripts/ensure-db-binaries
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .dbmesh-demo
