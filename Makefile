# bold-spark. `make demo` and `make test` do all the set-up on a fresh machine
# (Python 3.11+ and Java 17 required).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export SPARK_LOCAL_IP ?= 127.0.0.1
export PYARROW_IGNORE_TIMEZONE ?= 1

.PHONY: install demo test test-fast test-cluster test-all bench bench-large bench-incremental bench-incremental-large bench-scale notebooks dist clean lint

install: $(STAMP)

# The Delta Lake jars are fetched once from Maven Central into the venv (scripts/fetch_delta_jars.py);
# where that fails (offline) sessions fall back to the embedded delta-rs writer and say so.
$(STAMP): pyproject.toml scripts/fetch_delta_jars.py
	@command -v java >/dev/null || { echo "Java 17 is required (apt-get install openjdk-17-jre-headless)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[spark,dev]'
	$(BIN)/python scripts/fetch_delta_jars.py > $(VENV)/fetch-delta-jars.log 2>&1 \
	  && grep -E '^(cached|Delta Lake jars)' $(VENV)/fetch-delta-jars.log \
	  || echo "WARNING: Delta Lake jars not fetched (see $(VENV)/fetch-delta-jars.log): the embedded delta-rs writer will be used"
# Headless Chromium for the report's browser test (tests/report): Debian's package, where apt exists.
	@command -v chromium >/dev/null || { command -v apt-get >/dev/null \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "WARNING: chromium not installed (no apt-get?): tests/report/test_browser.py will fail"; }
	touch $(STAMP)

# The demo makes a throwaway key when none is set, and a published set refuses a run with
# another key (its IDs would all change): each demo starts from an empty output/demo.
demo: install
	rm -rf output/demo output/demo_restricted
	$(BIN)/bold demo --difficulty realistic

# ruff over the library, jobs, tests, scripts, bench and recipes; rules in pyproject [tool.ruff].
lint: install
	$(BIN)/ruff check bold_spark jobs tests scripts bench docs/recipes

# Everything: lint, then unit, end-to-end, notebooks, and the standalone-cluster test (what CI runs).
test: install lint
	$(BIN)/python -m pytest --durations=60 tests

test-fast: install
	$(BIN)/python -m pytest -m "not cluster and not notebooks and not e2e" tests

# Starts a Spark standalone master + 2 workers on 127.0.0.1 (stopped by PID at the end), submits
# the packaged pipeline in client mode and compares it with local mode. See docs/cluster.md.
test-cluster: install
	$(BIN)/python -m pytest -m cluster tests/cluster

test-all: install lint
	$(BIN)/python -m pytest tests

bench: install
	$(BIN)/python bench/run_bench.py

bench-large: install
	$(BIN)/python bench/run_bench.py --large

# A weekly incremental run against a full re-run on about 1M records (bench/incremental_bench.py).
bench-incremental: install
	$(BIN)/python bench/incremental_bench.py --people 630000

# The same at twice the population (about 2.5M records, 30 min on 2 cores): how the ratio moves
# with size.
bench-incremental-large: install
	$(BIN)/python bench/incremental_bench.py --people 1260000 --results bench/results/results_incremental_2500k

# Issue 17's F1 at 10M records against 1M (bench/scale_accuracy.py): about 30 minutes with both
# populations to prepare; --reuse (python bench/scale_accuracy.py --reuse) keeps prepared ones.
bench-scale: install
	$(BIN)/python bench/scale_accuracy.py

notebooks: install
	$(BIN)/python -m pip install --quiet -e '.[spark,dev,notebooks]'
	$(BIN)/jupyter lab notebooks/

# What a cluster needs (docs/cluster.md): wheel, --py-files zip, packed env for --archives,
# pinned requirements, conf zip, jobs/ and the Splink jar. DIST_ARGS=--no-env skips the env.
DIST_ARGS ?=
dist: install
	$(BIN)/python scripts/build_dist.py --out dist $(DIST_ARGS)

clean:
	rm -rf output data/synthetic dist build *.egg-info spark-warehouse
