# `make demo` and `make test` work on a fresh clone: they build .venv first, with the versions
# pinned in constraints.txt (refresh them with `make lock`, then run `make test`).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
EXTRAS := dev,bench,cluster,onnx,lightning
# A CPU build of torch 2.13.0 lies in /opt/wheels on these machines; elsewhere pip fetches it.
WHEELS := $(wildcard /opt/wheels)
PIP     = $(1)/pip install --quiet $(if $(WHEELS),--find-links $(WHEELS))

.PHONY: demo test lint bench lock clean

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(call PIP,$(BIN)) torch==2.13.0
	$(call PIP,$(BIN)) -c constraints.txt -e '.[$(EXTRAS)]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/bends demo

test: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -n auto --dist loadfile --durations=15

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/count_speed.py

# The newest releases pyproject.toml admits, resolved in a scratch venv and written down.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	$(call PIP,.lock-venv/bin) torch==2.13.0
	$(call PIP,.lock-venv/bin) -e '.[$(EXTRAS)]'
	echo "# pip constraints for 'make': regenerate with 'make lock'" > constraints.txt
	.lock-venv/bin/pip freeze --exclude-editable | sed 's/+cpu$$//' >> constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) runs
