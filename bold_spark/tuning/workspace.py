"""A notebook's working folder: synthetic extracts, a pipeline config pointing into it, Delta
outputs, charts, and a throwaway key, shared by the three tuning notebooks.

Layout under ``root``::

    input/                 synthetic extracts + ground_truth.parquet (+ _spec.json)
    output/                records, quarantine, edges, clusters, runs (+ _ingested.json)
    pipeline.yaml          conf/pipeline.yaml with paths into this folder
    pipeline-tuned.yaml    the same with a tuned model and thresholds (written by 02_tune_model)
    charts/                saved charts (unless another folder is given)
    throwaway.key          only when no key is set: a random key for synthetic data
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

import bold_spark
from bold_spark.config.pipeline import (
    LinkGroupConfig,
    PipelineConfig,
    load_pipeline_config,
    resolve_path,
)
from bold_spark.io.delta import table_exists
from bold_spark.privacy.keys import SecretKey, generate_key_text, load_key
from bold_spark.session import SparkConfig, load_spark_config

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

SPEC_MARKER = "_spec.json"
INGEST_MARKER = "_ingested.json"
TUNED_CONFIG = "pipeline-tuned.yaml"


def repo_root() -> Path:
    """The repository this package is installed from (editable install: the work tree)."""
    root = Path(bold_spark.__file__).resolve().parents[1]
    if not (root / "conf" / "pipeline.yaml").is_file():
        raise FileNotFoundError(f"{root} has no conf/pipeline.yaml: pass repo= explicitly")
    return root


def _absolute(path: str | Path, base: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


@dataclass(frozen=True)
class Workspace:
    """A notebook's working folder (layout in the module docstring); make one with :meth:`at`."""

    root: Path
    repo: Path
    people: int = 2000
    seed: int = 42
    charts_dir: Path | None = None

    @classmethod
    def at(cls, workdir: str | Path, people: int = 2000, seed: int = 42,
           charts: str | Path | None = None, repo: str | Path | None = None) -> Workspace:
        """Relative paths are taken from the repository root, not the notebook's folder."""
        repo_path = Path(repo).resolve() if repo else repo_root()
        root = _absolute(workdir, repo_path)
        root.mkdir(parents=True, exist_ok=True)
        charts_path = _absolute(charts, repo_path) if charts else root / "charts"
        charts_path.mkdir(parents=True, exist_ok=True)
        return cls(root, repo_path, int(people), int(seed), charts_path)

    @property
    def input_root(self) -> Path:
        """Where the synthetic extracts and their ground truth are."""
        return self.root / "input"

    @property
    def output_root(self) -> Path:
        """Where the pipeline's Delta tables go."""
        return self.root / "output"

    @property
    def charts(self) -> Path:
        """Where saved charts go."""
        return self.charts_dir or self.root / "charts"

    @property
    def ground_truth(self) -> Path:
        """The synthetic population's ground truth (parquet)."""
        from bold_spark.synthetic import GROUND_TRUTH_PATH

        return self.input_root / GROUND_TRUTH_PATH

    def path(self, relative: str | Path) -> Path:
        """A path given relative to the repository root, made absolute."""
        return _absolute(relative, self.repo)

    # ------------------------------------------------------------ Spark and key

    def spark_config(self, spark_yaml: str = "conf/spark/local.yaml") -> SparkConfig:
        """The repository's Spark config with its checkpoint and warehouse dirs in the workspace."""
        cfg = load_spark_config(self.path(spark_yaml))
        conf = {
            "spark.sql.debug.maxToStringFields": "500",  # wide pair rows: no plan-truncation warnings
            "spark.sql.warehouse.dir": str(self.root / "spark-warehouse"),  # not in the notebook folder
            **cfg.conf,
        }
        return replace(cfg, conf=conf, checkpoint_dir=str(self.root / "checkpoints"))

    def key(self) -> SecretKey:
        """The key from ``$BOLD_HMAC_KEY``/``$BOLD_HMAC_KEY_FILE``; when neither is set, a random
        throwaway key kept in this workspace (synthetic data only), so that the notebooks sharing
        it hash record keys alike. It is also put in ``$BOLD_HMAC_KEY`` for this process."""
        if not (os.environ.get("BOLD_HMAC_KEY") or os.environ.get("BOLD_HMAC_KEY_FILE")):
            path = self.root / "throwaway.key"
            if not path.is_file():
                path.touch(mode=0o600)
                path.write_text(generate_key_text())
                logger.warning("no key set: created a throwaway key in %s (synthetic data only)", path)
            os.environ["BOLD_HMAC_KEY"] = path.read_text().strip()
        return load_key()

    # ------------------------------------------------------------ pipeline config

    def pipeline_config(
        self,
        models: dict[str, str | Path] | None = None,
        thresholds: dict[str, float] | None = None,
        name: str = "pipeline.yaml",
        base: str = "conf/pipeline.yaml",
    ) -> PipelineConfig:
        """Write ``base`` with every path made absolute and pointing into this workspace, link
        groups' models replaced by ``models`` (group name -> model JSON), and load it. (``base``
        is relative to the repository root; the paths inside it to its own folder.)"""
        base_path = self.path(base)
        data: dict[str, Any] = yaml.safe_load(base_path.read_text())
        defaults = {f.name: f.default for f in fields(PipelineConfig)}

        def beside_base(key: str) -> str:
            return resolve_path(data.get(key, defaults[key]), base_path.parent)

        data.update(
            run_name="notebooks",
            input_root=str(self.input_root),
            output_root=str(self.output_root),
            datasets_dir=beside_base("datasets_dir"),
            spark=beside_base("spark"),
            ground_truth=str(self.ground_truth),
            synthetic={"people": self.people, "seed": self.seed},
        )
        models = {k: str(self.path(v)) for k, v in (models or {}).items()}
        unknown = set(models) - {g["name"] for g in data["link_groups"]}
        if unknown:
            raise ValueError(f"no link group named {sorted(unknown)} in {base}")
        for g in data["link_groups"]:
            g["model"] = models.get(g["name"], resolve_path(g["model"], base_path.parent))
        if thresholds:
            data["thresholds"] = {**data.get("thresholds", {}), **{k: float(v) for k, v in thresholds.items()}}
        path = self.root / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return load_pipeline_config(path)

    def tuned_config(self) -> PipelineConfig:
        """The config 02_tune_model wrote (tuned model, chosen thresholds), else the default one."""
        path = self.root / TUNED_CONFIG
        return load_pipeline_config(path) if path.is_file() else self.pipeline_config()

    # ------------------------------------------------------------ data, made once

    def ensure_population(self, spark: SparkSession) -> bool:
        """Generate the synthetic extracts unless this workspace already has them for the same
        population size and seed. Returns True when it generated them."""
        from bold_spark.synthetic import SyntheticSpec, run_generate

        marker = self.input_root / SPEC_MARKER
        spec = {"people": self.people, "seed": self.seed}
        if marker.is_file() and json.loads(marker.read_text()) == spec and self.ground_truth.exists():
            logger.info("reusing the synthetic population in %s", self.input_root)
            return False
        marker.unlink(missing_ok=True)
        counts = run_generate(spark, SyntheticSpec(people=self.people, seed=self.seed), str(self.input_root))
        marker.write_text(json.dumps(spec))
        logger.info("generated %s", counts)
        return True

    def ensure_records(self, spark: SparkSession, cfg: PipelineConfig, key: SecretKey) -> bool:
        """Run the ingest stage unless ``records`` was ingested from this population with this
        key. Returns True when it ran."""
        from bold_spark.pipeline import run_ingest

        self.ensure_population(spark)
        marker = self.output_root / INGEST_MARKER
        stamp = {"people": self.people, "seed": self.seed, "key": key.fingerprint()}
        if (marker.is_file() and json.loads(marker.read_text()) == stamp
                and table_exists(cfg.table_uri("records"), spark)):
            logger.info("reusing the records table in %s", cfg.output_root)
            return False
        marker.unlink(missing_ok=True)
        run_ingest(spark, cfg, key)
        marker.write_text(json.dumps(stamp))
        return True

    def ensure_edges(self, spark: SparkSession, cfg: PipelineConfig, key: SecretKey) -> bool:
        """Records, then the predict stage unless ``edges`` exists. Returns True when it ran."""
        from bold_spark.pipeline import run_predict

        ran = self.ensure_records(spark, cfg, key)
        if not ran and table_exists(cfg.table_uri("edges"), spark):
            return False
        run_predict(spark, cfg)
        return True


def link_group(cfg: PipelineConfig, name: str) -> LinkGroupConfig:
    """The link group called ``name`` in ``cfg``; KeyError naming the groups there if none."""
    for g in cfg.link_groups:
        if g.name == name:
            return g
    raise KeyError(f"no link group '{name}' in {cfg.file} (have {[g.name for g in cfg.link_groups]})")
