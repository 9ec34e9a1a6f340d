"""Typed configuration: dataset, pipeline and model configs. Errors name the file and the key."""

from bold_spark.config.datasets import CANONICAL_FIELDS, DatasetConfig, load_dataset_config
from bold_spark.config.pipeline import LinkGroupConfig, PipelineConfig, load_pipeline_config

__all__ = [
    "CANONICAL_FIELDS",
    "DatasetConfig",
    "LinkGroupConfig",
    "PipelineConfig",
    "load_dataset_config",
    "load_pipeline_config",
]
