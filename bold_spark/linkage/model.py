"""Link models: a Splink model JSON (loadable by Splink as it is) plus a sidecar of metadata.

``conf/models/<group>.json`` is exactly a Splink 5 settings/model dict, so
``splink.Linker(df, "conf/models/<group>.json")`` loads it. ``<group>.meta.json`` beside it
holds what Splink has no place for: the sources it links, how to train it, and when and on
what data it was trained.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bold_spark.config.strict import build
from bold_spark.exceptions import ConfigError
from bold_spark.io import files

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingConfig:
    """How ``bold train`` estimates the model."""

    deterministic_rules: list[str]
    recall: float = 0.8
    em_blocking_rules: list[str] = field(default_factory=list)
    u_max_pairs: int = 1_000_000
    seed: int = 1
    #: A comparison level no sampled random pair fell in gets u = min(start model's u,
    #: 1 / pairs sampled): the sample says u is about that small at most, and a start value above
    #: it would be contradicted by the sample. False keeps the start model's u as Splink does.
    cap_unobserved_u: bool = True
    #: The u of a comparison's exact-match level (``X_l = X_r`` after at most one null level
    #: ``Y_l IS NULL OR Y_r IS NULL``) is counted over every pair in scope from block sizes, and
    #: the comparison's other sampled levels scaled to the rest; False: sampled, as Splink does.
    count_exact_u: bool = True


@dataclass(frozen=True)
class ModelMeta:
    """The ``.meta.json`` sidecar: what Splink's model JSON has no place for."""

    sources: list[str]
    training: TrainingConfig
    description: str = ""
    trained: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LinkModel:
    """A link model: the Splink settings dict (as in the JSON file), its metadata, its path."""

    path: str
    settings: dict[str, Any]  # Splink settings dict
    meta: ModelMeta

    @property
    def version(self) -> str:
        """Content hash of the Splink model: changes whenever parameters change."""
        blob = json.dumps(self.settings, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    @property
    def content_hash(self) -> str:
        """sha256 of the Splink model (the run record's ``model_hashes``)."""
        blob = json.dumps(self.settings, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()

    def splink_settings(self):
        """The model as Splink's Settings object (Spark SQL dialect)."""
        from splink import SettingsCreator

        return SettingsCreator.from_path_or_dict(copy.deepcopy(self.settings)).get_settings("spark")

    @property
    def is_trained(self) -> bool:
        """The model was trained (its metadata holds a training record)."""
        return bool(self.meta.trained)


def meta_path(model_path: str | Path) -> str:
    """The sidecar ``<stem>.meta.json`` beside a model (a local path or a URI)."""
    return files.sibling(str(model_path), files.stem(str(model_path)) + ".meta.json")


def load_model(path: str | Path) -> LinkModel:
    """Read a model (Splink JSON + its ``.meta.json``) from a local path or a URI.

    Parameters:
        path: the model JSON; its metadata is ``<stem>.meta.json`` beside it.

    Returns the model, checked: Splink accepts its settings, and its unique id column is
    ``record_key``.

    Raises:
        ConfigError: naming the file: either file missing or not JSON, metadata with unknown
            or missing keys, settings Splink rejects, another unique id column.
    """
    path = str(path)
    if not files.exists(path):
        raise ConfigError(path, "<file>", "model file not found")
    try:
        settings = json.loads(files.read_text(path))
    except json.JSONDecodeError as e:
        raise ConfigError(path, "<file>", f"not valid JSON: {e}") from e
    mpath = meta_path(path)
    if not files.exists(mpath):
        raise ConfigError(mpath, "<file>", f"model metadata for {files.stem(path)} not found")
    try:
        meta_raw = json.loads(files.read_text(mpath))
    except json.JSONDecodeError as e:
        raise ConfigError(mpath, "<file>", f"not valid JSON: {e}") from e
    meta = build(ModelMeta, meta_raw, str(mpath))
    model = LinkModel(path, settings, meta)
    try:
        model.splink_settings()
    except Exception as e:
        raise ConfigError(str(path), "<splink settings>", f"Splink rejects the model: {e}") from e
    if settings.get("unique_id_column_name") != "record_key":
        raise ConfigError(str(path), "unique_id_column_name", "must be 'record_key'")
    return model


def save_model(model: LinkModel, path: str | Path) -> str:
    """Write the Splink JSON and its sidecar metadata (a local path or a URI).

    Parameters:
        model: the model to write.
        path: where the JSON goes; ``<stem>.meta.json`` is written beside it.

    Returns ``path`` as a string.
    """
    from dataclasses import asdict

    path = str(path)
    files.write_text(path, json.dumps(model.settings, indent=2) + "\n")
    files.write_text(meta_path(path), json.dumps(asdict(model.meta), indent=2, default=str) + "\n")
    logger.info("model written to %s (version %s)", path, model.version)
    return path
