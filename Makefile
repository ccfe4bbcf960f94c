# `make demo` and `make test` work on a fresh clone: they build .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# A CPU build of torch 2.13.0 lies in /opt/wheels on these machines; elsewhere pip fetches it.
WHEELS := $(wildcard /opt/wheels)
PIP    := $(BIN)/pip install --quiet $(if $(WHEELS),--find-links $(WHEELS))

.PHONY: demo test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e '.[dev,bench,cluster,onnx]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/bends demo

test: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/count_speed.py

clean:
	rm -rf $(VENV) runs
