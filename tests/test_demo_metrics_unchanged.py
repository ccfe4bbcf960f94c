"""Every study's demo sweep exports the metric rows it exported before the refactor, byte for
byte (tests/fixtures/demo_metrics/STUDY.csv; regenerate them only when a study's numbers are
meant to change, and bump that study's version then):

    python tests/test_demo_metrics_unchanged.py STUDY [STUDY ...]

Training is chaotic in the last bits: the same float64 program on two x86 CPUs (AVX2 against
AVX-512 kernels in torch, NumPy, MKL, OpenBLAS and numba) ended with 11 pieces on one and 47
on the other. So each demo runs in a subprocess whose libraries take their portable code paths
on one thread (``PORTABLE``); the fixtures were made the same way.
"""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bends.studies import STUDIES

FIXTURES = Path(__file__).parent / "fixtures" / "demo_metrics"
DEMOS = [name for name, study in STUDIES.items() if study.demo is not None]
#: CPU dispatch pinned to code every x86-64 machine runs the same way, one thread each.
PORTABLE = {
    "ATEN_CPU_CAPABILITY": "default",
    "MKL_CBWR": "COMPATIBLE",
    "OPENBLAS_CORETYPE": "Nehalem",
    "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR",
    "NUMBA_CPU_NAME": "generic",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}


def demo_metrics(name: str, folder: Path) -> Path:
    """Run ``name``'s demo sweep under ``PORTABLE`` into ``folder``; its metrics.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, __file__, "--run", name, str(folder)], check=True,
                   env={**os.environ, **PORTABLE})  # fmt: skip
    return folder / "out" / "metrics.csv"


def _run_demo(name: str, folder: Path) -> None:
    from bends.runner.config import resolve
    from bends.runner.executors import LocalExecutor
    from bends.runner.export import export_run
    from bends.runner.sweep import run_sweep

    study = STUDIES[name]
    config = resolve(study.Config, base=study.demo)
    run_sweep(study, config, folder / "run", LocalExecutor(), progress=False)
    export_run(folder / "run", folder / "out")


def test_every_demo_study_has_a_fixture():
    assert sorted(p.stem for p in FIXTURES.glob("*.csv")) == sorted(DEMOS)


@pytest.fixture(scope="module")
def fresh_metrics(tmp_path_factory) -> dict[str, Path]:
    """Every demo's metrics.csv, two subprocesses at a time (each runs on one thread)."""
    root = tmp_path_factory.mktemp("demos")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(demo_metrics, name, root / name) for name in DEMOS}
    return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("name", DEMOS)
def test_demo_metrics_are_byte_identical(name, fresh_metrics):
    assert fresh_metrics[name].read_bytes() == (FIXTURES / f"{name}.csv").read_bytes()


if __name__ == "__main__":
    if sys.argv[1] == "--run":
        _run_demo(sys.argv[2], Path(sys.argv[3]))
    else:
        import tempfile

        for study_name in sys.argv[1:]:
            with tempfile.TemporaryDirectory() as scratch:
                fresh = demo_metrics(study_name, Path(scratch))
                (FIXTURES / f"{study_name}.csv").write_bytes(fresh.read_bytes())
                print(f"{study_name}: fixture written")
