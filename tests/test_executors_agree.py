"""Local, process-pool and Ray executors store identical numbers; Ray retries lost workers."""

from __future__ import annotations

import os

import pytest

from bends.runner.config import resolve
from bends.runner.executors import LocalExecutor, ProcessExecutor, RayExecutor, make_executor
from bends.runner.store import Store
from bends.runner.sweep import run_sweep
from bends.studies import get_study

COUNT_DEPTH = ["depths=1,2,4,7", "seeds=4", "seeds_per_cell=2", "exact_depth=2"]


def results(run_dir):
    """Everything stored about the cells except timings and hosts."""
    store = Store.existing(run_dir)
    try:
        return sorted(
            (c.key, c.status, c.rows, [(v.name, v.seed, v.values.tobytes()) for v in c.curves])
            for c in store.load()
        )
    finally:
        store.close()


def sweep(name, settings, run_dir, executor):
    study = get_study(name)
    return run_sweep(study, resolve(study.Config, assignments=settings), run_dir, executor,
                     progress=False)  # fmt: skip


def test_process_pool_stores_what_the_local_executor_stores(tmp_path):
    for name, settings in [("count-depth", COUNT_DEPTH), ("selfcheck", ["seeds=4"])]:
        sweep(name, settings, tmp_path / name / "local", LocalExecutor())
        summary = sweep(name, settings, tmp_path / name / "pool", ProcessExecutor(2))
        assert summary.failed == [] and summary.ran > 0
        assert results(tmp_path / name / "pool") == results(tmp_path / name / "local")


def test_make_executor_picks_the_backend():
    assert isinstance(make_executor("local", 1), LocalExecutor)
    assert isinstance(make_executor("local", 3), ProcessExecutor)


@pytest.fixture(scope="module")
def local_ray():
    if os.environ.get("CI"):  # CI installs the cluster extra: a missing Ray is a failure there
        import ray
    else:
        ray = pytest.importorskip("ray", reason="the cluster extra is not installed")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_stores_what_the_local_executor_stores(tmp_path, local_ray):
    for name, settings in [("count-depth", COUNT_DEPTH), ("selfcheck", ["seeds=4"])]:
        sweep(name, settings, tmp_path / name / "local", LocalExecutor())
        summary = sweep(name, settings, tmp_path / name / "ray", RayExecutor())
        assert summary.failed == [] and summary.ran > 0
        assert results(tmp_path / name / "ray") == results(tmp_path / name / "local")


def test_ray_retries_a_task_whose_worker_dies(tmp_path, local_ray):
    """Each cell's first attempt kills its worker process; Ray reruns it and the sweep ends."""
    markers = tmp_path / "markers"
    settings = ["seeds=3", f"crash_marker={markers}"]
    summary = sweep("selfcheck", settings, tmp_path / "ray", RayExecutor(retries=2))
    assert summary.failed == [] and summary.ran == 3
    assert len(list(markers.iterdir())) == 3  # three first attempts did die
    local = [(k, s, rows) for k, s, rows, _ in results(tmp_path / "ray")]
    sweep("selfcheck", ["seeds=3", f"crash_marker={markers}"], tmp_path / "local", LocalExecutor())
    assert local == [(k, s, rows) for k, s, rows, _ in results(tmp_path / "local")]
