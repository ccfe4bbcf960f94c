"""The studies that train with torch on ``--set device=cuda`` against the CPU, cell by cell.

    python benchmarks/device_check.py [--device cuda] [--epochs 300]

For ``manifold-tables`` and ``depth-width`` (their demo settings, ``epochs`` epochs) every cell
runs once on the CPU and once on ``device``; the table gives the times and the largest
relative difference of each float column over all rows (float64 on both, so only the order of
floating-point reductions differs) and whether the integer columns (exact piece counts of the
trained networks) agree. Needs a machine with the device; the CPU-only test suite never does.
"""

from __future__ import annotations

import argparse
import time

import torch
from rich.console import Console
from rich.table import Table

from bends.runner.config import resolve
from bends.studies import get_study


def run_cells(study, config) -> tuple[list[dict], float]:
    start = time.perf_counter()
    rows = [row for cell in study.cells(config) for row in study.run_cell(cell).rows]
    return rows, time.perf_counter() - start


def compare(cpu: list[dict], other: list[dict]) -> tuple[float, int, int]:
    """Largest relative float difference, and (agreeing, all) integer entries."""
    worst, same, total = 0.0, 0, 0
    for a, b in zip(cpu, other, strict=True):
        for key, value in a.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if isinstance(value, int):
                total += 1
                same += value == b[key]
            else:
                worst = max(worst, abs(value - b[key]) / max(abs(value), 1e-300))
    return worst, same, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--epochs", type=int, default=300)
    args = parser.parse_args()
    console = Console()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        console.print("no CUDA device here: nothing to compare")
        return
    table = Table(title=f"CPU against {args.device} ({torch.__version__})")
    for column in ("study", "cells", "CPU s", f"{args.device} s", "max rel. diff", "ints equal"):
        table.add_column(column, justify="right")
    for name in ("manifold-tables", "depth-width"):
        study = get_study(name)
        settings = [f"epochs={args.epochs}"]
        cpu_rows, cpu_time = run_cells(study, resolve(study.Config, None, settings, study.demo))
        device_config = resolve(
            study.Config, None, [*settings, f"device={args.device}"], study.demo
        )
        run_cells(study, device_config)  # warm-up: CUDA context and kernels
        rows, seconds = run_cells(study, device_config)
        worst, same, total = compare(cpu_rows, rows)
        table.add_row(
            name,
            str(len(study.cells(device_config))),
            f"{cpu_time:.1f}",
            f"{seconds:.1f}",
            f"{worst:.1e}",
            f"{same}/{total}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
