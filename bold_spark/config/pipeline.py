"""Pipeline config (conf/pipeline*.yaml): which sources, which link groups, where outputs go.

Relative local paths in a pipeline config (``input_root``, ``output_root``, ``datasets_dir``,
``spark``, ``ground_truth`` and each link group's ``model``) are relative to the folder of the
config file, whatever the working directory; the loader stores them absolute. Absolute paths
and URIs (anything with a scheme: ``s3a://``, ``abfss://``, ``file:/``, ``dbfs:/``) are kept as
written, ``~`` is expanded.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from bold_spark.config.datasets import DatasetConfig, load_dataset_config
from bold_spark.config.strict import build, read_yaml
from bold_spark.exceptions import ConfigError
from bold_spark.io import files
from bold_spark.io.files import is_uri


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
    """Match-probability thresholds of the three clusterings (``person_id_<level>``)."""

    high: float = 0.99
    medium: float = 0.95
    low: float = 0.80


#: Fields PPRL mode can encode as Bloom filters (the keys of ``privacy.pprl.BLOOM_SOURCES``;
#: a test keeps the two equal: config stays importable without Spark).
BLOOM_FIELDS = ("first_name", "surname", "middle_names", "dob", "postcode")
DEFAULT_BLOOM_FIELDS = ("first_name", "surname")


@dataclass(frozen=True)
class PrivacyConfig:
    """Where the key comes from, and PPRL mode's Bloom-filter settings (docs/privacy.md)."""

    mode: str = "plaintext"  # plaintext | pprl
    key_env: str = "BOLD_HMAC_KEY"
    key_file_env: str = "BOLD_HMAC_KEY_FILE"
    # The key the published set was made with, read only by a key rotation (bold run --rotate-key).
    previous_key_env: str = "BOLD_HMAC_PREVIOUS_KEY"
    previous_key_file_env: str = "BOLD_HMAC_PREVIOUS_KEY_FILE"
    bloom_filter_bits: int = 1024
    bloom_filter_hashes: int = 20
    # Fields encoded as Bloom filters in PPRL mode (privacy/pprl.py; docs/privacy.md).
    bloom_fields: list[str] = field(default_factory=lambda: list(DEFAULT_BLOOM_FIELDS))


@dataclass(frozen=True)
class SyntheticConfig:
    """The synthetic population ``bold demo`` generates for this config. ``difficulty`` is the
    generator's preset: one of :data:`SYNTHETIC_DIFFICULTIES` (docs/synthetic.md)."""

    people: int = 2000
    seed: int = 42
    difficulty: str = "standard"


#: ``bold_spark.synthetic.spec.DIFFICULTIES`` (not imported: the synthetic package loads Spark;
#: tests/synthetic keeps the two equal).
SYNTHETIC_DIFFICULTIES = ("standard", "realistic")


@dataclass(frozen=True)
class AuditConfig:
    """Checks a run must pass before it is published (bold_spark/publish.py)."""

    max_cluster_size: int = 500  # largest medium-threshold cluster before the run is refused
    max_id_churn: float = 0.05  # share of records whose person id changed since the last publish
    # share of a full-extract source's published records absent from this run (withdrawn, or
    # the whole source dropped from the config): a truncated or failed extract retires IDs
    # without changing any ID the churn measures
    max_withdrawn_share: float = 0.2
    # share of a source's rows this run quarantined: a delivery gone wrong (a date format or
    # layout changed, a truncated file) would otherwise publish without those records
    max_quarantined_share: float = 0.05


#: The tables an incremental run may change in place with deletion vectors.
DELETION_VECTOR_TABLES = ("records", "edges")


