"""Pipeline config defects: the config hash, ``privacy.bloom_fields``, and relative paths taken
from the config file's folder (not the working directory)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from bold_spark.config import load_pipeline_config
from bold_spark.exceptions import ConfigError

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "conf").glob("pipeline*.yaml"))


def conf_tree(root: Path) -> Path:
    """A folder holding a pipeline config that names everything relative to itself, with its
    own dataset configs, models and Spark config. Returns the pipeline config's path."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "conf/datasets", root / "datasets")
    shutil.copytree(REPO / "conf/spark", root / "spark")
    (root / "models").mkdir()
    for name in ("rich.json", "rich.meta.json"):
        shutil.copy(REPO / "conf/models" / name, root / "models" / name)
    cfg = {
        "run_name": "moved",
        "input_root": "data/in",
        "output_root": "data/out",
        "datasets_dir": "datasets",
        "sources": ["prison", "probation"],
        "link_groups": [
            {"name": "rich", "model": "models/rich.json", "sources": ["prison", "probation"]},
        ],
        "spark": "spark/local.yaml",
        "ground_truth": "data/in/ground_truth.parquet",
    }
    path = root / "pipeline.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def rewrite(path: Path, **changes) -> Path:
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture()
def elsewhere(tmp_path, monkeypatch):
    """Run from a folder that is neither the repository nor the config's folder."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return tmp_path


# ------------------------------------------------------------------ config_hash


def test_same_content_at_two_paths_has_one_hash(tmp_path):
    data = yaml.safe_load((REPO / "conf/pipeline.yaml").read_text())
    data["datasets_dir"] = str(REPO / "conf/datasets")
    for g in data["link_groups"]:
        g["model"] = str(REPO / "conf/models" / Path(g["model"]).name)
    text = yaml.safe_dump(data)
    a, b = tmp_path / "a.yaml", tmp_path / "sub" / "b.yaml"
    b.parent.mkdir()
    a.write_text(text)
    b.write_text(text)
    cfg_a, cfg_b = load_pipeline_config(a), load_pipeline_config(b)
    assert cfg_a.file != cfg_b.file
    assert cfg_a.config_hash() == cfg_b.config_hash()


def test_a_relocated_config_tree_keeps_its_hash(elsewhere):
    first = load_pipeline_config(conf_tree(elsewhere / "one"))
    moved = load_pipeline_config(conf_tree(elsewhere / "deeper" / "two"))
    assert first.datasets_dir != moved.datasets_dir  # they do read different files...
    assert first.config_hash() == moved.config_hash()  # ...with the same content


def test_hash_changes_with_settings_and_dataset_configs(elsewhere):
    path = conf_tree(elsewhere / "c")
    before = load_pipeline_config(path).config_hash()
    assert load_pipeline_config(rewrite(path, datasets_dir="./datasets/")).config_hash() == before
    assert load_pipeline_config(rewrite(path, max_comparisons=10)).config_hash() != before
    rewrite(path, max_comparisons=50_000_000)
    assert load_pipeline_config(path).config_hash() == before
    prison = path.parent / "datasets" / "prison.yaml"
    prison.write_text(prison.read_text() + "\nsnapshot_date: '2024-01-01'\n")
    assert load_pipeline_config(path).config_hash() != before


# ------------------------------------------------------------------ privacy.bloom_fields


def test_bloom_fields_are_accepted_and_reach_the_encoder(elsewhere):
    from bold_spark.privacy import pprl

    fields = ["first_name", "surname", "dob", "postcode"]
    path = rewrite(conf_tree(elsewhere / "c"), privacy={"mode": "pprl", "bloom_fields": fields})
    cfg = load_pipeline_config(path)
    assert cfg.privacy.bloom_fields == ["first_name", "surname", "dob", "postcode"]
    assert pprl.bloom_fields(cfg.privacy) == ("first_name", "surname", "dob", "postcode")


def test_bloom_fields_default_is_what_the_encoder_defaults_to(elsewhere):
    from bold_spark.privacy import pprl

    cfg = load_pipeline_config(conf_tree(elsewhere / "c"))
    assert tuple(cfg.privacy.bloom_fields) == pprl.DEFAULT_BLOOM_FIELDS


def test_bloom_field_names_are_the_encoders(elsewhere):
    from bold_spark.config.pipeline import BLOOM_FIELDS
    from bold_spark.privacy import pprl

    assert set(BLOOM_FIELDS) == set(pprl.BLOOM_SOURCES)


@pytest.mark.parametrize(("fields", "match"), [
    (["first_name", "shoe_size"], r"key 'privacy.bloom_fields\[1\]'.*shoe_size.*choose from"),
    (["surname", "surname"], r"key 'privacy.bloom_fields\[1\]'.*twice"),
    ([], r"key 'privacy.bloom_fields'.*at least one"),
    ("surname", r"key 'privacy.bloom_fields'.*must be a list"),
])
def test_bad_bloom_fields_name_the_key(elsewhere, fields, match):
    path = rewrite(conf_tree(elsewhere / "c"), privacy={"mode": "pprl", "bloom_fields": fields})
    with pytest.raises(ConfigError, match=match):
        load_pipeline_config(path)


# ------------------------------------------------------------------ relative paths


def test_relative_paths_resolve_against_the_config_folder(elsewhere):
    path = conf_tree(elsewhere / "conf")
    base = path.parent
    cfg = load_pipeline_config(path)
    assert cfg.datasets_dir == str(base / "datasets")
    assert cfg.link_groups[0].model == str(base / "models/rich.json")
    assert cfg.spark == str(base / "spark/local.yaml")
    assert cfg.ground_truth == str(base / "data/in/ground_truth.parquet")
    assert cfg.input_root == str(base / "data/in") and cfg.output_root == str(base / "data/out")
    assert cfg.table_uri("edges") == str(base / "data/out/edges")
    assert set(cfg.dataset_configs()) == {"prison", "probation"}


def test_relative_config_path_and_parent_folders(elsewhere, monkeypatch):
    conf_tree(elsewhere / "repo" / "conf")
    path = rewrite(elsewhere / "repo" / "conf" / "pipeline.yaml", input_root="../data/in")
    monkeypatch.chdir(elsewhere / "repo")
    cfg = load_pipeline_config("conf/pipeline.yaml")
    assert cfg.input_root == str(path.parent.parent / "data/in")
    assert Path(cfg.datasets_dir).is_absolute() and Path(cfg.link_groups[0].model).is_file()


def test_absolute_paths_and_uris_are_kept(elsewhere):
    path = rewrite(conf_tree(elsewhere / "c"), input_root="s3a://bucket/in", output_root="abfss://c@a.dfs/out",
                   ground_truth="file:///data/gt.parquet", datasets_dir=str(REPO / "conf/datasets"))
    cfg = load_pipeline_config(path)
    assert cfg.input_root == "s3a://bucket/in" and cfg.output_root == "abfss://c@a.dfs/out"
    assert cfg.ground_truth == "file:///data/gt.parquet"
    assert cfg.datasets_dir == str(REPO / "conf/datasets")
    assert cfg.table_uri("runs") == "abfss://c@a.dfs/out/runs"


def test_a_missing_relative_model_names_the_resolved_path(elsewhere):
    group = {"name": "rich", "model": "conf/models/rich.json", "sources": ["prison"]}
    path = rewrite(conf_tree(elsewhere / "c"), link_groups=[group])
    where = r"link_groups\[0\].model.*c/conf/models/rich.json not found.*config file's folder"
    with pytest.raises(ConfigError, match=where):
        load_pipeline_config(path)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_configs_load_from_anywhere(elsewhere, path):
    cfg = load_pipeline_config(path)
    assert cfg.datasets_dir == str(REPO / "conf/datasets")
    assert cfg.spark == str(REPO / "conf/spark/local.yaml")
    for g in cfg.link_groups:
        assert Path(g.model).is_file() and Path(g.model).parent == REPO / "conf/models"
    assert Path(cfg.input_root).is_relative_to(REPO / "data")
    assert Path(cfg.output_root).parent == REPO / "output"
    assert cfg.dataset_configs()
    assert len(cfg.config_hash()) == 64


def test_shipped_configs_read_what_they_did_from_the_repo_root(monkeypatch):
    """The shipped configs, run from the repository root as documented, name the same files and
    folders as before paths were taken from the config's folder."""
    monkeypatch.chdir(REPO)
    cfg = load_pipeline_config("conf/pipeline.yaml")
    assert cfg.input_root == str(REPO / "data/synthetic/demo")
    assert cfg.output_root == str(REPO / "output/demo")
    assert cfg.ground_truth == str(REPO / "data/synthetic/demo/ground_truth.parquet")
    assert [g.model for g in cfg.link_groups] == [str(REPO / "conf/models/rich.json"),
                                                  str(REPO / "conf/models/ndtms.json")]
    febrl = load_pipeline_config("conf/pipeline_febrl.yaml")
    assert febrl.input_root == str(REPO / "data/febrl4")
    assert febrl.output_root == str(REPO / "output/febrl4")


@pytest.mark.parametrize("scheme", ["file://", "file:"])
def test_config_read_through_a_uri_resolves_relative_paths_under_it(scheme):
    """A pipeline config on a filesystem named by URI (as s3a:// or abfss:// on a cluster):
    its relative datasets, models and roots stay URIs under the config's folder, and the
    dataset configs and models are read through the same filesystem."""
    from bold_spark.linkage.model import load_model

    uri = scheme + str(REPO / "conf/pipeline.yaml")
    cfg = load_pipeline_config(uri)
    assert cfg.datasets_dir == scheme + str(REPO / "conf/datasets")
    assert cfg.link_groups[0].model.startswith(scheme + str(REPO / "conf/models/"))
    assert cfg.output_root.startswith(scheme + str(REPO)) and ".." not in cfg.output_root
    assert set(cfg.dataset_configs()) == set(cfg.sources)
    assert load_model(cfg.link_groups[0].model).settings
    assert cfg.config_hash() == load_pipeline_config(REPO / "conf/pipeline.yaml").config_hash()


def test_missing_config_uri_names_the_uri():
    with pytest.raises(ConfigError, match="file:///nowhere/pipeline.yaml.*file not found"):
        load_pipeline_config("file:///nowhere/pipeline.yaml")
