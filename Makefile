# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv demo test test-all bench clean

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

# Fast suite (everything but `slow`), parallel over the 2 cores; first the conformance
# suite on zarr-python with the opt-in zarrs accelerator (UNIZARR_ZARRS=1).
test: $(STAMP)
	UNIZARR_ZARRS=1 $(PY) -m pytest -q -n 2 -m "not slow" tests/conformance -k zarr-python
	$(PY) -m pytest -q -n 2 -m "not slow"

# Everything, including slow scale / distributed / crash tests.
test-all: $(STAMP)
	$(PY) -m pytest -q -n 2

bench: $(STAMP)
	$(PY) -m benchmarks.compare

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
