"""Typed configuration: dataset, pipeline and model configs. Errors name the file and the key."""

from bold_spark.config.datasets import CANONICAL_FIELDS, DatasetConfig, load_dataset_config
from bold_spark.config.pipeline import (
    AuditConfig,
    LinkGroupConfig,
    PipelineConfig,
    PrivacyConfig,
    SyntheticConfig,
    ThresholdsConfig,
    load_pipeline_config,
    resolve_path,
)

__all__ = [
    "CANONICAL_FIELDS",
    "AuditConfig",
    "DatasetConfig",
    "LinkGroupConfig",
    "PipelineConfig",
    "PrivacyConfig",
    "SyntheticConfig",
    "ThresholdsConfig",
    "load_dataset_config",
    "load_pipeline_config",
    "resolve_path",
]
