"""The batched trainer against a per-model PyTorch loop, on the same models, in one run.

    python benchmarks/train_speed.py [--models 32] [--epochs 1000]

The per-model loop is how the paper trained: one nn.Sequential (float64) and one Adam per
model, full batch, one model after the other. The batched trainer trains all models as one
program (bmm, summed loss). Both start from the same PyTorch-default weights, fit x³ on 2^9
points with lr 1e-3, and must end at the same weights; the table shows the times and the
largest difference of the final losses. The batched trainer's fused loss is compiled by numba
on first use (a few seconds once per checkout, then loaded from numba's cache in well under a
second per process): one warm-up epoch, timed and printed separately, comes first.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from bends.nets.random import random_mlp
from bends.nets.torch_io import to_torch
from bends.training.loop import descend
from bends.training.manifold import StagedModel
from bends.training.mlp import mse, stack_mlps


def per_model_loop(nets, x, y, epochs: int) -> np.ndarray:
    finals = []
    for net in nets:
        model = to_torch(net)
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(epochs):
            optimiser.zero_grad()
            loss = ((model(x)[:, 0] - y) ** 2).mean()
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            finals.append(float(((model(x)[:, 0] - y) ** 2).mean()))
    return np.array(finals)


def batched(nets, x, y, epochs: int) -> np.ndarray:
    model = StagedModel.raw(stack_mlps(nets))
    target = y.expand(len(nets), -1)
    descend(model.parameters, lambda: model.losses(x, target), epochs, lr=1e-3)
    with torch.no_grad():
        return mse(model.forward(x)[..., 0], target).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1000)
    args = parser.parse_args()
    nets = [random_mlp([1, 4, 4, 4, 4, 4, 1], seed) for seed in range(args.models)]
    x = torch.linspace(0, 1, 512, dtype=torch.float64)[:, None]
    y = x[:, 0] ** 3

    began = time.perf_counter()
    loop = per_model_loop(nets, x, y, args.epochs)
    loop_seconds = time.perf_counter() - began
    began = time.perf_counter()
    batched(nets[:1], x, y, 1)
    warm_up_seconds = time.perf_counter() - began
    began = time.perf_counter()
    together = batched(nets, x, y, args.epochs)
    batched_seconds = time.perf_counter() - began

    table = Table(title=f"{args.models} models [1, 4×5, 1] × {args.epochs} epochs of Adam, x³")
    for column in ("trainer", "seconds", "speed-up", "max |Δ final MSE|"):
        table.add_column(column, justify="right")
    table.add_row("per-model nn.Sequential + Adam", f"{loop_seconds:.2f}", "1.0x", "")
    table.add_row(
        "bends batched (fused loss)",
        f"{batched_seconds:.2f}",
        f"{loop_seconds / batched_seconds:.1f}x",
        f"{np.max(np.abs(loop - together)):.1e}",
    )
    console = Console()
    console.print(table)
    console.print(f"first use of the fused loss (compile or load, not timed above): "
                  f"{warm_up_seconds:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
