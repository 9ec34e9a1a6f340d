"""The notebooks run top to bottom on a small synthetic population, in the order an analyst uses
them (01 makes the workspace, 02, 03 and 04 reuse it), and what they write is usable: charts,
the clerical-review CSV, a tuned model that ``run_predict`` scores with, and the pathway
statistic computed from the published tables with small counts suppressed."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = ("01_explore_sources.ipynb", "02_tune_model.ipynb", "03_review_links.ipynb",
             "04_pathways.ipynb")
# Seconds per cell: long enough for ingest on a 2-core machine shared with other Spark jobs
# (a cell that hangs still fails); BOLD_NB_CELL_TIMEOUT overrides it.
CELL_TIMEOUT = int(os.environ.get("BOLD_NB_CELL_TIMEOUT", "600"))
MAX_CODE_LINES = 12  # cells call the library; logic longer than this belongs in bold_spark.tuning
PEOPLE = 300


def _read(name: str):
    import nbformat

    return nbformat.read(NOTEBOOK_DIR / name, as_version=4)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stored_small_and_without_outputs(name):
    import nbformat

    nb = _read(name)
    nbformat.validate(nb)
    assert (NOTEBOOK_DIR / name).stat().st_size < 20_000
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: stored with outputs"
            lines = [ln for ln in cell.source.splitlines() if ln.strip()]
            assert len(lines) <= MAX_CODE_LINES, f"{name}: a {len(lines)}-line cell:\n{cell.source}"
            assert "bold_spark.pipeline import run_pipeline" not in cell.source


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Run the four notebooks in order, in one workspace; keep each executed copy for debugging.

    They share one kernel (its namespace cleared with ``%reset -f`` before each notebook, which
    builds its own SparkSession after the last one's ``spark.stop()``): a kernel per notebook
    started a JVM per notebook, and a cold JVM's first Delta reads and writes cost a
    warm one's several times over (about two minutes of the suite on this 2-core machine)."""
    import nbformat
    from nbclient import NotebookClient

    work = tmp_path_factory.mktemp("notebooks")
    env = {
        "BOLD_NB_PEOPLE": str(PEOPLE),
        "BOLD_NB_SEED": "7",
        "BOLD_NB_WORKDIR": str(work / "workspace"),
        "BOLD_NB_CHARTS": str(work / "charts"),
        "BOLD_NB_MODEL_OUT": str(work / "models" / "rich.json"),
        "BOLD_NB_REVIEW_PAIRS": "5",
    }
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)
    mp.setenv("BOLD_HMAC_KEY", "notebook-test-key-" + "0" * 32)  # fixed: the same record keys every run
    mp.delenv("BOLD_HMAC_KEY_FILE", raising=False)
    results, owner = {}, None
    try:
        for name in NOTEBOOKS:
            nb = _read(name)
            if owner is not None:  # a clean namespace, as in a kernel of its own
                nb.cells.insert(0, nbformat.v4.new_code_cell("%reset -f"))
            client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                    km=owner.km if owner is not None else None,
                                    resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
            started = time.perf_counter()
            try:
                client.execute(cleanup_kc=False)
                error = None
            except Exception as e:  # noqa: BLE001 - a cell error, a timeout or a dead kernel: reported by the tests
                error = e
            owner = owner or client
            nbformat.write(nb, work / f"executed-{name}")
            results[name] = {"error": error, "seconds": time.perf_counter() - started}
    finally:
        mp.undo()
        if owner is not None and owner.km is not None:
            owner._cleanup_kernel()
    (work / "timings.json").write_text(json.dumps({k: v["seconds"] for k, v in results.items()}))
    return work, results


def _ran_clean(executed, name):
    work, results = executed
    error = results[name]["error"]
    assert error is None, (f"{name} failed (executed copy: {work / f'executed-{name}'}):\n"
                           f"{type(error).__name__}: {error}")


@pytest.mark.notebooks
def test_01_explore_sources(executed):
    _ran_clean(executed, NOTEBOOKS[0])
    charts = executed[0] / "charts"
    for chart in ("completeness.png", "frequencies.png", "largest_blocks_rich.png", "largest_blocks_ndtms.png"):
        assert (charts / chart).stat().st_size > 5_000, chart


