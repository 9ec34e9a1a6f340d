"""Incremental runs against full re-runs on the same data: a first snapshot linked in full, then
a second (new people, withdrawn records, hand-changed records) linked incrementally on one
output root and in full on another. The published sets must agree record for record, edge for
edge and cluster for cluster; the incremental run must score fewer pairs; withdrawn records must
leave no trace; a new model version must force a full rescore."""

from __future__ import annotations

import csv
import glob
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from pyspark.sql import functions as F

from bold_spark.config.pipeline import load_pipeline_config
from bold_spark.pipeline import run_pipeline
from bold_spark.privacy.keys import SecretKey
from bold_spark.publish import read_published

REPO = Path(__file__).resolve().parents[1]
PEOPLE = 200
CHANGED = 3
KEY = SecretKey(b"incremental-test-key-0123456789")
LEVELS = ("high", "medium", "low")

pytestmark = pytest.mark.e2e


def config(tmp: Path, output: str, model: str | None = None) -> object:
    base = yaml.safe_load((REPO / "conf/pipeline.yaml").read_text())
    base.update(input_root=str(tmp / "input"), output_root=str(tmp / output),
                datasets_dir=str(REPO / "conf/datasets"), ground_truth=None)
    base["sources"] = ["prison", "probation"]
    base["link_groups"] = [{"name": "rich", "model": model or str(REPO / "conf/models/rich.json"),
                            "sources": ["prison", "probation"]}]
    path = tmp / f"pipeline-{output}.yaml"
    path.write_text(yaml.safe_dump(base))
    return load_pipeline_config(path)