@dataclass(frozen=True)
class IncrementalConfig:
    """``bold run --incremental`` (bold_spark/linkage/incremental.py)."""

    # Relative change of a value's term frequency above which the pairs of records holding it
    # are rescored; a kept edge's weight is off a full re-run's by at most -log2(1 - this) bits
    # per term-frequency comparison, and kept edges that close to a threshold are rescored too.
    tf_tolerance: float = 0.05
    # Native writer only: the tables named (``[records]``, ``[edges]``, both; ``true`` = both,
    # ``false`` = none) get Delta deletion vectors, and an incremental run MERGEs the changed
    # records / deletes the dropped edges and appends the new ones without rewriting every file
    # that holds a changed row; `bold vacuum` purges the deletion vectors before it deletes old
    # files. Readers of those tables must then apply deletion vectors (Spark with Delta,
    # delta-rs ``DeltaTable.scan``); off by default for plain-Parquet readers.
    deletion_vectors: Any = False

    @property
    def deletion_vector_tables(self) -> frozenset[str]:
        """The tables ``deletion_vectors`` names (validated by the loader)."""
        dv = self.deletion_vectors
        if isinstance(dv, bool) or dv is None:
            return frozenset(DELETION_VECTOR_TABLES) if dv else frozenset()
        return frozenset(dv)


@dataclass(frozen=True)
class ReportConfig:
    """The linkage quality and bias report (bold_spark/report/, docs/report.md)."""

    bias_gap_pp: float = 2.0  # flag groups whose rate is further than this from the overall rate
    min_count: int = 10  # groups with fewer records get no rate and no flag
    level: str = "medium"  # the threshold link rates and bias are measured at


