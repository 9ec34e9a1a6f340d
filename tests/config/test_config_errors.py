"""Config errors name the file and the key."""

from pathlib import Path

import pytest
import yaml

from bold_spark.config import load_dataset_config, load_pipeline_config
from bold_spark.exceptions import ConfigError

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path, name, data) -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data))
    return p


def shipped_pipeline() -> dict:
    """conf/pipeline.yaml's content with its paths absolute (as if written elsewhere)."""
    base = yaml.safe_load((REPO / "conf/pipeline.yaml").read_text())
    base["datasets_dir"] = str(REPO / "conf" / base["datasets_dir"])
    for g in base["link_groups"]:
        g["model"] = str(REPO / "conf" / g["model"])
    return base


def good_dataset() -> dict:
    return {"path": "x.csv", "format": "csv", "record_id": "ID",
            "columns": {"surname": "SN", "dob": "DOB"}}


def test_shipped_dataset_configs_load():
    for path in sorted((REPO / "conf/datasets").glob("*.yaml")):
        cfg = load_dataset_config(path)
        assert cfg.name == path.stem
        assert cfg.record_id


def test_shipped_pipeline_config_loads(monkeypatch):
    monkeypatch.chdir(REPO)
    cfg = load_pipeline_config("conf/pipeline.yaml")
    assert set(cfg.sources) == {"ndtms", "prison", "probation", "benefits", "homelessness"}
    assert len(cfg.config_hash()) == 64


def test_unknown_key_names_file_and_key(tmp_path):
    p = write(tmp_path, "bad.yaml", {**good_dataset(), "colums": {}})
    with pytest.raises(ConfigError) as e:
        load_dataset_config(p)
    assert str(p) in str(e.value) and "colums" in str(e.value) and "unknown key" in str(e.value)


def test_missing_required_key(tmp_path):
    data = good_dataset()
    del data["record_id"]
    p = write(tmp_path, "noid.yaml", data)
    with pytest.raises(ConfigError, match=r"noid.yaml: key 'record_id': required key is missing"):
        load_dataset_config(p)


def test_mapping_to_unknown_canonical_field(tmp_path):
    data = good_dataset()
    data["columns"]["shoe_size"] = "SS"
    with pytest.raises(ConfigError, match=r"columns.shoe_size"):
        load_dataset_config(write(tmp_path, "d.yaml", data))


def test_wrong_type_and_bad_format(tmp_path):
    with pytest.raises(ConfigError, match=r"key 'columns': must be a mapping"):
        load_dataset_config(write(tmp_path, "d.yaml", {**good_dataset(), "columns": ["a"]}))
    with pytest.raises(ConfigError, match=r"key 'format'"):
        load_dataset_config(write(tmp_path, "e.yaml", {**good_dataset(), "format": "xlsx"}))


def test_mandatory_field_must_be_mapped(tmp_path):
    with pytest.raises(ConfigError, match=r"key 'mandatory'.*sex"):
        load_dataset_config(write(tmp_path, "d.yaml", {**good_dataset(), "mandatory": ["sex"]}))


def test_pipeline_errors_name_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = shipped_pipeline()
    bad = {**base, "thresholds": {"high": 0.5, "medium": 0.9, "low": 0.8}}
    with pytest.raises(ConfigError, match=r"key 'thresholds'"):
        load_pipeline_config(write(tmp_path, "p.yaml", bad))
    bad = {**base, "driver_clustering_max_edges": -1}
    with pytest.raises(ConfigError, match=r"key 'driver_clustering_max_edges'"):
        load_pipeline_config(write(tmp_path, "p1.yaml", bad))
    bad = {**base, "link_groups": [{**base["link_groups"][0], "sources": ["nowhere"]}]}
    with pytest.raises(ConfigError, match=r"link_groups\[0\].sources.*nowhere"):
        load_pipeline_config(write(tmp_path, "p2.yaml", bad))
    bad = {**base, "link_groups": [{**base["link_groups"][0], "model": "conf/models/none.json"}]}
    with pytest.raises(ConfigError, match=r"link_groups\[0\].model"):
        load_pipeline_config(write(tmp_path, "p3.yaml", bad))
    bad = {**base, "audit": {"max_withdrawn_share": 1.5}}
    with pytest.raises(ConfigError, match=r"key 'audit.max_withdrawn_share': must be a share"):
        load_pipeline_config(write(tmp_path, "p4.yaml", bad))
    bad = {**base, "audit": {"max_quarantined_share": -0.1}}
    with pytest.raises(ConfigError, match=r"key 'audit.max_quarantined_share': must be a share"):
        load_pipeline_config(write(tmp_path, "p5.yaml", bad))


def test_pairs_scored_by_two_groups_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = shipped_pipeline()
    groups = [dict(base["link_groups"][0]), {**base["link_groups"][1], "anchor_sources": []}]
    with pytest.raises(ConfigError, match=r"more than one group"):
        load_pipeline_config(write(tmp_path, "p.yaml", {**base, "link_groups": groups}))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"file not found"):
        load_dataset_config(tmp_path / "nope.yaml")


def test_one_record_per_person_is_a_boolean(tmp_path):
    assert load_dataset_config(write(tmp_path, "d.yaml", good_dataset())).one_record_per_person is False
    ok = load_dataset_config(write(tmp_path, "o.yaml", {**good_dataset(), "one_record_per_person": True}))
    assert ok.one_record_per_person is True
    with pytest.raises(ConfigError, match=r"b.yaml: key 'one_record_per_person'"):
        load_dataset_config(write(tmp_path, "b.yaml", {**good_dataset(), "one_record_per_person": "yes"}))


@pytest.mark.parametrize(("value", "tables"), [
    (False, set()), (True, {"records", "edges"}), (["records"], {"records"}), ([], set()),
    (["edges", "records"], {"records", "edges"})])
def test_deletion_vectors_names_tables(tmp_path, monkeypatch, value, tables):
    monkeypatch.chdir(tmp_path)
    cfg = load_pipeline_config(write(tmp_path, "p.yaml", {
        **shipped_pipeline(), "incremental": {"deletion_vectors": value}}))
    assert cfg.incremental.deletion_vector_tables == tables


@pytest.mark.parametrize("value", ["records", ["clusters"], 1])
def test_deletion_vectors_refuses_other_values(tmp_path, monkeypatch, value):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"p.yaml: key 'incremental.deletion_vectors'"):
        load_pipeline_config(write(tmp_path, "p.yaml", {
            **shipped_pipeline(), "incremental": {"deletion_vectors": value}}))
