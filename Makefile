# The two commands a newcomer needs:  `make lab`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: lab test setup benchmark clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("labkit needs Python >= 3.11; set PYTHON=python3.11 (or newer)") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

# The test suite's own tools (pytest-timeout, playwright) come with the `test` extra, not with labkit.
$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(TEST_STAMP)

setup: $(STAMP)

# Jupyter refuses to run as root unless told; containers and CI machines often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(STAMP)
	$(BIN)/jupyter lab $(ROOT_FLAG) notebooks/00_welcome.ipynb

test: $(TEST_STAMP)
	$(BIN)/python -m pytest --nbval-lax tests notebooks

benchmark: $(STAMP)
	$(BIN)/python benchmarks/cluster_startup.py
	$(BIN)/python benchmarks/failover.py
	$(BIN)/python benchmarks/views_cpu.py

clean:
	rm -rf $(VENV) .pytest_cache
