"""Write, audit, publish, tried as a user would: `bold run` processes killed with SIGKILL (the
JVM included) at several points, a second run while one holds the lock, a failing audit, and
the published set read back by Spark, delta-rs, DuckDB and Polars in plain subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from deltalake import DeltaTable
from pyspark.sql import functions as F

from bold_spark.config.pipeline import load_pipeline_config
from bold_spark.exceptions import StageError
from bold_spark.io.delta import read_table
from bold_spark.pipeline import run_cluster, run_pipeline
from bold_spark.privacy.keys import load_key
from bold_spark.publish import (
    RunLockedError,
    acquire_lock,
    lock_holder,
    published_set,
    read_published,
    release_lock,
)

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "docs/recipes"
PEOPLE = 150
KEY = "publish-test-key-" + "1" * 32

pytestmark = pytest.mark.e2e


def write_configs(tmp: Path, **overrides) -> Path:
    base = yaml.safe_load((REPO / "conf/pipeline.yaml").read_text())
    spark_cfg = tmp / "spark.yaml"
    spark_cfg.write_text(yaml.safe_dump({
        "master": "local[2]", "app_name": "bold-publish-test",
        "conf": {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2",
                 "spark.ui.enabled": "false", "spark.driver.memory": "1g"},
    }))
    base.update(
        input_root=str(tmp / "input"), output_root=str(tmp / "output"),
        datasets_dir=str(REPO / "conf/datasets"), ground_truth=None, spark=str(spark_cfg),
    )
    # two sources and one link group: what is under test is the run lifecycle, not linkage
    base["sources"] = ["prison", "probation"]
    base["link_groups"] = [{"name": "rich", "model": str(REPO / "conf/models/rich.json"),
                            "sources": ["prison", "probation"]}]
    base.update(overrides)
    path = tmp / f"pipeline-{len(overrides)}.yaml"
    path.write_text(yaml.safe_dump(base))
    return path


@pytest.fixture(scope="module")
def published(spark, tmp_path_factory):
    from bold_spark.synthetic import SyntheticSpec, run_generate

    os.environ["BOLD_HMAC_KEY"] = KEY
    tmp = tmp_path_factory.mktemp("publish")
    run_generate(spark, SyntheticSpec(people=PEOPLE, seed=5), str(tmp / "input"))
    cfg_path = write_configs(tmp)
    cfg = load_pipeline_config(cfg_path)
    result = run_pipeline(spark, cfg, load_key())
    return tmp, cfg_path, cfg, result


def contents(spark, cfg) -> dict[str, int]:
    """Rows of each table of the published set, read through the documented Spark call."""
    return {t: df.count() for t, df in read_published(spark, cfg.output_root).items()}


def start_run(cfg_path: Path, command: str = "run") -> subprocess.Popen:
    env = {**os.environ, "BOLD_HMAC_KEY": KEY, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "bold_spark.cli", command, "-c", str(cfg_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
        start_new_session=True,  # its own process group: the JVM dies with it
    )


def wait_for(proc: subprocess.Popen, marker: str, timeout: float = 240) -> list[str]:
    seen, t0 = [], time.monotonic()
    while time.monotonic() - t0 < timeout:
        line = proc.stderr.readline()
        if not line:
            raise AssertionError(f"run ended before '{marker}':\n" + "".join(seen[-30:]))
        seen.append(line)
        if marker in line:
            return seen
    raise AssertionError(f"no '{marker}' within {timeout}s")


def kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


def run_recipe(name: str, root: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, str(RECIPES / name), root, *args],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def unreferenced_files(root: str) -> list[str]:
    """Parquet files under each table that no Delta version references (checked with delta-rs,
    independently of bold-spark's own clean-up)."""
    orphans = []
    for table in sorted(p for p in Path(root).iterdir() if (p / "_delta_log").is_dir()):
        dt = DeltaTable(str(table))
        referenced = set()
        for v in range(dt.version() + 1):
            referenced |= {os.path.normpath(u) for u in DeltaTable(str(table), version=v).file_uris()}
        on_disk = {os.path.normpath(str(f)) for f in table.rglob("*.parquet")
                   if not any(part.startswith(("_", ".")) for part in f.relative_to(table).parts)}
        orphans += sorted(on_disk - referenced)
    return orphans


@pytest.mark.parametrize("command, marker", [
    # during predict: records committed to their table but not published, edges being written.
    # (Kills during ingest and during cluster, dropped to keep the suite short, interrupt the
    # same kinds of state on other tables: a write with data files and no commit, earlier
    # tables committed and unpublished.)
    ("run", "[predict] started"),
    # after the last write (clusters, person_events appended), before the publish commit; a
    # `bold cluster` re-run gets there in a third of a whole run's time
    ("cluster", "[audit] started"),
])
def test_killed_run_leaves_the_published_set_as_it_was(spark, published, command, marker):
    _, cfg_path, cfg, _ = published
    before_set = published_set(spark, cfg.output_root)
    before = contents(spark, cfg)
    proc = start_run(cfg_path, command)
    try:
        wait_for(proc, marker)
        if marker == "[predict] started":
            # a second run while this one holds the lock is refused, naming the holder
            holder = lock_holder(spark, cfg.output_root)
            with pytest.raises(RunLockedError, match=f"run {holder['run_id']}"):
                run_pipeline(spark, cfg, load_key())
        time.sleep(0.5 if marker != "[audit] started" else 0)
    finally:
        kill(proc)
    assert published_set(spark, cfg.output_root) == before_set
    assert contents(spark, cfg) == before


def test_after_killed_runs_readers_see_the_old_set_and_the_next_run_recovers(spark, published):
    _, _, cfg, first = published
    current = published_set(spark, cfg.output_root)
    expected = dict(sorted(current.rows.items()))
    # plain readers, in their own processes, follow `published` to the same set
    for recipe in ("read_published_deltalake.py", "read_published_duckdb.py", "read_published_polars.py"):
        assert run_recipe(recipe, cfg.output_root) == expected, recipe
    # the killed runs' lock is stale (their process is gone): the next run (any stage) takes it
    # over, marks the killed runs abandoned and deletes what they wrote
    assert lock_holder(spark, cfg.output_root) is not None
    result = run_cluster(spark, cfg)
    assert result.run.status == "succeeded"
    assert published_set(spark, cfg.output_root).seq == current.seq + 1
    assert lock_holder(spark, cfg.output_root) is None
    runs = read_table(spark, cfg.table_uri("runs"))
    abandoned = runs.where("status = 'abandoned'").count()
    assert abandoned == 2, runs.select("run_id", "status").collect()
    unfinished = runs.groupBy("run_id").agg(F.max(F.col("status") != "running").alias("ended"))
    assert unfinished.where("not ended").count() == 0
    assert unreferenced_files(cfg.output_root) == []
    # earlier sets stay readable by run id (time travel through `published`)
    assert run_recipe("read_published_deltalake.py", cfg.output_root, first.run.run_id) == expected


def test_failed_audit_publishes_nothing(spark, published):
    tmp, _, _, _ = published
    cfg = load_pipeline_config(write_configs(tmp, audit={"max_cluster_size": 1}))
    before = published_set(spark, cfg.output_root)
    with pytest.raises(StageError) as e:
        run_cluster(spark, cfg)  # re-clusters the published records and edges, then audits
    assert "audit.max_cluster_size" in str(e.value)
    assert published_set(spark, cfg.output_root) == before
    last = read_table(spark, cfg.table_uri("runs")).orderBy(F.col("finished_at").desc_nulls_last()).first()
    assert last["status"] == "audit_failed" and last["failed_stage"] == "audit"
    assert "max_cluster_size" in last["error"]
    # a task of a failed run's aborted job can create a file after that run's own clean-up (seen
    # on the standalone cluster: a 0-byte part file): the next run sweeps the failed run again.
    # Stamped inside the failed run's time, well before the next run starts, so only that
    # sweep (not the next run's clean-up of its own writes) can remove it.
    straggler = tmp / "output/edges/part-00000-straggler-of-failed-run.snappy.parquet"
    straggler.touch()
    inside = last["started_at"].timestamp() + (last["finished_at"] - last["started_at"]).total_seconds() / 2
    os.utime(straggler, (inside, inside))
    good = load_pipeline_config(write_configs(tmp))
    assert run_cluster(spark, good).run.status == "succeeded"
    assert not straggler.exists()
    assert unreferenced_files(good.output_root) == []


def test_run_with_another_key_is_refused_and_publishes_nothing(spark, published):
    """A run whose key is not the published set's would re-key every record and mint every
    person ID again while the churn (over records in both runs) read 0%: it is refused."""
    from bold_spark.exceptions import KeyMismatchError
    from bold_spark.privacy.keys import SecretKey

    tmp, _, cfg, _ = published
    before = published_set(spark, cfg.output_root)
    other = SecretKey(b"another-publish-test-key-" + b"2" * 32)
    with pytest.raises(KeyMismatchError) as e:
        run_pipeline(spark, cfg, other)
    msg = str(e.value)
    assert load_key().fingerprint() in msg and other.fingerprint() in msg and "BOLD_HMAC_KEY" in msg
    assert published_set(spark, cfg.output_root) == before
    last = read_table(spark, cfg.table_uri("runs")).orderBy(F.col("finished_at").desc_nulls_last()).first()
    assert last["status"] == "failed" and "KeyMismatchError" in last["error"]
    assert KEY not in last["error"] and other.fingerprint() in last["error"]
    # nothing written but the run record (a failed run's own `runs` append can leave a file the
    # next run sweeps, as after the failed audit above)
    assert [f for f in unreferenced_files(cfg.output_root) if "/runs/" not in f] == []


def test_key_rotation_keys_every_record_again_and_keeps_every_person_id(spark, published):
    """`bold run --rotate-key` (run_pipeline with previous_key) on a copy of the published set:
    every record key changes, every person ID stays, with only `kept` events and 0% churn; the
    old key is refused afterwards, the new one runs as usual, and a wrong previous key is
    refused naming all three fingerprints."""
    import shutil

    from bold_spark.exceptions import KeyMismatchError
    from bold_spark.privacy.keys import SecretKey

    tmp, _, cfg, _ = published
    shutil.copytree(cfg.output_root, tmp / "rotated")
    rot = load_pipeline_config(write_configs(tmp, output_root=str(tmp / "rotated")))
    old, new = load_key(), SecretKey(b"rotated-publish-test-key-" + b"3" * 32)
    levels = ("high", "medium", "low")

    def state():
        c = read_published(spark, rot.output_root)["clusters"].collect()
        return ({r["record_key"] for r in c},
                {lv: sorted((r[f"person_id_{lv}"], r["source"]) for r in c) for lv in levels})

    keys_before, ids_before = state()
    wrong = SecretKey(b"wrong-previous-test-key-" + b"4" * 32)
    with pytest.raises(KeyMismatchError) as e:
        run_pipeline(spark, rot, new, previous_key=wrong)
    assert all(k.fingerprint() in str(e.value) for k in (old, new, wrong))
    with pytest.raises(StageError, match="RunModeError: a key rotation .* full run"):
        run_pipeline(spark, rot, new, incremental=True, previous_key=old)
    last = read_table(spark, rot.table_uri("runs")).orderBy(F.col("finished_at").desc_nulls_last()).first()
    assert "RunModeError: a key rotation (--rotate-key)" in last["error"]  # shown, not withheld

    res = run_pipeline(spark, rot, new, previous_key=old)
    assert res.run.status == "succeeded" and res.run.metrics["key_rotated"] == 1.0
    keys_after, ids_after = state()
    assert len(keys_after) == len(keys_before) and not keys_after & keys_before  # all re-keyed
    assert ids_after == ids_before  # every record's person ID, at every threshold, kept
    ev = read_published(spark, rot.output_root)["person_events"].where(
        F.col("run_id") == res.run.run_id).collect()
    assert {r["event"] for r in ev} == {"kept"}
    assert len(ev) == sum(len({pid for pid, _ in ids_before[lv]}) for lv in levels)
    assert all(res.run.metrics[f"id_churn_{lv}"] == 0.0 for lv in levels)
    records = read_published(spark, rot.output_root)["records"]
    assert records.where(F.col("first_seen_run_id") == res.run.run_id).count() == 0  # carried over
    with pytest.raises(KeyMismatchError):
        run_pipeline(spark, rot, old)  # the old key no longer fits the published set
    again = run_pipeline(spark, rot, new)  # the new one does, as an ordinary run
    assert again.run.status == "succeeded" and "key_rotated" not in again.run.metrics
    assert state() == (keys_after, ids_after)


def test_a_source_dropped_or_truncated_fails_the_audit(spark, published):
    """A run without one of the published sources (dropped from the config, or its extract
    truncated) would withdraw its records and retire their IDs while the ID churn, over records
    in both runs, read 0%: the audit refuses it above audit.max_withdrawn_share, naming the
    source and counts; with the limit raised the withdrawal is published."""
    import shutil

    from bold_spark.exceptions import AuditError

    tmp, _, cfg, _ = published
    shutil.copytree(cfg.output_root, tmp / "dropped")
    one = {"sources": ["prison"], "output_root": str(tmp / "dropped"),
           "link_groups": [{"name": "rich", "model": str(REPO / "conf/models/rich.json"), "sources": ["prison"]}]}
    drop = load_pipeline_config(write_configs(tmp, **one))
    before = published_set(spark, drop.output_root)
    n = read_published(spark, drop.output_root)["records"].where(F.col("source") == "probation").count()
    assert n > 0
    with pytest.raises(StageError) as e:
        run_pipeline(spark, drop, load_key())
    assert isinstance(e.value.__cause__, AuditError)
    msg = str(e.value)
    assert f"source probation: {n} of its {n} published records (100.0%) are withdrawn" in msg
    assert "not in this run's config" in msg and "audit.max_withdrawn_share = 20%" in msg
    assert "source prison" not in msg
    assert published_set(spark, drop.output_root) == before
    allowed = load_pipeline_config(write_configs(tmp, **one, audit={"max_withdrawn_share": 1.0}))
    res = run_pipeline(spark, allowed, load_key())
    assert res.run.metrics["withdrawn_probation"] == res.run.metrics["published_before_probation"] == n
    assert res.run.metrics["withdrawn_prison"] == 0
    assert read_published(spark, drop.output_root)["records"].where(F.col("source") == "probation").count() == 0


def test_live_lock_is_refused_and_released(spark, tmp_path):
    root = str(tmp_path / "out")
    acquire_lock(spark, root, "run-a")
    with pytest.raises(RunLockedError, match="run run-a"):
        acquire_lock(spark, root, "run-b")  # this process is alive: not stale
    release_lock(spark, root, "run-a")
    acquire_lock(spark, root, "run-b")
    assert lock_holder(spark, root)["run_id"] == "run-b"
    release_lock(spark, root, "run-b")


def test_clean_orphans_removes_only_uncommitted_files(spark, writer, tmp_path):
    import datetime as dt
    import shutil

    from bold_spark.io.delta import write_table
    from bold_spark.publish import clean_orphans

    root = str(tmp_path / "out")
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    write_table(spark.range(5).toDF("id"), f"{root}/records")
    committed = sorted(p for p in (tmp_path / "out/records").rglob("*.parquet")
                       if "_delta_log" not in p.parts)
    stray = tmp_path / "out/records/part-99999-killed-write.snappy.parquet"
    shutil.copy(committed[0], stray)  # what a write cut off before its commit leaves
    assert clean_orphans(spark, root, started) == 1
    assert not stray.exists() and all(p.exists() for p in committed)
    assert read_table(spark, f"{root}/records").count() == 5


def test_a_source_with_many_quarantined_rows_fails_the_audit(spark, published):
    """A delivery gone wrong (a date format changed, a truncated file) quarantines a large share
    of a source's rows; published, the run would leave those people out without a word. The
    audit refuses it above audit.max_quarantined_share (default 5%), naming the source, counts and
    reason codes (no value); with the limit raised the run publishes."""
    from bold_spark.exceptions import AuditError
    from bold_spark.synthetic import ErrorRates, SyntheticSpec, run_generate

    tmp, _, _, _ = published
    run_generate(spark, SyntheticSpec(people=PEOPLE, seed=6, errors=ErrorRates(bad_rows=0.25)),
                 str(tmp / "input-bad"))
    roots = {"input_root": str(tmp / "input-bad"), "output_root": str(tmp / "output-bad")}
    cfg = load_pipeline_config(write_configs(tmp, **roots))
    with pytest.raises(StageError) as e:
        run_pipeline(spark, cfg, load_key())
    assert isinstance(e.value.__cause__, AuditError)
    msg = str(e.value)
    assert published_set(spark, cfg.output_root) is None  # nothing was published
    runs = read_table(spark, cfg.table_uri("runs")).where(F.col("status") == "audit_failed").collect()
    assert len(runs) == 1
    counts = json.loads(runs[0]["source_counts"])
    for source in ("prison", "probation"):
        c = counts[source]
        assert c["quarantined"] / c["rows_in"] > 0.05
        assert (f"source {source}: {c['quarantined']} of its {c['rows_in']} rows "
                f"({c['quarantined'] / c['rows_in']:.1%}) were quarantined (") in msg
    assert "unparseable_dob" in msg and "audit.max_quarantined_share = 5%" in msg
    allowed = load_pipeline_config(write_configs(tmp, **roots, audit={"max_quarantined_share": 0.5}))
    assert run_pipeline(spark, allowed, load_key()).run.status == "succeeded"


def test_the_quarantine_audit_names_only_its_own_sources_reasons():
    """Reason counts are looked up per known code: a source whose name starts another's
    (prison, prison_legacy) never shows the other's reasons."""
    from bold_spark.runs import reason_metric
    from bold_spark.stages.audit import quarantine_problems

    counts = {"prison": {"rows_in": 100, "quarantined": 20},
              "prison_legacy": {"rows_in": 100, "quarantined": 1}}
    metrics = {reason_metric("prison", "unparseable_dob"): 20.0,
               reason_metric("prison_legacy", "duplicate_id"): 1.0}
    out = quarantine_problems(counts, metrics, 0.05)
    assert out == [out[0]] and out[0].startswith(
        "source prison: 20 of its 100 rows (20.0%) were quarantined (unparseable_dob 20; limit")


def test_first_published_names_the_publish_that_made_each_version(spark, tmp_path):
    """``first_published``: the seq of the first publish naming each table's version, so a
    run can tell that the published clusters are older than the published edges."""
    from bold_spark.publish import first_published, publish

    root = str(tmp_path / "out")
    publish(spark, root, "r1", "t:run", {"records": 0, "edges": 0, "clusters": 0}, {}, ["run"])
    publish(spark, root, "r2", "t:predict", {"edges": 1}, {}, ["predict"])
    publish(spark, root, "r3", "t:vacuum", {"records": 1}, {}, ["vacuum"])
    assert first_published(spark, root, {"records": 1, "edges": 1, "clusters": 0}) == {
        "records": 3, "edges": 2, "clusters": 1}
    assert first_published(spark, root, {"edges": 7}) == {}
