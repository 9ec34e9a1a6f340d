"""Incremental runs against full re-runs on the same data: a first snapshot linked in full, then
a second (new people, withdrawn records, hand-changed records) linked incrementally on one
output root and in full on another. The published sets must agree record for record, edge for
edge and cluster for cluster; the incremental run must score fewer pairs; withdrawn records must
leave no trace; a new model version must force a full rescore.

A third output root, copied from the incremental one after the first run, takes the second
snapshot's prison records as a change file (``delivery: change_file``: adds, updates, deletes
and bad rows) and must publish the same set as the full re-run on the full extract."""

from __future__ import annotations

import csv
import glob
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pyspark.sql import functions as F

from bold_spark.config.pipeline import load_pipeline_config
from bold_spark.exceptions import DeltaWriteError
from bold_spark.io.delta import has_deletion_vectors, read_table
from bold_spark.pipeline import run_pipeline, run_predict
from bold_spark.privacy.keys import SecretKey
from bold_spark.publish import read_published
from bold_spark.standardise.person import record_key

REPO = Path(__file__).resolve().parents[1]
PEOPLE = 200
CHANGED = 3
KEY = SecretKey(b"incremental-test-key-0123456789")
LEVELS = ("high", "medium", "low")

pytestmark = pytest.mark.e2e


def config(tmp: Path, output: str, model: str | None = None, datasets: Path | None = None,
           deletion_vectors: bool = False, audit: dict | None = None) -> object:
    base = yaml.safe_load((REPO / "conf/pipeline.yaml").read_text())
    base.update(input_root=str(tmp / "input"), output_root=str(tmp / output),
                datasets_dir=str(datasets or REPO / "conf/datasets"), ground_truth=None)
    base.setdefault("incremental", {})["deletion_vectors"] = deletion_vectors
    if audit:
        base["audit"] = audit
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


