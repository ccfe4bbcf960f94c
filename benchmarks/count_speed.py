"""Speed and correctness of `bends.trace` against regioncam and a dense grid, in one run.

    python benchmarks/count_speed.py [--quick]

regioncam (PyPI, Rust, float32) counts the edges of the 1-D partition: activation regions.
bends is timed twice: the full trace (pieces and regions, slopes propagated through every
layer) and ``trace(..., pieces=False)``, the regions alone, which is what regioncam computes.
The grid estimator evaluates the network at 1e5 evenly spaced points and counts slope changes.
bends and regioncam take turns (one call each per round, best of a few rounds, of up to 200
when runs are fast) so that the shared machine's drifting load touches both alike; ratios,
not absolute times, are what carries between machines.

The MLPs are timed twice. First in a fresh process: glibc's malloc hands freed memory back to
the system, so every call pays page faults for its arrays, as a one-off call does. Then
after the sawtooths, whose large arrays raise glibc's thresholds so that freed memory is
kept, as in a long session. Both tools are affected, by different amounts.
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from bends import trace
from bends.constructions import sawtooth
from bends.nets import MLP
from bends.nets.torch_io import from_torch

try:
    import regioncam
except ImportError:  # pragma: no cover - the bench extra installs it
    regioncam = None


def best_time(run, repeats: int):
    """Best of ``repeats`` runs, or of as many as fit in ~0.5 s when one run is fast."""
    best, results = interleaved_best({"run": run}, {"run": repeats})
    return best["run"], results["run"]


def interleaved_best(runs: dict, repeats: dict[str, int]):
    """Best time of each run, the runs taking turns (one call each per round) so that the
    shared machine's drifting load falls on all of them alike. Each runs at least
    ``repeats[name]`` times; while rounds are fast (under ~0.5 s in all, 200 rounds at most)
    all keep going. Returns the best times and the last results, by name."""
    best = dict.fromkeys(runs, float("inf"))
    results, done, spent, rounds = {}, dict.fromkeys(runs, 0), 0.0, 0
    while True:
        fast = spent < 0.5 and rounds < 200
        due = [name for name in runs if fast or done[name] < repeats[name]]
        if not due:
            return best, results
        for name in due:
            began = time.perf_counter()
            results[name] = runs[name]()
            elapsed = time.perf_counter() - began
            best[name], done[name] = min(best[name], elapsed), done[name] + 1
            spent += elapsed
        rounds += 1


def regioncam_regions(net: MLP, lo: float, hi: float) -> int:
    f32 = np.float32
    # through_points covers the middle 3/4 of the line through its two points.
    centre, half = (lo + hi) / 2, (hi - lo) / 2 / 0.75
    cam = regioncam.Regioncam1D.through_points(np.array([[centre - half], [centre + half]], f32))
    for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        cam.linear(w.T.astype(f32), b.astype(f32))
        if i < len(net.weights) - 1:
            cam.relu()
    return cam.num_edges


def grid_pieces(net: MLP, lo: float, hi: float, points: int = 100_000) -> int:
    x = np.linspace(lo, hi, points)
    slopes = np.diff(net(x[:, None])[:, 0]) / np.diff(x)
    scale = np.abs(slopes).max() + 1e-300
    return 1 + int(np.count_nonzero(np.abs(np.diff(slopes)) > 1e-9 * scale))


def torch_default_mlp(widths: list[int], seed: int = 0) -> MLP:
    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = []
    for fan_in, fan_out in itertools.pairwise(widths):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    return from_torch(torch.nn.Sequential(*layers[:-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller cases, for a smoke test")
    args = parser.parse_args()
    depths = [12, 14] if args.quick else [16, 18, 20, 22]
    shapes = {
        "[1,32,32,32,1]": [1, 32, 32, 32, 1],
        "[1,128x4,1]": [1, *[128] * 4, 1],
        "[1,256x6,1]": [1, *[256] * 6, 1],
        "[1,1024x3,1]": [1, *[1024] * 3, 1],
    }
    if args.quick:
        shapes = dict(list(shapes.items())[:2])
    mlps = [(f"torch default {k}", torch_default_mlp(v), -10.0, 10.0) for k, v in shapes.items()]
    # (name, network, segment, whether to run the grid estimator too)
    cases = [(f"{name}, fresh heap", net, lo, hi, True) for name, net, lo, hi in mlps]
    cases += [(f"sawtooth depth {d}", sawtooth(d), 0.0, 1.0, True) for d in depths]
    cases += [(f"{name}, heap kept", net, lo, hi, False) for name, net, lo, hi in mlps]

    trace(sawtooth(2))  # load the compiled kernel
    table = Table(title="bends.trace vs regioncam vs a 1e5-point grid (times in ms)")
    for column in (
        "network",
        "bends pieces",
        "bends regions",
        "bends ms",
        "bends regions-only ms",
        "regioncam regions",
        "regioncam ms",
        "speed-up",
        "speed-up regions-only",
        "grid pieces",
        "grid ms",
    ):
        table.add_column(column, justify="right")
    for name, net, lo, hi, with_grid in cases:
        runs = {
            "bends": lambda net=net, lo=lo, hi=hi: trace(net, [lo], [hi]),
            "regions-only": lambda net=net, lo=lo, hi=hi: trace(net, [lo], [hi], pieces=False),
        }
        repeats = {"bends": 3, "regions-only": 3}
        if regioncam is not None:
            runs["regioncam"] = lambda net=net, lo=lo, hi=hi: regioncam_regions(net, lo, hi)
            repeats["regioncam"] = 1 if "depth 22" in name else 3
        best, results = interleaved_best(runs, repeats)
        ours_s, tr = best["bends"], results["bends"]
        only_s = best["regions-only"]
        if results["regions-only"].regions != tr.regions:
            raise SystemExit(f"{name}: the regions-only trace counts different regions")
        if regioncam is not None:
            cam_s, cam = best["regioncam"], results["regioncam"]
            cam_cell = str(cam) if cam == tr.regions else f"[red]{cam}[/] (exact {tr.regions})"
            ratios = [f"{cam_s / ours_s:.1f}x", f"{cam_s / only_s:.1f}x"]
            cam_cells = [cam_cell, f"{cam_s * 1e3:.2f}", *ratios]
        else:
            cam_cells = ["n/a", "n/a", "n/a", "n/a"]
        grid_cells = ["", ""]
        if with_grid:
            grid_s, grid = best_time(lambda net=net, lo=lo, hi=hi: grid_pieces(net, lo, hi), 1)
            grid_cells = [str(grid), f"{grid_s * 1e3:.1f}"]
        times = [f"{ours_s * 1e3:.2f}", f"{only_s * 1e3:.2f}"]
        table.add_row(name, str(tr.pieces), str(tr.regions), *times, *cam_cells, *grid_cells)
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
