# Two entry points for a fresh machine: `make demo` and `make test`.
# Both run scripts/setup.sh first (system packages, .venv, the project installed editable).
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(BIN)/s1lab demo --out out/demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: setup
	$(BIN)/python bench/bench_wan.py

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache
