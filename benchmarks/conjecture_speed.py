"""The conjecture study's speed and its flows: today's flow beside the SciPy one, on 2 workers.

    python benchmarks/conjecture_speed.py [--workers 2] [--quick] [--steps 4,8,16,32]
                                          [--skip-full] [--tolerances-only] [--tolerance 1e-2]
                                          [--out DIR]

Three tables in one run:

1. the gradient of the squared loss of f_k(W, ·) for w = 7, n = 256: the hand back-propagated
   NumPy gradient of :mod:`bends.training.tied` against PyTorch autograd on the same forward
   pass, for one W and for 16 W at once, with the largest difference relative to the largest
   gradient entry;
2. the same runs (data sets staircase and control, width 7, n = 4w², k = 4, 8, 16, 32, 16
   seeds) trained by the flow the study used when its issue was filed (``trainer=flow``: SciPy
   RK23, 3000 evaluations, flow time 100), by the flow followed to its end zig-zagging across
   switching surfaces (``slide=false``, the study's flow before issue 35) and sliding along
   them (today's default) at its default tolerance and at half of it: per trainer the cell
   seconds, how the live runs ended (by a criterion or by a budget) and E[pieces | live];
   between the two tolerances, per k, how often a run keeps its end (pieces exactly, loss to
   10⁻³ relative; issue 35's goal: ≥ 90 %);
3. the full ``conjecture`` study on its defaults (five data sets, widths 4, 7, 10, k ≤ 32)
   through the process pool: wall time, cell time, and how the live runs ended. Goals: ≤ 60
   minutes wall on 2 cores, ≤ 5 % of the live runs of every cell ended on the step budget.
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


#: How a live run ends by a criterion rather than a budget, per trainer.
LIVE_ENDS = {"limit": ("threshold", "critical", "kink", "stalled"), "flow": ("threshold",)}


def run_study(config, workers: int, out: Path | None):
    """The study's cells on ``config`` through the process pool: (cells, wall seconds)."""
    study = Conjecture()
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
    return cells, wall


def live_rows(cells):
    return [r for c in cells for r in c.rows if r["live_init"]]


def flows_table(
    console: Console, workers: int, steps: str, tolerances_only: bool, tolerance: float
) -> None:
    sample = ["datasets=staircase,control", "widths=7", "seeds=16", f"steps={steps}"]
    variants = {
        "flow (SciPy RK23, the filed default)": [*sample, "trainer=flow"],
        "limit, zig-zag across surfaces (slide=false)": [*sample, "trainer=limit",
                                                         "slide=false"],
        f"limit, sliding, tolerance {tolerance:g}": [*sample, "trainer=limit",
                                                     f"tolerance={tolerance!r}"],
        f"limit, sliding, tolerance {tolerance / 2:g}": [*sample, "trainer=limit",
                                                         f"tolerance={tolerance / 2!r}"],
    }  # fmt: skip
    if tolerances_only:
        variants = dict(list(variants.items())[2:])
    table = Table(title=f"the same runs, {len(variants)} flows (staircase + control data, width 7)")
    for column in ("trainer", "live runs", "ended by a criterion", "by a budget",
                   "E[pieces | live]", "cell s", "wall s"):  # fmt: skip
        table.add_column(column, justify="right")
    ends = {}
    for name, assignments in variants.items():
        config = resolve(Conjecture.Config, assignments=assignments)
        cells, wall = run_study(config, workers, None)
        rows = live_rows(cells)
        ended = LIVE_ENDS[config.trainer]
        criterion = np.mean([r["stopped"] in ended for r in rows])
        ends[name] = {(r["dataset"], r["k"], r["seed"]): r for r in rows}
        table.add_row(name, str(len(rows)), f"{criterion:.0%}", f"{1 - criterion:.0%}",
                      f"{np.mean([r['pieces'] for r in rows]):.3g}",
                      f"{sum(c.seconds or 0 for c in cells):.1f}", f"{wall:.1f}")  # fmt: skip
    console.print(table)
    coarse, fine = (ends[name] for name in list(variants)[-2:])
    for k in [*sorted({key[1] for key in coarse}), None]:
        keys = [key for key in coarse if k is None or key[1] == k]
        kept = [coarse[key]["pieces"] == fine[key]["pieces"]
                and abs(coarse[key]["loss"] - fine[key]["loss"]) <= 1e-3 * coarse[key]["loss"]
                for key in keys]  # fmt: skip
        near = [abs(coarse[key]["loss"] - fine[key]["loss"]) <= 1e-3 for key in keys]
        console.print(
            f"{'all k' if k is None else f'k = {k}'}: tolerance {tolerance:g} against "
            f"{tolerance / 2:g} on the same "
            f"{len(keys)} live runs: same end (pieces exactly, loss to 10⁻³ relative) "
            f"{np.mean(kept):.0%}; loss within 10⁻³ absolute {np.mean(near):.0%}"
        )


def full_table(console: Console, workers: int, out: Path | None) -> None:
    config = Conjecture.Config()
    cells, wall = run_study(config, workers, out)
    table = Table(title=f"the full conjecture study on its defaults, {workers} workers")
    for column in ("data set", "width", "runs", "live", "budget-ended, worst k", "cell s"):
        table.add_column(column, justify="right")
    for key in sorted({(c.params["dataset"], c.params["width"]) for c in cells}):
        mine = [c for c in cells if (c.params["dataset"], c.params["width"]) == key]
        rows = [r for c in mine for r in c.rows]
        live = [r for r in rows if r["live_init"]]
        worst = max((np.mean([r["stopped"] == "budget" for r in live if r["k"] == k]), k)
                    for k in {r["k"] for r in live}) if live else (np.nan, "—")  # fmt: skip
        table.add_row(key[0], str(key[1]), str(len(rows)), str(len(live)),
                      f"{worst[0]:.0%} (k = {worst[1]})",
                      f"{sum(c.seconds or 0 for c in mine):.1f}")  # fmt: skip
    console.print(table)
    live = live_rows(cells)
    budget = np.mean([r["stopped"] == "budget" for r in live])
    cpu = sum(c.seconds or 0 for c in cells)
    console.print(
        f"wall {wall:.0f} s for {cpu:.0f} s of cell time (goal ≤ 3600 s wall); "
        f"{budget:.1%} of {len(live)} live runs ended on the step budget (goal ≤ 5 % per cell)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="k = 2, 4 and no full study")
    parser.add_argument("--steps", default="4,8,16,32", help="the flows' sample: its k")
    parser.add_argument("--skip-full", action="store_true", help="leave out the full study")
    parser.add_argument(
        "--tolerances-only",
        action="store_true",
        help="of the flows, only today's at its tolerance and at half of it",
    )
    parser.add_argument("--tolerance", type=float, default=1e-2,
                        help="the sliding flow's tolerance, run beside half of it")  # fmt: skip
    parser.add_argument("--out", type=Path, help="keep the full study here (bends report OUT)")
    args = parser.parse_args()
    console = Console(width=160)
    gradient_table(console, repeats=3 if args.quick else 50)
    flows_table(console, args.workers, "2,4" if args.quick else args.steps,
                args.tolerances_only, args.tolerance)  # fmt: skip
    if not (args.quick or args.skip_full):
        full_table(console, args.workers, args.out)


if __name__ == "__main__":
    main()
