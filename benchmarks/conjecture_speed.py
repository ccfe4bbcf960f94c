"""The conjecture sweep's speed: k = 1..16 × 64 seeds, training and counting, on 2 workers.

    python benchmarks/conjecture_speed.py [--workers 2] [--seeds 64] [--quick] [--out DIR]

Two tables in one run:

1. the gradient of the squared loss of f_k(W, ·) for w = 7, n = 256: the hand back-propagated
   NumPy gradient of :mod:`bends.training.tied` against PyTorch autograd on the same forward pass
   (the obvious way to write it), for one W and for 16 W at once, with the largest difference
   relative to the largest gradient entry;
2. the full ``conjecture`` study on its defaults (gradient flow, evaluation budget 3000)
   through the platform's process pool: wall time, CPU time in the cells, and per k the
   median seconds per run and the stop reasons. Goal: ≤ 5 minutes wall on 2 cores.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from bends.runner.config import resolve
from bends.runner.executors import ProcessExecutor
from bends.runner.store import Store
from bends.runner.sweep import run_sweep
from bends.studies.conjecture import Conjecture
from bends.training.tied import TiedProblem, outputs


def best_of(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def autograd_gradient(problem: TiedProblem, weight: np.ndarray) -> np.ndarray:
    tensor = torch.from_numpy(weight).requires_grad_()
    out = outputs(tensor, torch.from_numpy(problem.inputs), problem.steps)
    torch.mean((out - torch.from_numpy(problem.y)) ** 2, dim=-1).sum().backward()
    return tensor.grad.numpy()


def gradient_table(console: Console, repeats: int) -> None:
    table = Table(title="gradient of L(W), w = 7, n = 256 (best of repeats, ms)")
    for column in ("k", "batch", "bends NumPy", "torch autograd", "speed-up", "max rel. diff"):
        table.add_column(column, justify="right")
    rng = np.random.default_rng(0)
    for k in (4, 16):
        problem = TiedProblem.from_target("cantor", 7, k, 256)
        for batch in (1, 16):
            weight = (
                rng.standard_normal((batch, 7, 7)) if batch > 1 else rng.standard_normal((7, 7))
            )
            ours = best_of(lambda p=problem, w=weight: p.loss_and_gradient(w), repeats)
            theirs = best_of(lambda p=problem, w=weight: autograd_gradient(p, w), repeats)
            ours_gradient = problem.loss_and_gradient(weight)[1]
            diff = np.abs(ours_gradient - autograd_gradient(problem, weight)).max()
            relative = diff / np.abs(ours_gradient).max()
            table.add_row(
                str(k),
                str(batch),
                f"{ours * 1e3:.3f}",
                f"{theirs * 1e3:.3f}",
                f"{theirs / ours:.1f}x",
                f"{relative:.1e}",
            )
    console.print(table)


def sweep_table(
    console: Console, workers: int, seeds: int, steps: list[int], out: Path | None
) -> None:
    study = Conjecture()
    config = resolve(study.Config, assignments=[f"seeds={seeds}", f"steps={steps}"])
    with tempfile.TemporaryDirectory() as scratch:
        directory = out or Path(scratch)
        start = time.perf_counter()
        run_sweep(study, config, directory, ProcessExecutor(workers), fresh=True)
        wall = time.perf_counter() - start
        store = Store.existing(directory)
        try:
            cells = store.load(study.cells(config))
        finally:
            store.close()
    table = Table(
        title=f"conjecture study: k = {steps[0]}..{steps[-1]} × {seeds} seeds, {workers} workers"
    )
    for column in ("k", "runs", "cell s (sum)", "s per run", "stopped"):
        table.add_column(column, justify="right")
    cpu = 0.0
    for k in sorted(steps):
        mine = [c for c in cells if c.params["k"] == k]
        seconds = sum(c.seconds or 0.0 for c in mine)
        cpu += seconds
        rows = [r for c in mine for r in c.rows]
        stops = [r["stopped"] for r in rows]
        table.add_row(
            str(k),
            str(len(rows)),
            f"{seconds:.1f}",
            f"{seconds / len(rows):.3f}",
            ", ".join(f"{s} {stops.count(s)}" for s in sorted(set(stops))),
        )
    console.print(table)
    console.print(f"wall {wall:.1f} s for {cpu:.1f} s of cell time; goal ≤ 300 s wall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="k = 1..4, 8 seeds")
    parser.add_argument("--out", type=Path, help="keep the sweep here (then: bends report OUT)")
    args = parser.parse_args()
    console = Console()
    gradient_table(console, repeats=3 if args.quick else 50)
    steps = list(range(1, 5)) if args.quick else list(range(1, 17))
    sweep_table(console, args.workers, 8 if args.quick else args.seeds, steps, args.out)


if __name__ == "__main__":
    main()
