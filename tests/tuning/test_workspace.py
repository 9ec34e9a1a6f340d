from pathlib import Path

import pytest

from bold_spark.config.pipeline import load_pipeline_config
from bold_spark.tuning.workspace import Workspace, link_group, repo_root

REPO = Path(__file__).resolve().parents[2]


def test_repo_root_is_this_work_tree():
    assert repo_root() == REPO


def test_relative_paths_are_taken_from_the_repo_root(tmp_path):
    ws = Workspace.at(tmp_path / "w", people=10, seed=3)
    assert ws.charts == tmp_path / "w" / "charts" and ws.charts.is_dir()
    assert ws.path("conf/models/rich.json") == REPO / "conf/models/rich.json"
    assert ws.path(tmp_path) == tmp_path
    assert Workspace.at(tmp_path / "w", charts=tmp_path / "c").charts == tmp_path / "c"


def test_pipeline_config_points_into_the_workspace(tmp_path):
    ws = Workspace.at(tmp_path, people=10, seed=3)
    cfg = ws.pipeline_config()
    assert cfg.input_root == str(tmp_path / "input") and cfg.output_root == str(tmp_path / "output")
    assert cfg.ground_truth == str(tmp_path / "input" / "ground_truth.parquet")
    assert all(Path(g.model).is_absolute() and Path(g.model).is_file() for g in cfg.link_groups)
    assert Path(cfg.datasets_dir) == REPO / "conf/datasets" and cfg.synthetic.people == 10
    assert load_pipeline_config(tmp_path / "pipeline.yaml") == cfg


def test_tuned_config_replaces_a_model_and_thresholds(tmp_path):
    ws = Workspace.at(tmp_path)
    assert ws.tuned_config().file == str(tmp_path / "pipeline.yaml")  # before 02 ran: the default
    model = tmp_path / "m" / "rich.json"
    model.parent.mkdir()
    for suffix in (".json", ".meta.json"):
        (model.parent / f"rich{suffix}").write_text((REPO / f"conf/models/rich{suffix}").read_text())
    ws.pipeline_config(models={"rich": model}, thresholds={"medium": 0.9}, name="pipeline-tuned.yaml")
    cfg = ws.tuned_config()
    assert link_group(cfg, "rich").model == str(model)
    assert link_group(cfg, "ndtms").model == str(REPO / "conf/models/ndtms.json")
    assert (cfg.thresholds.high, cfg.thresholds.medium, cfg.thresholds.low) == (0.99, 0.9, 0.8)
    with pytest.raises(ValueError, match="nope"):
        ws.pipeline_config(models={"nope": model})
    with pytest.raises(KeyError, match="nope"):
        link_group(cfg, "nope")


def test_key_from_the_environment_or_a_throwaway_in_the_workspace(tmp_path, monkeypatch):
    monkeypatch.delenv("BOLD_HMAC_KEY", raising=False)
    monkeypatch.delenv("BOLD_HMAC_KEY_FILE", raising=False)
    ws = Workspace.at(tmp_path)
    first = ws.key()
    assert (tmp_path / "throwaway.key").stat().st_mode & 0o077 == 0
    monkeypatch.delenv("BOLD_HMAC_KEY")
    assert ws.key().fingerprint() == first.fingerprint()  # the notebooks sharing a workspace agree
    monkeypatch.setenv("BOLD_HMAC_KEY", "a-real-key-from-the-environment-0123")
    assert ws.key().fingerprint() != first.fingerprint()
