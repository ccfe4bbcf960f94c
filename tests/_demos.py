"""Every study's demo sweep, run once per test session and shared by the tests that read it
(the demo-metric guard and the demo report test): in subprocesses whose libraries take their
portable code paths on one thread, two at a time. ``ROOT/STUDY`` is the study's run directory,
laid out as ``bends demo --out ROOT`` lays it out, and ``ROOT/STUDY.metrics/metrics.csv`` its
exported rows.

    python tests/_demos.py --run STUDY ROOT   # one demo (what the subprocesses run)
"""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
#: The same single thread with this CPU's own vector kernels: another code path.
NATIVE = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def metrics_of(name: str, root: Path) -> Path:
    return root / f"{name}.metrics" / "metrics.csv"


def run_demo(name: str, root: Path, env: dict[str, str] = PORTABLE) -> Path:
    """``name``'s demo sweep into ``root/name`` under ``env``, exported; its metrics.csv."""
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, __file__, "--run", name, str(root)], check=True,
                   env={**os.environ, **env})  # fmt: skip
    return metrics_of(name, root)


def run_demos(names, root: Path, env: dict[str, str] = PORTABLE) -> dict[str, Path]:
    """Several demos, two subprocesses at a time (each runs on one thread)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(run_demo, name, root, env) for name in names}
    return {name: future.result() for name, future in futures.items()}


def _run(name: str, root: Path) -> None:
    from bends.runner.config import resolve
    from bends.runner.executors import LocalExecutor
    from bends.runner.export import export_run
    from bends.runner.sweep import run_sweep
    from bends.studies import STUDIES

    study = STUDIES[name]
    config = resolve(study.Config, base=study.demo)
    run_sweep(study, config, root / name, LocalExecutor(), progress=False)
    export_run(root / name, metrics_of(name, root).parent)


if __name__ == "__main__":
    _run(sys.argv[2], Path(sys.argv[3]))
