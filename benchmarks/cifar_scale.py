"""CIFAR-size VGG-11 and ResNet-18 (``_cifar.py``): bends' graph tracer against its region
walker, in bounded memory, beside the machine's plain batched-convolution throughput.

Each case runs in its own process (its peak memory is its own) on the segment between two
random 3×32×32 inputs, or on the part t ∈ [0, length] of it where the walker would take too
long (it runs one forward pass and one Jacobian-vector product per region):

* bends: ``bends.trace`` (pieces and regions), its time, its peak resident memory, and the
  convolution and matrix FLOPs it ran (torch's FlopCounterMode) per second;
* walker: ``bends.tracing._graph.walker.walk``, the independent reference, on the same part;
* plain: the network's forward pass on a batch of 256 inputs (float64), the FLOP/s that the
  same convolutions reach when nothing else is done — how close the trace is to its
  arithmetic.

    python benchmarks/cifar_scale.py              # every case (about an hour on 2 cores)
    python benchmarks/cifar_scale.py --quick      # eighth widths, short parts
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).parent))
from _cifar import resnet18, vgg11

import bends
from bends.nets.graph import GraphNetwork
from bends.tracing._graph.walker import walk

NETWORKS = {"vgg11": vgg11, "resnet18": resnet18}


def _ends(length: float) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.random.default_rng(0).normal(size=(2, 3, 32, 32))
    return a, a + length * (b - a)


def run_case(kind: str, network: str, base: int, length: float) -> dict:
    """One measurement in this process (see the module docstring)."""
    model = NETWORKS[network](base)
    start, end = _ends(length)
    net = GraphNetwork.from_module(model, (3, 32, 32))
    began = time.perf_counter()
    if kind == "bends":
        with FlopCounterMode(display=False) as flops:
            found = bends.trace(net, start, end)
        seconds = time.perf_counter() - began
        out = {"regions": int(found.regions), "pieces": int(found.pieces),
               "flops": flops.get_total_flops()}  # fmt: skip
    elif kind == "walker":
        boundaries = walk(net, start, end)
        seconds = time.perf_counter() - began
        out = {"regions": len(boundaries) + 1}
    else:  # plain: a batch of 256 inputs through the network, best of 3
        batch = torch.randn(256, 3, 32, 32, dtype=torch.float64)
        with torch.no_grad(), FlopCounterMode(display=False) as flops:
            model(batch)
        seconds = np.inf
        for _ in range(3):
            began = time.perf_counter()
            with torch.no_grad():
                model(batch)
            seconds = min(seconds, time.perf_counter() - began)
        out = {"flops": flops.get_total_flops()}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out | {"seconds": seconds, "peak": peak}


def measure(kind: str, network: str, base: int, length: float, budget: str | None) -> dict:
    """``run_case`` in a fresh process, under ``BENDS_MEMORY_BUDGET=budget`` if given."""
    env = dict(os.environ)
    if budget:
        env["BENDS_MEMORY_BUDGET"] = budget
    command = [sys.executable, __file__, "--case", json.dumps([kind, network, base, length])]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(*json.loads(args.case))))
        return
    quarter, full = (8, 16) if args.quick else (16, 64)
    scale = 0.1 if args.quick else 1.0
    # (network, base width, the part of the segment the walker also runs, whether bends
    # also runs the whole segment); full-width ResNet-18's whole segment is left out: over
    # an hour here (its parts run at the rate of the t ≤ 0.02 row)
    cases = [
        ("vgg11", quarter, 1.0, False),
        ("resnet18", quarter, 0.1 * scale, True),
        ("vgg11", full, 0.1 * scale, True),
        ("resnet18", full, 0.02 * scale, False),
    ]
    console = Console()
    table = Table(title="CIFAR-size networks: bends against its region walker (float64, 2 cores)")
    for column in ("network", "part of segment", "bends regions", "walker regions", "bends s",
                   "walker s", "speed-up", "bends peak GB", "bends GFLOP/s",
                   "plain conv GFLOP/s"):  # fmt: skip
        table.add_column(column, justify="right")
    for network, base, length, whole in cases:
        name = f"{network} ×{base}"
        plain = measure("plain", network, base, 1.0, None)
        rate = plain["flops"] / plain["seconds"] / 1e9
        ours = measure("bends", network, base, length, "2G")
        theirs = measure("walker", network, base, length, None)
        table.add_row(
            name, f"t ≤ {length:g}", str(ours["regions"]), str(theirs["regions"]),
            f"{ours['seconds']:.1f}", f"{theirs['seconds']:.1f}",
            f"{theirs['seconds'] / ours['seconds']:.1f}x", f"{ours['peak'] / 1e9:.2f}",
            f"{ours['flops'] / ours['seconds'] / 1e9:.1f}", f"{rate:.1f}",
        )  # fmt: skip
        console.print(f"{name}, t ≤ {length:g}: done", style="dim")
        if whole:
            bounded = measure("bends", network, base, 1.0, "2G")
            table.add_row(
                name, "whole, budget 2G", str(bounded["regions"]), "", f"{bounded['seconds']:.1f}",
                "", "", f"{bounded['peak'] / 1e9:.2f}",
                f"{bounded['flops'] / bounded['seconds'] / 1e9:.1f}", f"{rate:.1f}",
            )  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    main()
