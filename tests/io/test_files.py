"""Configs and models through URIs (file:// here; s3://, gs://, hdfs:// by the same code)."""

import json
from pathlib import Path

import pytest

from bold_spark.exceptions import ConfigError
from bold_spark.io import files
from bold_spark.linkage.model import load_model, save_model

REPO = Path(__file__).resolve().parents[2]


def test_text_round_trip_through_a_file_uri(tmp_path):
    uri = f"file://{tmp_path}/a/b/c.json"
    assert not files.exists(uri)
    files.write_text(uri, '{"x": 1}')
    assert files.exists(uri) and json.loads(files.read_text(uri)) == {"x": 1}
    assert (tmp_path / "a/b/c.json").is_file()
    with pytest.raises(FileNotFoundError):
        files.read_text(f"file://{tmp_path}/missing.json")


def test_model_saved_to_and_loaded_from_a_uri(tmp_path):
    model = load_model(REPO / "conf/models/febrl.json")
    uri = f"file://{tmp_path}/models/febrl.json"
    assert save_model(model, uri) == uri
    assert (tmp_path / "models/febrl.meta.json").is_file()
    again = load_model(uri)
    assert again.settings == model.settings and again.version == model.version
    with pytest.raises(ConfigError, match="model file not found"):
        load_model(f"file://{tmp_path}/models/other.json")
