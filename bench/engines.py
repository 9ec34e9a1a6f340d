"""One benchmark engine run per process: bold-spark, Splink on Spark, or Splink on DuckDB, on the
same standardised records (Parquet) and the same model. Prints one JSON line of results."""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import model as bench_model  # noqa: E402

THRESHOLD = 0.95


class Timer:
    def __init__(self):
        self.stages: dict[str, float] = {}

    def __call__(self, name):
        timer = self

        class _T:
            def __enter__(self):
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                timer.stages[name] = round(time.perf_counter() - self.t0, 2)

        return _T()


def spark_session(tmp: str, delta_writer: str = "auto"):
    from bold_spark.session import SparkConfig, build_spark

    return build_spark(SparkConfig(
        master="local[2]", app_name="bold-bench", checkpoint_dir=f"{tmp}/checkpoints",
        delta_writer=delta_writer,
        conf={"spark.driver.memory": os.environ.get("BENCH_DRIVER_MEMORY", "16g"),
              "spark.sql.shuffle.partitions": "8",
              "spark.ui.enabled": "false", "spark.local.dir": f"{tmp}/spark-local"},
    ))


def run_bold(records_path: str, tmp: str, clusters_out: str, blocking: str = "narrow",
             delta_writer: str = "native") -> dict:
    """bold-spark's train, predict (edges written as Delta) and cluster (clusters written as
    Delta); then, outside ``total``, the identify stage twice: a first run minting every ID, and
    a second run on the same clusters carrying them over (what a weekly run pays)."""
    from pyspark.sql import functions as F

    from bold_spark.io.delta import write_table
    from bold_spark.linkage.clustering import cluster_records
    from bold_spark.linkage.identify import assign_person_ids
    from bold_spark.linkage.model import LinkModel, ModelMeta, TrainingConfig
    from bold_spark.linkage.pairs import group_records
    from bold_spark.linkage.scope import PairScope
    from bold_spark.linkage.scoring import score_link_group
    from bold_spark.linkage.sql import needed_columns
    from bold_spark.linkage.training import train_model

    t = Timer()
    with t("setup"):
        spark = spark_session(tmp, delta_writer)
        records = spark.read.parquet(records_path).select(*bench_model.columns(blocking))
    meta = ModelMeta(["all"], TrainingConfig(
        deterministic_rules=bench_model.DETERMINISTIC_RULES, recall=bench_model.RECALL,
        em_blocking_rules=bench_model.em_rule_sql("spark", blocking), u_max_pairs=bench_model.U_MAX_PAIRS))
    model = LinkModel("bench", bench_model.settings("spark", blocking), meta)
    scope = PairScope()
    with t("train"):
        settings = model.splink_settings()
        recs = group_records(records.withColumn("source", F.lit("all")), ["all"],
                             needed_columns(settings, [*meta.training.deterministic_rules,
                                                       *meta.training.em_blocking_rules]), settings)
        trained, _ = train_model(recs, model, scope, {})
    with t("predict"):
        # as the pipeline scores a link group: the blocking pre-flight, then the pairs by the
        # path it chooses (one join of block keys or a join per rule); no cap on comparisons
        edges, _ = score_link_group(records.withColumn("source", F.lit("all")), trained, "bench", ["all"],
                                    scope, "bench")
        result = write_table(edges, f"{tmp}/edges")
    with t("cluster"):
        from bold_spark.io.delta import read_table

        e = read_table(spark, f"{tmp}/edges").select("record_key_l", "record_key_r", "match_probability")
        clusters = cluster_records(records.select("record_key", F.lit("all").alias("source")), e,
                                   {"medium": THRESHOLD}, "bench")
        write_table(clusters.select("record_key", F.col("person_id").alias("cluster_id"), "person_id_medium",
                                    "cluster_size_medium", "cluster_key_medium"), f"{tmp}/clusters")
    labelled = read_table(spark, f"{tmp}/clusters").drop("cluster_id")
    with t("identify_first"):
        stable, events = assign_person_ids(labelled, None, ["medium"], "20260101T000000Z-bench1")
        write_table(stable, f"{tmp}/ids")
        write_table(events, f"{tmp}/person_events")
    # next week's clusters (not timed): 0.2% of records withdrawn, 0.5% split off their
    # clusters, 1% new records on their own
    write_table(_next_snapshot(labelled), f"{tmp}/clusters2")
    with t("identify_carry"):
        previous = read_table(spark, f"{tmp}/ids")
        stable, events = assign_person_ids(read_table(spark, f"{tmp}/clusters2"), previous, ["medium"],
                                           "20260108T000000Z-bench2")
        write_table(stable, f"{tmp}/ids2")
        write_table(events, f"{tmp}/person_events", mode="append")
    # Outside the timed stages: the clusters as plain Parquet for the accuracy check.
    read_table(spark, f"{tmp}/clusters").select("record_key", "cluster_id") \
        .write.mode("overwrite").parquet(clusters_out)
    spark.stop()
    return {"stages": t.stages, "comparisons": result.rows}


