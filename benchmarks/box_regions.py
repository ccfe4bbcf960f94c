"""Regions over a whole input space and in boxes: bends' n-D tracer against relucent.

relucent 1.0 (ICLR 2026) enumerates a network's regions over R^d by a breadth-first search of
the dual graph, one Gurobi LP per facet, on worker processes. It is not a dependency of bends:
install it in its own environment (``pip install relucent torch==2.13.0``: Gurobi's pip
licence is size-limited) and point ``RELUCENT_PYTHON`` at that interpreter; without it the
relucent columns say "absent". Both tools get the same weights (PyTorch-default, seed 0):
bends traces them with ``trace_box(net, whole=True)``, relucent with
``Complex(net).bfs(nworkers=2)`` in a fresh process that is timed around the search only.

Run: ``python benchmarks/box_regions.py`` (``--quick``: the two smallest networks, no
largest-network sweep; ``--no-sweep``: the four networks and the box; ``--relucent-runs N``:
relucent's best of N runs, and of more, up to 5, while they take under 20 s in all; bends'
is the best of 3, and of up to 200 more when a call takes under 0.1 s: both tools' times
vary between runs, relucent's 1.5-fold). It prints one table: regions and seconds of each
tool, and the ratio.
Then, unless ``--quick``, the [3,32,32,32,1] box of the issue, and for each d = 3…8 the widest
[d, w, w, 1] network (PyTorch-default weights, seed 0) whose whole-space trace finishes
within the memory budget, w stepping through ``WIDTHS`` until the next width is refused by
the budget or predicted (at the last step's growth) to take more than ``--limit`` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
from _timing import best_of

from bends import trace_box
from bends.errors import BendsError
from bends.nets.random import random_mlp

NETWORKS = [[2, 16, 16, 1], [2, 32, 32, 1], [3, 16, 16, 1], [4, 16, 16, 1]]
WIDTHS = (4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128)  # the largest-network sweep

RELUCENT = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np, torch
    from relucent import Complex, convert
    layers = json.load(open(sys.argv[1]))
    modules = []
    for i, (w, b) in enumerate(layers):
        linear = torch.nn.Linear(len(w[0]), len(w)).double()
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(w)); linear.bias.copy_(torch.tensor(b))
        modules += [linear] + ([torch.nn.ReLU()] if i < len(layers) - 1 else [])
    net = convert(torch.nn.Sequential(*modules))
    began = time.perf_counter()
    cplx = Complex(net)
    result = cplx.bfs(nworkers=2, verbose=0)
    seconds = time.perf_counter() - began
    print(json.dumps({"regions": len(cplx), "complete": bool(result.complete),
                      "seconds": seconds}))
    """
)


def relucent(net, python: str | None, timeout: float) -> dict | None:
    """relucent's whole-space regions and search time, or None where it is absent."""
    if not python:
        return None
    layers = [(w.tolist(), b.tolist()) for w, b in zip(net.weights, net.biases, strict=True)]
    with tempfile.TemporaryDirectory() as folder:
        weights, script = Path(folder) / "net.json", Path(folder) / "run.py"
        weights.write_text(json.dumps(layers))
        script.write_text(RELUCENT)
        try:
            done = subprocess.run([python, str(script), str(weights)], capture_output=True,
                                  text=True, timeout=timeout, check=True)  # fmt: skip
        except subprocess.TimeoutExpired:
            return {"regions": None, "seconds": timeout}
        except subprocess.CalledProcessError as err:
            print(err.stderr[-2000:], file=sys.stderr)
            return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--limit", type=float, default=600.0)
    parser.add_argument("--no-sweep", action="store_true", help="the table and the box only")
    parser.add_argument("--relucent-runs", type=int, default=1,
                        help="relucent's best of this many runs (bends: best of 3)")  # fmt: skip
    args = parser.parse_args()
    python = os.environ.get("RELUCENT_PYTHON")
    trace_box(random_mlp([3, 4, 1], seed=0), whole=True)  # compile the kernels first
    print("| network | bends regions | bends pieces | bends s | relucent regions | relucent s "
          "| relucent / bends |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for widths in NETWORKS[:2] if args.quick else NETWORKS:
        net = random_mlp(widths, seed=0)
        seconds, cells = best_of(lambda net=net: trace_box(net, whole=True), 3)
        if seconds < 0.1:  # fast calls: more rounds, up to about a second in all
            seconds = min(seconds, best_of(lambda net=net: trace_box(net, whole=True),
                                           min(200, int(1.0 / seconds)))[0])  # fmt: skip
        runs = [relucent(net, python, timeout=args.limit) for _ in range(args.relucent_runs)]
        while None not in runs and len(runs) < 5 and sum(r["seconds"] for r in runs) < 20:
            runs.append(relucent(net, python, timeout=args.limit))  # fast ones: more rounds
        theirs = None if None in runs else min(runs, key=lambda run: run["seconds"])
        if theirs is None:
            other = "absent | – | –"
        else:
            ratio = theirs["seconds"] / seconds
            other = f"{theirs['regions']} | {theirs['seconds']:.3g} | {ratio:,.0f}×"
        print(f"| {widths} | {cells.regions} | {cells.pieces} | {seconds:.3g} | {other} |",
              flush=True)  # fmt: skip
    if args.quick:
        return
    net = random_mlp([3, 32, 32, 32, 1], seed=0)
    seconds, cells = best_of(lambda: trace_box(net, -np.ones(3), np.ones(3)), 3)
    print(f"\n[3, 32, 32, 32, 1] in [-1, 1]^3: {cells.regions} regions, {cells.vertices} "
          f"vertices, {cells.edges} edges in {seconds:.3g} s")  # fmt: skip
    if args.no_sweep:
        return
    print("\n| d | widest [d, w, w, 1] whole space | regions | vertices | s | next width |")
    print("|---|---|---|---|---|---|")
    for d in range(3, 9):
        best, last, stop = None, None, ""
        for width in WIDTHS:
            net = random_mlp([d, width, width, 1], seed=0)
            began = time.perf_counter()
            try:
                cells = trace_box(net, whole=True)
            except BendsError as err:
                stop = f"[{d}, {width}, {width}, 1]: {err}"
                break
            seconds = time.perf_counter() - began
            best = (width, cells.regions, cells.vertices, seconds)
            growth = seconds / last if last else 8.0
            last = seconds
            if seconds * growth > args.limit:  # the next width, at the last step's growth
                stop = f"[{d}, next, next, 1] predicted {seconds * growth:.0f} s"
                break
        if best:
            print(f"| {d} | [{d}, {best[0]}, {best[0]}, 1] | {best[1]} | {best[2]} | "
                  f"{best[3]:.3g} | {stop} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
