"""Pipeline config (conf/pipeline*.yaml): which sources, which link groups, where outputs go."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bold_spark.config.datasets import DatasetConfig, load_dataset_config
from bold_spark.config.strict import build, read_yaml
from bold_spark.exceptions import ConfigError


@dataclass(frozen=True)
class LinkGroupConfig:
    """Sources linked under one model. With ``anchor_sources`` set, only pairs that include a
    record from an anchor source are scored (a low-information source linked to the rest)."""

    name: str
    model: str
    sources: list[str]
    anchor_sources: list[str] = field(default_factory=list)
    link_only: bool = False  # only pairs of records from different sources


@dataclass(frozen=True)
class ThresholdsConfig:
    high: float = 0.99
    medium: float = 0.95
    low: float = 0.80


@dataclass(frozen=True)
class PrivacyConfig:
    mode: str = "plaintext"  # plaintext | pprl
    key_env: str = "BOLD_HMAC_KEY"
    key_file_env: str = "BOLD_HMAC_KEY_FILE"
    bloom_filter_bits: int = 1024
    bloom_filter_hashes: int = 20


@dataclass(frozen=True)
class SyntheticConfig:
    people: int = 2000
    seed: int = 42


@dataclass(frozen=True)
class PipelineConfig:
    input_root: str
    output_root: str
    sources: list[str]
    link_groups: list[LinkGroupConfig]
    run_name: str = "bold"
    datasets_dir: str = "conf/datasets"
    max_comparisons: int = 50_000_000
    thresholds: ThresholdsConfig = field(default_factory=ThresholdsConfig)
    # Clusters are solved on the driver when at most this many edges reach the low threshold
    # (about 70 bytes of driver memory each), by label propagation in Spark above it; 0 = always Spark.
    driver_clustering_max_edges: int = 20_000_000
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    spark: str = "conf/spark/local.yaml"
    ground_truth: str | None = None
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    file: str = ""

    def table_uri(self, table: str) -> str:
        return join_uri(self.output_root, table)

    def dataset_configs(self) -> dict[str, DatasetConfig]:
        out = {}
        for name in self.sources:
            path = Path(self.datasets_dir) / f"{name}.yaml"
            if not path.is_file():
                raise ConfigError(self.file, "sources", f"no dataset config {path} for '{name}'")
            out[name] = load_dataset_config(path)
        return out

    def source_uri(self, dataset: DatasetConfig) -> str:
        return join_uri(self.input_root, dataset.path)

    def config_hash(self) -> str:
        """sha256 of the pipeline config and every dataset config it uses."""
        payload = {"pipeline": asdict(self), "datasets": {}}
        payload.pop("file", None)
        for name, ds in self.dataset_configs().items():
            payload["datasets"][name] = asdict(ds)
        blob = json.dumps(payload, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()


def is_uri(path: str) -> bool:
    return "://" in path


def join_uri(root: str, path: str) -> str:
    """Join ``path`` under ``root`` unless ``path`` is absolute or a URI."""
    if is_uri(path) or path.startswith("/"):
        return path
    return root.rstrip("/") + "/" + path


def _validate(cfg: PipelineConfig) -> PipelineConfig:
    f = cfg.file
    if not cfg.sources:
        raise ConfigError(f, "sources", "at least one source is required")
    if cfg.privacy.mode not in ("plaintext", "pprl"):
        raise ConfigError(f, "privacy.mode", "must be 'plaintext' or 'pprl'")
    if cfg.driver_clustering_max_edges < 0:
        raise ConfigError(f, "driver_clustering_max_edges", "must be >= 0 (0 = always cluster in Spark)")
    t = cfg.thresholds
    if not (0 < t.low <= t.medium <= t.high < 1):
        raise ConfigError(f, "thresholds", "need 0 < low <= medium <= high < 1")
    names = set()
    for i, g in enumerate(cfg.link_groups):
        key = f"link_groups[{i}]"
        if g.name in names:
            raise ConfigError(f, f"{key}.name", f"duplicate link group '{g.name}'")
        names.add(g.name)
        for s in [*g.sources, *g.anchor_sources]:
            if s not in cfg.sources:
                raise ConfigError(f, f"{key}.sources", f"'{s}' is not in the pipeline's sources")
        if not Path(g.model).is_file() and not is_uri(g.model):
            raise ConfigError(f, f"{key}.model", f"model file {g.model} not found")
    _check_pairs_scored_once(cfg)
    return cfg


def _group_scores_pair(g: LinkGroupConfig, a: str, b: str) -> bool:
    if a not in g.sources or b not in g.sources or (g.link_only and a == b):
        return False
    return not g.anchor_sources or a in g.anchor_sources or b in g.anchor_sources


def _check_pairs_scored_once(cfg: PipelineConfig) -> None:
    for i, a in enumerate(cfg.sources):
        for b in cfg.sources[i:]:
            groups = [g.name for g in cfg.link_groups if _group_scores_pair(g, a, b)]
            if len(groups) > 1:
                raise ConfigError(
                    cfg.file, "link_groups",
                    f"pairs {a}-{b} would be scored by more than one group: {groups}",
                )


def load_pipeline_config(path: str | Path, overrides: dict | None = None) -> PipelineConfig:
    """Load a pipeline YAML. ``overrides`` (top-level keys) win over the file."""
    path = Path(path)
    data = read_yaml(path)
    data.update(overrides or {})
    cfg = build(PipelineConfig, {**data, "file": str(path)}, str(path))
    return _validate(cfg)
