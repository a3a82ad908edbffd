# The two commands a newcomer needs:  `make lab`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: lab test test-redis-oss setup benchmark clean

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

# Every test and notebook on the bundled Valkey, with the notebooks that promise to work on your own
# server run against a local cluster and a replication group's primary (tests/test_own_server.py).
# JOBS parallel workers (conftest.py keeps each notebook on one worker); JOBS=1 runs one at a time.
JOBS ?= 4
test: $(TEST_STAMP)
	$(BIN)/python -m pytest -n $(JOBS) --nbval-lax tests notebooks

# The course on a second engine: REDIS_OSS=/path/to/redis-server (Redis OSS >= 7.0); .ci/run uses Debian's.
test-redis-oss: $(TEST_STAMP)
	@test -n "$(REDIS_OSS)" || { echo "set REDIS_OSS=/path/to/redis-server (Redis OSS >= 7.0)"; exit 2; }
	LABKIT_SERVER=$(REDIS_OSS) $(BIN)/python -m pytest -n $(JOBS) --nbval-lax tests/test_exercises_in_notebooks.py notebooks

benchmark: $(STAMP)
	$(BIN)/python benchmarks/cluster_startup.py
	$(BIN)/python benchmarks/failover.py
	$(BIN)/python benchmarks/resharding.py
	$(BIN)/python benchmarks/views_cpu.py
	$(BIN)/python benchmarks/backup.py

clean:
	rm -rf $(VENV) .pytest_cache
