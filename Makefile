# bold-spark. `make demo` and `make test` do all the set-up on a fresh machine
# (Python 3.11+ and Java 17 required).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export SPARK_LOCAL_IP ?= 127.0.0.1
export PYARROW_IGNORE_TIMEZONE ?= 1

.PHONY: install demo test test-cluster test-all bench bench-large notebooks dist clean lint

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v java >/dev/null || { echo "Java 17 is required (apt-get install openjdk-17-jre-headless)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/bold demo

test: install
	$(BIN)/python -m pytest -m "not cluster" tests

test-cluster: install
	$(BIN)/python -m pytest -m cluster tests

test-all: install
	$(BIN)/python -m pytest tests

bench: install
	$(BIN)/python bench/run_bench.py

bench-large: install
	$(BIN)/python bench/run_bench.py --large

notebooks: install
	$(BIN)/python -m pip install --quiet -e '.[dev,notebooks]'
	$(BIN)/jupyter lab notebooks/

dist: install
	$(BIN)/python -m pip install --quiet build==1.3.0
	$(BIN)/python -m build --wheel --outdir dist .

clean:
	rm -rf output data/synthetic dist build *.egg-info spark-warehouse
