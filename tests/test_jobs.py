"""The spark-submit jobs are thin: each hands its argv to the ``bold`` command of the same name
(``bold_spark.cli.job_main``). Pure Python: Spark is replaced where a command would start it."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

from bold_spark.synthetic import ErrorRates, SyntheticSpec

REPO = Path(__file__).resolve().parents[1]

#: jobs/<file>.py -> the `bold` command it runs.
JOBS = {
    "cluster": "cluster",
    "evaluate": "evaluate",
    "generate": "generate",
    "ingest": "ingest",
    "predict": "predict",
    "report": "report",
    "run_pipeline": "run",
    "train": "train",
}


def _job(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"job_{name}", REPO / "jobs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_job_is_listed():
    assert sorted(p.stem for p in (REPO / "jobs").glob("*.py")) == sorted(JOBS)


@pytest.mark.parametrize(("name", "command"), sorted(JOBS.items()))
def test_job_runs_its_command(name, command, capsys):
    assert _job(name).main(["--help"]) == 0
    out = capsys.readouterr().out
    assert f" {command} [OPTIONS]" in out


@pytest.fixture
def generate_calls(monkeypatch):
    """What ``bold generate`` passes on, with Spark and the generator replaced."""
    calls: dict = {}
    monkeypatch.setattr("bold_spark.session.load_spark_config",
                        lambda path: calls.setdefault("spark_config", str(path)))
    monkeypatch.setattr("bold_spark.session.build_spark", lambda cfg: "spark session")

    def fake_generate(spark, spec, output):
        calls.update(spark=spark, spec=spec, output=output)
        return {"ground_truth": 0}

    monkeypatch.setattr("bold_spark.synthetic.run_generate", fake_generate)
    return calls


def test_generate_job_takes_the_options_it_always_took(generate_calls):
    rc = _job("generate").main(["--people", "123", "--seed", "7", "--output", "file:///tmp/syn",
                                "--spark-config", "conf/spark/standalone.yaml", "--no-bad-rows"])
    assert rc == 0
    assert generate_calls == {
        "spark_config": "conf/spark/standalone.yaml",
        "spark": "spark session",
        "spec": SyntheticSpec(people=123, seed=7, errors=replace(ErrorRates(), bad_rows=0.0)),
        "output": "file:///tmp/syn",
    }


def test_generate_job_defaults(generate_calls):
    assert _job("generate").main(["--output", "out"]) == 0
    assert generate_calls["spec"] == SyntheticSpec(people=2000, seed=42)
    assert generate_calls["spec"].errors.bad_rows > 0
    assert generate_calls["spark_config"] == "conf/spark/local.yaml"


def test_generate_job_rejects_a_bad_option(generate_calls):
    assert _job("generate").main(["--people", "many"]) == 2
    assert generate_calls == {}