def change_surnames(folder: Path, n: int) -> list[str]:
    """Change LAST_NAME of the first ``n`` rows of the prison extract (CSV part files) in place;
    returns their OFFENDER_ALIAS_IDs."""
    changed = []
    for part in sorted(glob.glob(str(folder / "prison.csv" / "part-*.csv"))):
        with open(part, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        header = rows[0]
        last, ident = header.index("LAST_NAME"), header.index("OFFENDER_ALIAS_ID")
        for row in rows[1:]:
            if len(changed) < n and row[last]:
                row[last] = row[last] + "SON"
                changed.append(row[ident])
        with open(part, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(rows)
        crc = Path(part).with_name(f".{Path(part).name}.crc")  # Hadoop's checksum of the old bytes
        crc.unlink(missing_ok=True)
        if len(changed) >= n:
            break
    return changed


@pytest.fixture(scope="module")
def runs(spark, tmp_path_factory):
    from bold_spark.synthetic import SyntheticSpec, run_generate

    tmp = tmp_path_factory.mktemp("incremental")
    run_generate(spark, SyntheticSpec(people=PEOPLE, seed=7), str(tmp / "input"))
    inc = config(tmp, "inc")
    first = run_pipeline(spark, inc, KEY)
    before = read_published(spark, inc.output_root)
    before = {t: before[t].cache() for t in ("records", "clusters")}
    for df in before.values():
        df.count()
    run_generate(spark, SyntheticSpec(people=round(PEOPLE * 1.03), seed=7), str(tmp / "input"), withdraw=0.02)
    change_surnames(tmp / "input", CHANGED)
    incremental = run_pipeline(spark, inc, KEY, incremental=True)
    full_cfg = config(tmp, "full")
    full = run_pipeline(spark, full_cfg, KEY)
    return tmp, inc, full_cfg, first, incremental, full, before


def test_incremental_run_reports_the_change_and_scores_fewer_pairs(runs):
    _, _, _, first, inc, full, _ = runs
    assert inc.run.status == "succeeded" and inc.run.run_name.endswith(":incremental")
    m = inc.run.metrics
    assert m["records_new"] > 0 and m["records_withdrawn"] > 0
    assert m["records_changed"] == CHANGED
    assert m["records_unchanged"] > 0.8 * first.run.table_rows["records"]
    assert "full_rescore_rich" not in m
    assert 0 < m["scored_pairs"] < 0.5 * full.run.metrics["scored_pairs"]
    assert m["kept_edges"] > 0


def test_incremental_equals_a_full_rerun(spark, runs):
    _, inc, full_cfg, _, _, _, _ = runs
    a, b = read_published(spark, inc.output_root), read_published(spark, full_cfg.output_root)
    bookkeeping = ["run_id", "first_seen_run_id"]
    assert (a["records"].drop(*bookkeeping).exceptAll(b["records"].drop(*bookkeeping)).count() == 0
            and a["records"].count() == b["records"].count())
    key = ["record_key_l", "record_key_r"]
    ea = a["edges"].select(*key, *[c for c in a["edges"].columns if c.startswith("gamma_")],
                           "match_weight", "link_group", "match_key")
    eb = b["edges"].select(*ea.columns)
    assert ea.count() == eb.count()
    joined = ea.alias("a").join(eb.alias("b"), key, "full")
    assert joined.where(F.col("a.match_weight").isNull() | F.col("b.match_weight").isNull()).count() == 0
    gammas = [c for c in ea.columns if c.startswith("gamma_")] + ["match_key"]
    differ = joined.where(" or ".join(f"not (a.{c} <=> b.{c})" for c in gammas)).count()
    assert differ == 0
    # weights of kept edges may lag term-frequency moves below the tolerance: bounded
    bound = 2 * __import__("math").log2(1 + inc.incremental.tf_tolerance) + 1e-9
    worst = joined.agg(F.max(F.abs(F.col("a.match_weight") - F.col("b.match_weight")))).first()[0]
    assert worst <= bound, worst
    for level in LEVELS:
        assert partition(a["clusters"], level) == partition(b["clusters"], level), level


def test_withdrawn_records_leave_no_trace(spark, runs):
    _, inc, _, _, result, _, before = runs
    now = read_published(spark, inc.output_root)
    gone = before["records"].select("record_key").join(now["records"].select("record_key"), "record_key",
                                                       "left_anti")
    assert gone.count() == result.run.metrics["records_withdrawn"]
    keys = [r[0] for r in gone.collect()]
    assert now["clusters"].where(F.col("record_key").isin(keys)).count() == 0
    assert now["edges"].where(F.col("record_key_l").isin(keys) | F.col("record_key_r").isin(keys)).count() == 0
    # the ID events say which IDs lost records (or were retired)
    lost = {r[0] for r in before["clusters"].where(F.col("record_key").isin(keys))
            .select("person_id_medium").collect()}
    events = now["person_events"].where((F.col("run_id") == result.run.run_id) & (F.col("threshold") == "medium"))
    told = events.where(F.col("person_id").isin(list(lost)) | F.col("other_person_id").isin(list(lost)))
    rows = told.select("event", "records", "previous_records").collect()
    assert rows and all(r["event"] in ("retired", "merged_into", "split_from")
                        or (r["records"] or 0) < (r["previous_records"] or 0) or r["event"] == "kept"
                        for r in rows)
    assert any(r["event"] == "retired" or (r["records"] or 0) < (r["previous_records"] or 0) for r in rows)


def test_new_model_version_rescores_the_group_in_full(spark, runs):
    tmp, _, full_cfg, _, _, full, _ = runs
    models = tmp / "models"
    models.mkdir()
    settings = json.loads((REPO / "conf/models/rich.json").read_text())
    settings["probability_two_random_records_match"] *= 1.5
    (models / "rich.json").write_text(json.dumps(settings))
    shutil.copy(REPO / "conf/models/rich.meta.json", models / "rich.meta.json")
    cfg = config(tmp, "full", model=os.fspath(models / "rich.json"))
    result = run_pipeline(spark, cfg, KEY, incremental=True)
    m = result.run.metrics
    assert m["full_rescore_rich"] == 1.0 and m["records_new"] == 0 and m["records_changed"] == 0
    assert m["scored_pairs"] == result.run.table_rows["edges"] == full.run.table_rows["edges"]
    assert result.run.model_versions["rich"] != full.run.model_versions["rich"]


def partition(clusters, level):
    groups = clusters.groupBy(f"person_id_{level}").agg(F.sort_array(F.collect_list("record_key")).alias("k"))
    return {tuple(r["k"]) for r in groups.collect()}
