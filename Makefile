# Two commands on a fresh machine: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export KERAS_BACKEND := tensorflow
export TF_CPP_MIN_LOG_LEVEL := 2

$(VENV)/.installed: setup.cfg setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

.PHONY: install demo test docs bench bench-peers
install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/keras-simplex demo

# Test files run on TEST_WORKERS processes (pytest-xdist; each file stays on one process, so
# its module fixtures are built once): 2 fits a 2-core machine; TEST_WORKERS=0 runs in one.
TEST_WORKERS ?= 2
test: $(VENV)/.installed
	$(PY) -m pytest -q --durations=15 -n $(TEST_WORKERS) --dist loadfile tests

# The API reference (HTML) from the docstrings, in docs/api/ (not committed).
DOC_MODULES := keras_simplex keras_simplex.methods keras_simplex.metrics keras_simplex.models keras_simplex.plotting \
	keras_simplex.serving keras_simplex.modisco keras_simplex.tracks keras_simplex.deeplift keras_simplex.ism \
	keras_simplex.baselines keras_simplex.precision keras_simplex.datasets keras_simplex.experiments keras_simplex_cli
docs: $(VENV)/.installed
	PDOC_ALLOW_EXEC=1 $(PY) -m pdoc $(DOC_MODULES) -o docs/api

bench: $(VENV)/.installed
	$(PY) benchmarks/attribution.py
	$(PY) benchmarks/training.py
	$(PY) benchmarks/datasets.py

bench-peers: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) benchmarks/peers.py
	$(PY) benchmarks/crested_peer.py
	$(PY) benchmarks/architectures.py
	$(PY) benchmarks/precision.py
