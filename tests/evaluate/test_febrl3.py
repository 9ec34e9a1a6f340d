"""The FEBRL3 dedupe benchmark export: one extract the shipped dataset config reads, and a ground
truth that puts 'rec-N-org' and every 'rec-N-dup-K' in the person N (no Spark)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bold_spark.cli import app
from bold_spark.config.datasets import load_dataset_config
from bold_spark.config.pipeline import load_pipeline_config
from bold_spark.evaluate.febrl import export_febrl3

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("febrl3")
    counts = export_febrl3(out)
    return out, counts


def test_export_writes_every_record_and_its_truth(exported):
    out, counts = exported
    assert counts == {"febrl3": 5000, "ground_truth": 5000}
    extract = pd.read_csv(out / "febrl3.csv", dtype=str)
    truth = pd.read_parquet(out / "ground_truth.parquet")
    assert len(extract) == 5000 and extract["rec_id"].is_unique
    assert list(truth.columns) == ["source", "source_record_id", "person_id"]
    assert set(truth["source"]) == {"febrl3"}
    assert sorted(truth["source_record_id"]) == sorted(extract["rec_id"])
    # FEBRL3's published make-up: 2,000 originals and 3,000 duplicates of them
    assert truth["person_id"].nunique() == 2000
    assert extract["rec_id"].str.endswith("-org").sum() == 2000
    sizes = truth.groupby("person_id").size()
    assert sizes.min() == 1 and sizes.max() == 6  # up to five duplicates per original
    assert int((sizes * (sizes - 1) // 2).sum()) == 6538  # true pairs


def test_truth_follows_the_record_ids(exported):
    out, _ = exported
    truth = pd.read_parquet(out / "ground_truth.parquet").set_index("source_record_id")["person_id"]
    assert truth["rec-1496-org"] == 1496
    assert truth["rec-552-dup-3"] == 552 and truth["rec-552-org"] == 552
    assert truth["rec-0-org"] == 0
    # every person's records: one original, then duplicates numbered from 0
    for person, ids in truth.groupby(truth).groups.items():
        dups = sorted(int(i.rsplit("-", 1)[1]) for i in ids if "-dup-" in i)
        assert f"rec-{person}-org" in ids and dups == list(range(len(dups)))


def test_shipped_configs_read_the_export(exported):
    out, _ = exported
    ds = load_dataset_config(REPO / "conf/datasets/febrl3.yaml")
    header = set(pd.read_csv(out / ds.path, nrows=0).columns)
    assert set(ds.source_columns_needed()) <= header
    cfg = load_pipeline_config(str(REPO / "conf/pipeline_febrl3.yaml"))
    (group,) = cfg.link_groups
    assert cfg.sources == group.sources == ["febrl3"] and not group.link_only  # dedupe


def test_cli_exports_febrl3_and_refuses_unknown_datasets(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["febrl-export", "--dataset", "febrl3", "--output", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "febrl3.csv").exists() and (tmp_path / "ground_truth.parquet").exists()
    assert runner.invoke(app, ["febrl-export", "--dataset", "febrl5"]).exit_code == 2