def _next_snapshot(labelled):
    """The clusters of a second weekly run: by a hash of the record key, 0.2% of records are
    withdrawn, 0.5% split off their clusters and 1% new records arrive on their own; cluster
    sizes and smallest keys recomputed (what cluster_records would write)."""
    from pyspark.sql import functions as F

    h = F.abs(F.xxhash64("record_key")) % 1000
    kept = labelled.where(h >= 2).select(
        "record_key", F.when(h < 7, F.concat(F.lit("split:"), "record_key"))
        .otherwise(F.col("person_id_medium")).alias("person_id_medium"))
    new = labelled.where(h >= 990).select(F.concat(F.lit("new:"), "record_key").alias("record_key")) \
        .withColumn("person_id_medium", F.col("record_key"))
    rows = kept.unionByName(new)
    shape = rows.groupBy("person_id_medium").agg(
        F.count(F.lit(1)).alias("cluster_size_medium"), F.min("record_key").alias("cluster_key_medium"))
    return rows.join(shape, "person_id_medium").select(
        "record_key", "person_id_medium", "cluster_size_medium", "cluster_key_medium")


def _splink_train_predict(linker, dialect: str, blocking: str, t: Timer):
    """Splink's own calls, with the options a competent user sets for this model; returns
    (comparisons, clusters SplinkDataFrame).

    ``estimate_without_term_frequencies=True`` on every EM session: the benchmark model has no
    term-frequency adjustments, so Splink may (and a user would) run EM on the aggregated
    comparison vectors instead of iterating over every pair (the same estimator bold-spark uses;
    tests/linkage/test_training_equivalence.py). In the "tf" variant the adjustments apply to
    prediction only, as in bold-spark's training. Everything else is Splink's default."""
    with t("train"):
        linker.training.estimate_probability_two_random_records_match(
            bench_model.DETERMINISTIC_RULES, recall=bench_model.RECALL)
        linker.training.estimate_u_using_random_sampling(max_pairs=bench_model.U_MAX_PAIRS)
        for rule in bench_model.em_rules(blocking):
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True)
    with t("predict"):
        pred = linker.inference.predict()
        n = pred.as_spark_dataframe().count() if dialect == "spark" else \
            linker._db_api._execute_sql_against_backend(f"select count(*) from {pred.physical_name}").fetchall()[0][0]
    with t("cluster"):
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, THRESHOLD)
        if dialect == "spark":
            clusters.as_spark_dataframe().count()  # Splink's Spark tables are lazy until used
    return n, clusters


