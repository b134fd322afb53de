# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv venv313 demo test test-313 test-all lint imports bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[all]"
	touch $(STAMP)

# The main job on a sample volume shipped inside nibabel (no network): NIfTI -> OME-Zarr
# with pyramid + NIfTI-Zarr header, then info, validation and a preview PNG under out/.
demo: $(STAMP)
	mkdir -p out
	$(PY) -m unizarr.cli demo out/unizarr-demo.ome.zarr --preview out/unizarr-demo-preview.png
	$(PY) examples/demo.py

# Fast suite (everything but `slow`), parallel over the 2 cores, after the lint step
# (mypy + ruff: zero errors); first the shipped conformance suite (unizarr.testing) on
# the "zarrs" driver, which the rest does not run.
test: $(STAMP) lint
	$(PY) -m pytest -q -n 2 -m "not slow" tests/conformance -k zarrs
	$(PY) -m pytest -q -n 2 -m "not slow"

# The fast suite again on the newest stack: Python 3.13 (pyenv) with the newest releases
# pip resolves there (zarr 3.4, nifti-zarr 1.0.0rc9 writing OME-NGFF 0.6, ome-zarr-models 1.8).
PYTHON313 ?= $(shell (PYENV_VERSION=3.13.0 pyenv which python || command -v python3.13) 2>/dev/null | head -n 1)
VENV313   := .venv313
PY313     := $(VENV313)/bin/python
STAMP313  := $(VENV313)/.installed

venv313: $(STAMP313)

$(STAMP313): pyproject.toml
	@test -n "$(PYTHON313)" || { echo "no Python 3.13: pyenv install 3.13 (or set PYTHON313=)"; exit 1; }
	$(PYTHON313) -m venv $(VENV313)
	$(PY313) -m pip install --quiet --upgrade pip
	$(PY313) -m pip install --quiet -e ".[all]"
	touch $(STAMP313)

test-313: $(STAMP313)
	$(PY313) -m pytest -q -n 2 -m "not slow"

# Everything, including slow scale / distributed / crash tests.
test-all: $(STAMP)
	$(PY) -m pytest -q -n 2

# Type checking (mypy on src/, configured in pyproject.toml) and lint (ruff).
lint: $(STAMP)
	$(PY) -m mypy src/
	$(PY) -m ruff check src tests

# The package's import graph: cycles, imports of a higher floor, cycle-dodging imports.
imports:
	$(PYTHON) tools/imports.py

bench: $(STAMP)
	$(PY) -m benchmarks.compare

clean:
	rm -rf $(VENV) $(VENV313) build *.egg-info src/*.egg-info .pytest_cache