@dataclass(frozen=True)
class PipelineConfig:
    """A pipeline config as loaded by :func:`load_pipeline_config` (paths made absolute)."""

    input_root: str
    output_root: str
    sources: list[str]
    link_groups: list[LinkGroupConfig]
    run_name: str = "bold"
    datasets_dir: str = "datasets"  # beside the config file, as conf/pipeline.yaml has it
    max_comparisons: int = 50_000_000
    # Per-block cap (0 = off): training's blocking joins skip a rule's blocks of more records
    # than this (a placeholder DOB shared by thousands), with a warning (docs/bad_input.md).
    max_block_size: int = 0
    thresholds: ThresholdsConfig = field(default_factory=ThresholdsConfig)
    # Clusters are solved on the driver when at most this many edges reach the low threshold
    # (about 70 bytes of driver memory each), by label propagation in Spark above it; 0 = always Spark.
    driver_clustering_max_edges: int = 20_000_000
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    spark: str = "spark/local.yaml"
    ground_truth: str | None = None
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    incremental: IncrementalConfig = field(default_factory=IncrementalConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    # The restricted (linkage) zone: quarantined rows' raw values, never beside the analyst
    # tables. Default: a sibling of output_root named <output_root>_restricted.
    restricted_root: str | None = None
    file: str = ""
    # Path keys as written in the file (``input_root``, ``link_groups[0].model``...), before the
    # loader made them absolute: ``config_hash`` hashes these. Not a YAML key; set by the loader.
    written_paths: dict[str, str] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    def table_uri(self, table: str) -> str:
        """The URI of output table ``table`` under ``output_root``."""
        return join_uri(self.output_root, table)

    def restricted_uri(self, table: str) -> str:
        """The URI of restricted-zone table ``table`` (raw values of quarantined rows)."""
        root = self.restricted_root or self.output_root.rstrip("/") + "_restricted"
        return join_uri(root, table)

    def dataset_configs(self) -> dict[str, DatasetConfig]:
        """Source name -> its dataset config, loaded from ``datasets_dir``.

        Raises:
            ConfigError: a source has no dataset config, or its config is invalid.
        """
        out = {}
        for name in self.sources:
            path = join_uri(self.datasets_dir, f"{name}.yaml")
            if not files.exists(path):
                hint = self._relative_hint("datasets_dir")
                raise ConfigError(self.file, "sources",
                                  f"no dataset config {path} for '{name}'{hint}")
            out[name] = load_dataset_config(path)
        return out

    def source_uri(self, dataset: DatasetConfig) -> str:
        """Where a dataset's extract is: its ``path`` under ``input_root``."""
        return join_uri(self.input_root, dataset.path)

    def config_hash(self) -> str:
        """sha256 of what the config says: every setting of the pipeline config and the content
        of every dataset config it uses, not where the files are.

        Config file paths are left out, and paths are hashed as written (normalised: ``./a/``
        is ``a``), so the same config at two paths hashes alike, as does a folder of configs
        moved or checked out elsewhere (its relative paths are relative to the config's
        folder). Which data a run read is in the run record's ``inputs``, and which models in
        ``model_hashes``."""
        pipeline = asdict(self)
        pipeline.pop("file")
        written = pipeline.pop("written_paths")
        for key in PATH_KEYS:
            if key in written:
                pipeline[key] = _normalised(written[key])
        for i, group in enumerate(pipeline["link_groups"]):
            if (model := written.get(f"link_groups[{i}].model")) is not None:
                group["model"] = _normalised(model)
        datasets = {name: {k: v for k, v in asdict(ds).items() if k != "file"}
                    for name, ds in self.dataset_configs().items()}
        payload = {"pipeline": pipeline, "datasets": datasets}
        blob = json.dumps(payload, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()

    def _relative_hint(self, key: str) -> str:
        written = self.written_paths.get(key)
        if written is None or is_uri(written) or Path(written).expanduser().is_absolute():
            return ""
        return (f" ('{written}' in the config: relative paths are taken from the config file's"
                " folder)")


#: Top-level keys holding a local path or URI (with each link group's ``model``).
PATH_KEYS = ("input_root", "output_root", "datasets_dir", "spark", "ground_truth", "restricted_root")



def resolve_path(path: str, base: str | Path) -> str:
    """A config path made absolute against the config file's folder.

    Parameters:
        path: a path as written in a config (relative, absolute, ``~``, or a URI).
        base: the folder relative paths are taken from.

    Returns the absolute path (``~`` expanded, ``..`` folded, links not followed); an absolute
    path stays as it is and a URI as written.
    """
    if is_uri(path):
        return path
    if is_uri(str(base)):
        return _join_uri(str(base), path)
    return os.path.normpath(os.path.join(os.path.abspath(base), os.path.expanduser(path)))


def _join_uri(base: str, path: str) -> str:
    """``path`` (relative) under the folder URI ``base``, ``..`` folded within the URI's path."""
    if path.startswith("/"):
        return path
    scheme, sep, rest = base.partition("://")
    if sep:  # scheme://authority/folder
        authority, _, folder = rest.partition("/")
        return f"{scheme}://{authority}{posixpath.normpath(posixpath.join('/' + folder, path))}"
    scheme, _, folder = base.partition(":")  # file:/folder
    return f"{scheme}:{posixpath.normpath(posixpath.join(folder, path))}"


def _normalised(path: str) -> str:
    return path if is_uri(path) else posixpath.normpath(path)


def _resolve_paths(cfg: PipelineConfig, base: str) -> PipelineConfig:
    """``cfg`` with every relative path key made absolute against ``base``, remembering what
    was written (for ``config_hash`` and error messages)."""
    written = {k: getattr(cfg, k) for k in PATH_KEYS if getattr(cfg, k) is not None}
    written.update({f"link_groups[{i}].model": g.model for i, g in enumerate(cfg.link_groups)})
    resolved = replace(
        cfg,
        **{k: resolve_path(v, base) for k, v in written.items() if k in PATH_KEYS},
        link_groups=[replace(g, model=resolve_path(g.model, base)) for g in cfg.link_groups],
    )
    object.__setattr__(resolved, "written_paths", written)  # frozen; set once, by the loader
    return resolved


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
    _validate_bloom_fields(f, cfg.privacy.bloom_fields)
    if not files.is_dir(cfg.datasets_dir):
        hint = cfg._relative_hint("datasets_dir")
        raise ConfigError(f, "datasets_dir", f"folder {cfg.datasets_dir} not found{hint}")
    if cfg.audit.max_cluster_size < 1:
        raise ConfigError(f, "audit.max_cluster_size", "must be >= 1")
    if not 0 <= cfg.audit.max_id_churn <= 1:
        raise ConfigError(f, "audit.max_id_churn", "must be a share between 0 and 1")
    if not 0 <= cfg.audit.max_withdrawn_share <= 1:
        raise ConfigError(f, "audit.max_withdrawn_share", "must be a share between 0 and 1")
    if not 0 <= cfg.audit.max_quarantined_share <= 1:
        raise ConfigError(f, "audit.max_quarantined_share", "must be a share between 0 and 1")
    if not 0 <= cfg.incremental.tf_tolerance < 1:
        raise ConfigError(f, "incremental.tf_tolerance", "must be a share between 0 and 1")
    dv = cfg.incremental.deletion_vectors
    if not (isinstance(dv, bool) or dv is None or (
            isinstance(dv, list) and all(t in DELETION_VECTOR_TABLES for t in dv))):
        raise ConfigError(f, "incremental.deletion_vectors",
                          f"must be true, false or a list of {', '.join(DELETION_VECTOR_TABLES)}; got {dv!r}")
    if not cfg.report.bias_gap_pp > 0:
        raise ConfigError(f, "report.bias_gap_pp", "must be > 0 (percentage points)")
    if cfg.report.min_count < 1:
        raise ConfigError(f, "report.min_count", "must be >= 1")
    if cfg.synthetic.difficulty not in SYNTHETIC_DIFFICULTIES:
        raise ConfigError(f, "synthetic.difficulty",
                          f"must be one of {', '.join(SYNTHETIC_DIFFICULTIES)}, "
                          f"got {cfg.synthetic.difficulty!r}")
    if cfg.report.level not in ThresholdsConfig.__dataclass_fields__:
        raise ConfigError(f, "report.level", "must be one of high, medium, low")
    if cfg.driver_clustering_max_edges < 0:
        raise ConfigError(f, "driver_clustering_max_edges",
                          "must be >= 0 (0 = always cluster in Spark)")
    if cfg.max_block_size < 0 or cfg.max_block_size == 1:
        raise ConfigError(f, "max_block_size",
                          "must be 0 (off) or at least 2 (records in a block)")
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
        if not files.exists(g.model):
            raise ConfigError(f, f"{key}.model",
                              f"model file {g.model} not found{cfg._relative_hint(f'{key}.model')}")
    _check_pairs_scored_once(cfg)
    return cfg


def _validate_bloom_fields(f: str, fields: list[str]) -> None:
    if not fields:
        raise ConfigError(f, "privacy.bloom_fields",
                          f"list at least one field (default: {', '.join(DEFAULT_BLOOM_FIELDS)})")
    for i, name in enumerate(fields):
        if name not in BLOOM_FIELDS:
            raise ConfigError(f, f"privacy.bloom_fields[{i}]",
                              f"'{name}' cannot be encoded; choose from {', '.join(BLOOM_FIELDS)}")
        if name in fields[:i]:
            raise ConfigError(f, f"privacy.bloom_fields[{i}]", f"'{name}' is listed twice")


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
    """Load and validate a pipeline YAML.

    Parameters:
        path: the config file.
        overrides: top-level keys that win over the file's (their relative paths, too, are
            taken from the config file's folder).

    Returns the config with every relative path made absolute against the config file's folder
    (see the module docstring).

    Raises:
        ConfigError: naming the file and the key: unknown or missing keys, wrong types, a model
            file or the datasets folder not found, invalid settings.
    """
    path = str(path)
    data = read_yaml(path)
    data.update(overrides or {})
    cfg = build(PipelineConfig, {**data, "file": path}, path)
    return _validate(_resolve_paths(cfg, files.parent(path)))