def break_a_dob(extract: Path, week1: Path) -> str:
    """Make the date of birth of one probation row unparseable in place: a row as published in
    the first snapshot (the same text in ``week1``, a well-formed DOB and surname, its id once
    in each file), so its record is withdrawn while its row is still in the extract,
    quarantined. (Probation is a full extract in every run here; a change file keeps a record
    whose update is rejected.) Returns its CRN."""
    _, old = read_rows(week1, "CRN")
    header, now = read_rows(extract, "CRN")
    ident, dob, last = (header.index(c) for c in ("CRN", "DATE_OF_BIRTH", "SURNAME"))
    for part in sorted(glob.glob(str(extract / "part-*.csv"))):
        with open(part, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        for row in rows[1:]:
            i = row[ident]
            if (old.get(i) == [row] and len(now[i]) == 1 and row[last]
                    and re.fullmatch(r"\d{2}/\d{2}/\d{4}", row[dob])):
                row[dob] = "not a date"
                with open(part, "w", newline="", encoding="utf-8") as f:
                    csv.writer(f).writerows(rows)
                Path(part).with_name(f".{Path(part).name}.crc").unlink(missing_ok=True)
                return i
    raise AssertionError("no probation row to break")


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
    # the first snapshot's published set and prison extract, for the change-file run
    shutil.copytree(tmp / "inc", tmp / "cf")
    shutil.copytree(tmp / "input" / "prison.csv", tmp / "prison-s1")
    shutil.copytree(tmp / "input" / "probation.csv", tmp / "probation-s1")
    run_generate(spark, SyntheticSpec(people=round(PEOPLE * 1.03), seed=7), str(tmp / "input"), withdraw=0.02)
    change_surnames(tmp / "input", CHANGED)
    break_a_dob(tmp / "input" / "probation.csv", tmp / "probation-s1")
    incremental = run_pipeline(spark, inc, KEY, incremental=True)
    full_cfg = config(tmp, "full")
    full = run_pipeline(spark, full_cfg, KEY)
    return tmp, inc, full_cfg, first, incremental, full, before


def test_incremental_run_reports_the_change_and_scores_fewer_pairs(spark, runs):
    _, _, _, first, inc, full, _ = runs
    assert inc.run.status == "succeeded" and inc.run.run_name.endswith(":incremental")
    m = inc.run.metrics
    assert m["records_new"] > 0 and m["records_withdrawn"] > 0
    assert m["records_changed"] == CHANGED
    # withdrawn although still in the extract: published before, quarantined now (a DOB broken
    # by hand, and any row the second snapshot's generator spoilt)
    now = read_published(spark, runs[1].output_root)
    held = runs[6]["records"].select("record_key").join(
        now["quarantine"].select("record_key"), "record_key", "left_semi").count()
    assert m["records_withdrawn_quarantined"] == held >= 1
    assert m["records_unchanged"] > 0.8 * first.run.table_rows["records"]
    # unchanged raw rows were carried over without being standardised (raw fingerprints);
    # those with an impossible date of birth are standardised every run
    assert 0.8 * m["records_unchanged"] < m["records_not_standardised"] <= m["records_unchanged"]
    assert "full_rescore_rich" not in m
    assert 0 < m["scored_pairs"] < 0.5 * full.run.metrics["scored_pairs"]
    assert m["kept_edges"] > 0
    # only the components the changes reach were clustered again (bold_spark.linkage.region):
    # the touched records at least, not every record; the full run clustered everything
    touched = m["records_new"] + m["records_changed"]
    assert touched <= m["recluster_region_records"] < inc.run.table_rows["records"]
    assert "recluster_region_records" not in full.run.metrics
    assert inc.run.table_rows["clusters"] == inc.run.table_rows["records"]


def test_records_keep_first_seen_and_show_the_run_that_last_wrote_them(spark, runs):
    """A record's ``first_seen_run_id`` is the run that first published it, whatever later runs
    did; its ``run_id`` the run that last wrote it: unchanged rows are not rewritten."""
    _, inc, _, first, incremental, _, before = runs
    r1, r2 = first.run.run_id, incremental.run.run_id
    now = read_published(spark, inc.output_root)["records"]
    old = before["records"].select("record_key", F.lit(True).alias("_old"))
    rows = now.join(old, "record_key", "left").groupBy(
        F.coalesce("_old", F.lit(False)).alias("old"), "first_seen_run_id", "run_id").count().collect()
    got = {(r["old"], r["first_seen_run_id"], r["run_id"]): r["count"] for r in rows}
    assert got[(True, r1, r1)] > 0.8 * before["records"].count()  # unchanged, not rewritten
    assert got[(True, r1, r2)] == CHANGED  # changed in place: first seen in run 1
    assert got[(False, r2, r2)] == incremental.run.metrics["records_new"]  # new in run 2
    assert set(got) == {(True, r1, r1), (True, r1, r2), (False, r2, r2)}, got


def test_incremental_equals_a_full_rerun(spark, runs):
    _, inc, full_cfg, _, _, _, _ = runs
    assert_same_published(spark, inc, full_cfg)


def assert_same_published(spark, inc, full_cfg, fingerprints=True):
    """The published sets of two output roots agree record for record, edge for edge (levels
    equal, weights within the term-frequency bound) and cluster for cluster. ``fingerprints``:
    raw-row fingerprints too (not when a source came as a change file: its rows hold an
    operation column, its config a delivery, so its fingerprints differ from a full extract's)."""
    a, b = read_published(spark, inc.output_root), read_published(spark, full_cfg.output_root)
    bookkeeping = ["run_id", "first_seen_run_id", *([] if fingerprints else ["raw_fingerprint"])]
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


def test_clusters_older_than_the_edges_are_clustered_in_full(spark, runs):
    """``bold predict`` run on its own (after a retrain, say) publishes edges the published
    clusters were not made from: the next incremental run must cluster every record, not carry
    clusters over from the older edges, and still publish a full run's clusters."""
    tmp, _, full_cfg, _, _, _, _ = runs
    shutil.copytree(tmp / "full", tmp / "stale")
    stale = config(tmp, "stale")
    run_predict(spark, stale)
    res = run_pipeline(spark, stale, KEY, incremental=True)
    assert res.run.status == "succeeded" and "recluster_region_records" not in res.run.metrics
    a, b = read_published(spark, stale.output_root), read_published(spark, full_cfg.output_root)
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
    # on a copy of the full re-run's root: the change-file test compares against the original
    shutil.copytree(tmp / "full", tmp / "full-model")
    cfg = config(tmp, "full-model", model=os.fspath(models / "rich.json"))
    result = run_pipeline(spark, cfg, KEY, incremental=True)
    m = result.run.metrics
    assert m["full_rescore_rich"] == 1.0 and m["records_new"] == 0 and m["records_changed"] == 0
    assert m["scored_pairs"] == result.run.table_rows["edges"] == full.run.table_rows["edges"]
    assert result.run.model_versions["rich"] != full.run.model_versions["rich"]


# ------------------------------------------------------------------ change files

#: Bad rows added to the change file, by reason code (they leave the records as published).
BAD_ROWS = {"add_existing_id": 1, "duplicate_id": 2, "missing_mandatory": 1, "unknown_change": 1,
            "update_unknown_id": 1, "delete_unknown_id": 1}


def read_rows(folder: Path, id_column: str = "OFFENDER_ALIAS_ID") -> tuple[list[str], dict[str, list[list[str]]]]:
    """(header, record id -> its rows) of an extract's CSV part files (a prison extract by
    default; a re-sent row's id has two)."""
    header, rows = None, {}
    for part in sorted(glob.glob(str(folder / "part-*.csv"))):
        with open(part, newline="", encoding="utf-8") as f:
            lines = list(csv.reader(f))
        header = header or lines[0]
        ident = header.index(id_column)
        for row in lines[1:]:
            rows.setdefault(row[ident], []).append(row)
    return header, rows


def write_change_file(spark, tmp: Path) -> dict:
    """The second snapshot's prison extract as a change file against the first snapshot's
    published records: adds (every row of a new id, or of an id never published), updates,
    deletes (of published ids, other fields blank) and a no-op update, plus :data:`BAD_ROWS` on
    published, unchanged ids that no good row uses. Returns the rows' ids by kind and each id's
    record key."""
    header, old = read_rows(tmp / "prison-s1")
    _, new = read_rows(tmp / "input" / "prison.csv")
    ident, last = header.index("OFFENDER_ALIAS_ID"), header.index("LAST_NAME")
    ids = spark.createDataFrame([(i,) for i in {*old, *new, "CF-NOPE-1", "CF-NOPE-2"}], "id string")
    keys = {r["id"]: r["k"] for r in ids.select(
        "id", record_key(KEY, "prison", F.col("id")).alias("k")).collect()}
    published = {r[0] for r in read_published(spark, str(tmp / "cf"))["records"]
                 .where(F.col("source") == "prison").select("record_key").collect()}

    def blank(rid: str, op: str) -> list[str]:
        return [rid if i == ident else "" for i in range(len(header))] + [op]

    def with_id(row: list[str], rid: str, op: str) -> list[str]:
        return [*row[:ident], rid, *row[ident + 1:], op]

    rows: list[tuple[str, list[str]]] = []  # (kind, row)
    for i in sorted(new):
        if new[i] != old.get(i):
            kind = "update" if keys[i] in published else "add"
            rows += [(kind, [*r, "U" if kind == "update" else "I"]) for r in new[i]]
    rows += [("delete", blank(i, "D")) for i in sorted(old.keys() - new.keys()) if keys[i] in published]
    same = [i for i in sorted(new.keys() & old.keys())
            if new[i] == old[i] and len(new[i]) == 1 and new[i][0][last] and keys[i] in published]
    row = {i: old[i][0] for i in same[:6]}
    missing = list(row[same[3]])
    missing[last] = ""
    bad = [row[same[0]] + ["I"],                             # add_existing_id
           row[same[1]] + ["U"], row[same[1]] + [" u "],     # duplicate_id (twice)
           missing + ["U"],                                  # missing_mandatory
           row[same[4]] + ["X"],                             # unknown_change
           with_id(row[same[5]], "CF-NOPE-1", "U"),          # update_unknown_id
           blank("CF-NOPE-2", "D")]                          # delete_unknown_id
    rows += [("noop", row[same[2]] + ["u"]), *[("bad", r) for r in bad]]
    with open(tmp / "input" / "prison_changes.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([[*header, "OP"], *[r for _, r in rows]])
    values = {v for r in bad for i, v in enumerate(r[:-1])
              if i != ident and len(v) >= 6 and v.replace(" ", "").isalpha()}  # names, places
    return {"rows": [(kind, r[ident]) for kind, r in rows], "keys": keys, "values": values}


@pytest.fixture(scope="module")
def change_run(spark, runs):
    tmp = runs[0]
    datasets = tmp / "datasets-cf"
    datasets.mkdir()
    prison = yaml.safe_load((REPO / "conf/datasets/prison.yaml").read_text())
    prison.update(path="prison_changes.csv", delivery="change_file", change_column="OP",
                  change_values={"add": "I", "update": "U", "delete": "D"})
    (datasets / "prison.yaml").write_text(yaml.safe_dump(prison))
    shutil.copy(REPO / "conf/datasets/probation.yaml", datasets / "probation.yaml")
    made = write_change_file(spark, tmp)
    # edges changed in place (deletion vectors), so that path is compared with the full re-run too
    # half the change file's rows are bad on purpose: above the audit's 5% quarantined share
    cfg = config(tmp, "cf", datasets=datasets, deletion_vectors=True,
                 audit={"max_quarantined_share": 1.0})
    return cfg, made, run_pipeline(spark, cfg, KEY, incremental=True)


def expected_changes(spark, runs, made) -> dict[str, int]:
    """Counts the change-file run must report: rows by kind, leaving out the add and update rows
    the full re-run quarantined too (a re-sent row, a blank DOB: ``natural``)."""
    full_cfg, full = runs[2], runs[5]
    q = read_published(spark, full_cfg.output_root)["quarantine"]
    natural = {r[0] for r in q.where((F.col("source") == "prison") & (F.col("run_id") == full.run.run_id))
               .select("record_key").collect()}
    out = {"natural": 0, "added": 0, "updated": 0, "deleted": 0, "bad": 0}
    for kind, rid in made["rows"]:
        if kind in ("add", "update", "noop") and made["keys"].get(rid) in natural:
            out["natural"] += 1
        else:
            out[{"add": "added", "update": "updated", "noop": "updated", "delete": "deleted"}.get(kind, kind)] += 1
    return {**out, "natural_keys": natural}


def test_change_file_equals_a_full_rerun(spark, runs, change_run):
    _, _, full_cfg, _, inc, _, _ = runs
    cfg, made, result = change_run
    assert result.run.status == "succeeded"
    m = result.run.metrics
    # the same new / changed / withdrawn sets as the incremental run on the full extract
    for status in ("new", "changed", "withdrawn", "unchanged"):
        assert m[f"records_{status}"] == inc.run.metrics[f"records_{status}"], status
    assert m["records_changed"] >= CHANGED and m["records_withdrawn"] > 0
    want = expected_changes(spark, runs, made)
    assert (m["change_rows_added"], m["change_rows_updated"], m["change_rows_deleted"]) == (
        want["added"], want["updated"], want["deleted"])
    assert 0 < m["scored_pairs"] == inc.run.metrics["scored_pairs"]
    # edges changed in place: the dropped ones deleted with deletion vectors, the new appended
    assert m["edges_deleted_in_place"] > 0 and has_deletion_vectors(cfg.table_uri("edges"), spark)
    # the records MERGE marked the replaced and withdrawn rows instead of rewriting their files
    assert has_deletion_vectors(cfg.table_uri("records"), spark)
    merge = spark.sql(f"DESCRIBE HISTORY delta.`{cfg.table_uri('records')}`").where(
        "operation = 'MERGE'").first()["operationMetrics"]
    assert int(merge["numTargetDeletionVectorsAdded"]) > 0, merge
    assert result.run.table_rows["edges"] == read_published(spark, cfg.output_root)["edges"].count()
    assert_same_published(spark, cfg, full_cfg, fingerprints=False)


@pytest.mark.parametrize("recipe", ["read_published_deltalake.py", "read_published_duckdb.py",
                                    "read_published_polars.py"])
def test_documented_readers_apply_the_deletion_vectors(change_run, recipe):
    """The README's reader recipes (no Spark) count the published edges, not the rows still in
    the data files, which hold the deleted edges too."""
    import pyarrow as pa
    from deltalake import DeltaTable

    cfg, _, result = change_run
    edges = result.run.table_rows["edges"]
    in_files = pa.table(DeltaTable(cfg.table_uri("edges")).get_add_actions(flatten=True)).column("num_records")
    assert sum(in_files.to_pylist()) > edges  # deleted rows are still in the files
    out = subprocess.run([sys.executable, str(REPO / "docs/recipes" / recipe), cfg.output_root],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    assert (counts["edges"], counts["records"]) == (edges, result.run.table_rows["records"])


def test_embedded_reader_refuses_a_table_with_deletion_vectors(spark, change_run, embedded):
    """The delta-rs fallback reads a version's data files directly, which would bring back the
    rows the deletion vectors removed: it must refuse, naming the table."""
    edges = change_run[0].table_uri("edges")
    with pytest.raises(DeltaWriteError, match="deletion vectors") as e:
        read_table(spark, edges)
    assert edges in str(e.value)


def test_change_file_rows_are_all_accounted_for(spark, runs, change_run):
    cfg, made, result = change_run
    want = expected_changes(spark, runs, made)
    c = result.run.source_counts["prison"]
    assert c["rows_in"] == len(made["rows"]) == c["accepted"] + c["deleted"] + c["quarantined"]
    assert (c["added"], c["updated"], c["deleted"], c["quarantined"]) == (
        want["added"], want["updated"], want["deleted"], want["bad"] + want["natural"])
    now = read_published(spark, cfg.output_root)
    assert now["records"].where(F.col("source") == "prison").count() == c["records"] \
        == c["published"] - c["deleted"] + c["added"]
    q = now["quarantine"].where((F.col("run_id") == result.run.run_id) & (F.col("source") == "prison")) \
        .collect()
    codes: dict[str, int] = {}
    for r in q:
        if r["record_key"] not in want["natural_keys"]:
            for code in r["reason_codes"]:
                codes[code] = codes.get(code, 0) + 1
    assert codes == BAD_ROWS
    analyst = json.dumps([r.asDict() for r in q], default=str).upper()
    assert not [v for v in made["values"] if v.upper() in analyst]  # no value of a bad row


def partition(clusters, level):
    groups = clusters.groupBy(f"person_id_{level}").agg(F.sort_array(F.collect_list("record_key")).alias("k"))
    return {tuple(r["k"]) for r in groups.collect()}


def test_vacuum_leaves_no_masked_row_and_the_same_published_set(spark, runs, change_run):
    """After the deletion-vector run, rows replaced, withdrawn or dropped are masked, still in
    the data files; `bold vacuum --retain-days 0` purges them through publish: afterwards the
    files on disk hold exactly the published rows, and the set still equals the full re-run.
    (Last test using ``change_run``: it vacuums that output root.)"""
    import pyarrow.parquet as pq

    from bold_spark.retention import vacuum_output

    cfg, _, _ = change_run
    full_cfg = runs[2]

    def on_disk(table: str, column: str) -> list:
        root = Path(cfg.table_uri(table))
        return sorted(v for f in root.rglob("*.parquet") if "_delta_log" not in f.parts
                      for v in pq.read_table(f, columns=[column]).column(column).to_pylist())

    before = read_published(spark, cfg.output_root)
    keys = sorted(r[0] for r in before["records"].select("record_key").collect())
    assert on_disk("records", "record_key") != keys  # the replaced and withdrawn rows, masked
    done = {r.table: r for r in vacuum_output(spark, cfg.output_root, 0)}
    assert done["records"].purged and done["edges"].purged
    now = read_published(spark, cfg.output_root)
    assert on_disk("records", "record_key") == keys
    assert len(on_disk("edges", "record_key_l")) == now["edges"].count() == before["edges"].count()
    assert_same_published(spark, cfg, full_cfg, fingerprints=False)