@pytest.mark.notebooks
def test_02_tune_model_saves_a_model_predict_loads(executed):
    from bold_spark.config.pipeline import load_pipeline_config
    from bold_spark.linkage.model import load_model

    _ran_clean(executed, NOTEBOOKS[1])
    work = executed[0]
    charts = work / "charts"
    for chart in ("blocking_rules.png", "match_weights.png", "precision_recall.png"):
        assert (charts / chart).stat().st_size > 5_000, chart
    for chart in ("m_u_parameters.html", "match_weights.html", "waterfall.html", "precision_recall.html"):
        html = (charts / chart).read_text()
        assert "vega" in html and '"$schema"' in html, chart
    model = load_model(work / "models" / "rich.json")
    assert model.is_trained and model.meta.trained["em_sessions"]
    assert model.meta.trained["records"] > 100
    tuned = load_pipeline_config(work / "workspace" / "pipeline-tuned.yaml")
    rich = next(g for g in tuned.link_groups if g.name == "rich")
    assert Path(rich.model) == work / "models" / "rich.json"


@pytest.mark.notebooks
def test_03_review_links_writes_the_review_csv(executed):
    _ran_clean(executed, NOTEBOOKS[2])
    work = executed[0]
    sample = pd.read_csv(work / "workspace" / "review" / "pairs_around_thresholds.csv")
    assert len(sample) > 0
    assert set(sample["near_threshold"]) <= {"high", "medium", "low"}
    for col in ("record_key_l", "record_key_r", "match_weight", "match_probability", "gamma_dob",
                "dob_level", "gamma_first_name", "first_name_level", "first_name_l", "first_name_r",
                "clerical_match_score"):
        assert col in sample.columns, col
    assert sample["dob_level"].notna().all()
    assert (charts := work / "charts" / "cluster_sizes.png").stat().st_size > 5_000, charts


@pytest.mark.notebooks
def test_04_pathways_computes_the_statistic_with_small_counts_suppressed(executed):
    _ran_clean(executed, NOTEBOOKS[3])
    work = executed[0]
    shares = pd.read_csv(work / "workspace" / "pathways.csv")
    assert list(shares["persons"]) == ["high", "medium", "low", "truth"]
    for col in ("people", "started_21", "started_182"):
        counts = shares[col].dropna()
        assert (counts >= 10).all(), f"{col}: a count below 10 was shown"
    # a share is shown only where both its counts are
    assert (shares["share_21"].isna() | shares["started_21"].notna()).all()
    assert (work / "charts" / "pathways.png").stat().st_size > 5_000


@pytest.mark.notebooks
def test_model_saved_by_02_scored_the_edges_through_run_predict(executed):
    """02 calls ``run_predict`` (what ``bold predict`` runs) with the pipeline config it wrote,
    which points at the saved model; ``run_predict`` loads the model from that file. The edges
    and the run record show it scored with exactly the saved model. (Read with delta-rs: no
    second Spark session in the test process.)"""
    from deltalake import DeltaTable

    from bold_spark.config.pipeline import load_pipeline_config
    from bold_spark.linkage.model import load_model

    _ran_clean(executed, NOTEBOOKS[1])
    work = executed[0]
    saved = load_model(work / "models" / "rich.json")
    cfg = load_pipeline_config(work / "workspace" / "pipeline-tuned.yaml")
    edges = DeltaTable(cfg.table_uri("edges")).to_pandas(columns=["link_group", "model_version"])
    versions = edges.groupby("link_group")["model_version"].unique().to_dict()
    assert list(versions["rich"]) == [saved.version]
    assert list(versions["ndtms"]) == [load_model(REPO / "conf/models/ndtms.json").version]
    runs = DeltaTable(cfg.table_uri("runs")).to_pandas()
    predict = runs[(runs.run_name == "notebooks:predict") & (runs.status == "succeeded")]
    assert len(predict) == 1
    assert json.loads(predict.iloc[0].model_hashes)["rich"] == saved.content_hash
