"""Every study's demo sweep exports the metric rows it exported before the refactor, byte for
byte (tests/fixtures/demo_metrics/STUDY.csv; regenerate them only when a study's numbers are
meant to change, and bump that study's version then)."""

from pathlib import Path

import pytest

from bends.runner.config import resolve
from bends.runner.executors import LocalExecutor
from bends.runner.export import export_run
from bends.runner.sweep import run_sweep
from bends.studies import STUDIES

FIXTURES = Path(__file__).parent / "fixtures" / "demo_metrics"
DEMOS = [name for name, study in STUDIES.items() if study.demo is not None]


def test_every_demo_study_has_a_fixture():
    assert sorted(p.stem for p in FIXTURES.glob("*.csv")) == sorted(DEMOS)


@pytest.mark.parametrize("name", DEMOS)
def test_demo_metrics_are_byte_identical(name, tmp_path):
    study = STUDIES[name]
    config = resolve(study.Config, base=study.demo)
    run_sweep(study, config, tmp_path / "run", LocalExecutor(), progress=False)
    (metrics,) = [p for p in export_run(tmp_path / "run", tmp_path / "out") if p.stem == "metrics"]
    assert metrics.read_bytes() == (FIXTURES / f"{name}.csv").read_bytes()