def run_splink_spark(records_path: str, tmp: str, clusters_out: str, blocking: str = "narrow") -> dict:
    from splink import Linker, SparkAPI

    t = Timer()
    with t("setup"):
        spark = spark_session(tmp)
        records = spark.read.parquet(records_path).select(*bench_model.columns(blocking))
        linker = Linker(SparkAPI(spark_session=spark).register(records),
                        bench_model.settings("spark", blocking), log_level=None)
    n, clusters = _splink_train_predict(linker, "spark", blocking, t)
    clusters.as_spark_dataframe().select("record_key", "cluster_id").write.mode("overwrite").parquet(clusters_out)
    spark.stop()
    return {"stages": t.stages, "comparisons": int(n)}


def run_splink_duckdb(records_path: str, tmp: str, clusters_out: str, blocking: str = "narrow") -> dict:
    import duckdb
    from splink import DuckDBAPI, Linker

    t = Timer()
    with t("setup"):
        con = duckdb.connect(f"{tmp}/bench.duckdb")
        con.execute(f"create table records as select {', '.join(bench_model.COLUMNS)} "
                    f"from read_parquet('{records_path}/*.parquet')")
        db_api = DuckDBAPI(connection=con)
        linker = Linker(db_api.register("records"), bench_model.settings("duckdb", blocking), log_level=None)
    n, clusters = _splink_train_predict(linker, "duckdb", blocking, t)
    Path(clusters_out).mkdir(parents=True, exist_ok=True)
    con.execute(f"copy (select record_key, cluster_id from {clusters.physical_name}) "
                f"to '{clusters_out}/part-0.parquet' (format parquet)")
    con.close()
    return {"stages": t.stages, "comparisons": int(n)}


ENGINES = {"bold-spark": run_bold,
           "bold-spark-embedded": lambda *a: run_bold(*a, delta_writer="embedded"),
           "splink-spark": run_splink_spark, "splink-duckdb": run_splink_duckdb}


def pairwise(clusters_path: str, truth_path: str, cluster_col: str = "cluster_id") -> dict:
    """Pairwise precision/recall/F1 of clusters (record_key, ``cluster_col``) against the truth
    (record_key, true_person), counted by aggregation in DuckDB (no pairs materialised)."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"""create view m as select c.{cluster_col} as cluster_id, t.true_person
                    from read_parquet('{clusters_path}/*.parquet') c
                    join read_parquet('{truth_path}/*.parquet') t using (record_key)""")

    def pairs(by: str) -> float:
        return con.execute(f"select coalesce(sum(n * (n - 1) / 2), 0) from "
                           f"(select count(*)::double n from m group by {by})").fetchone()[0]

    tp, pp, tt = pairs("cluster_id, true_person"), pairs("cluster_id"), pairs("true_person")
    con.close()
    p = tp / pp if pp else 1.0
    r = tp / tt if tt else 1.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def main(argv: list[str]) -> int:
    """``engines.py <engine> <records> <clusters out> [narrow|wide]``: run one engine with the
    model's narrow (default) or wide blocking rules, write its clusters as Parquet, print one JSON
    line of timings. Accuracy is computed by the caller (``pairwise``), outside the measured process."""
    engine, records_path, clusters_out, *rest = argv
    blocking = rest[0] if rest else "narrow"
    if blocking not in bench_model.BLOCKINGS:
        raise SystemExit(f"blocking must be one of {', '.join(bench_model.BLOCKINGS)}, not {blocking!r}")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("bold_spark").setLevel(logging.INFO)  # stage progress to stderr (saved by run_bench)
    with tempfile.TemporaryDirectory(prefix=f"bench-{engine}-", dir=str(Path(clusters_out).parent)) as tmp:
        out = ENGINES[engine](records_path, tmp, clusters_out, blocking)
    # train + predict + cluster (setup and the identify runs are reported apart)
    total = sum(v for k, v in out["stages"].items() if k != "setup" and not k.startswith("identify"))
    sys.stdout.write(json.dumps({"engine": engine, "blocking": blocking, "stages": out["stages"],
                                 "total_s": round(total, 2),
                                 "comparisons": out["comparisons"]}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
