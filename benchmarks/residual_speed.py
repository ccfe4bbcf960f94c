"""A residual LeakyReLU MLP along a segment: bends' graph tracer against regioncam, in one run.

regioncam (PyPI, Rust, float32) takes residual blocks and LeakyReLU directly and counts the
edges of the 1-D partition: activation regions. bends traces the same torch module (float64):
`bends.trace` lowers it to one compiled program (bends.tracing._graph.lowering); "node-by-node" is
the general graph tracer on the same module, for reference. "regions-only" is
`trace(..., pieces=False)`, which computes what regioncam computes. bends and regioncam
take turns, best of a few rounds; the table gives counts and times.

    python benchmarks/residual_speed.py
"""

from __future__ import annotations

import numpy as np
import regioncam
import torch
from _timing import best_of
from rich.console import Console
from rich.table import Table
from torch import nn

from bends.nets.graph import GraphNetwork
from bends.tracing import trace
from bends.tracing._entry import graph_trace
from bends.tracing.tolerance import SLOPE_RTOL, ZERO_TOL


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.inner, self.act, self.outer = (
            nn.Linear(width, width),
            nn.LeakyReLU(0.1),
            nn.Linear(width, width),
        )

    def forward(self, x):
        return x + self.outer(self.act(self.inner(x)))


def residual_mlp(inputs: int, width: int, blocks: int, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    layers = [nn.Linear(inputs, width), nn.LeakyReLU(0.1)]
    layers += [Block(width) for _ in range(blocks)]
    return nn.Sequential(*layers, nn.LeakyReLU(0.1), nn.Linear(width, 1)).double().eval()


def _linear(layer: nn.Linear) -> regioncam.nn.Linear:
    f32 = np.float32
    return regioncam.nn.Linear(layer.weight.detach().numpy().T.astype(f32),
                               layer.bias.detach().numpy().astype(f32))  # fmt: skip


def regioncam_regions(model: nn.Sequential, a: np.ndarray, b: np.ndarray) -> int:
    # through_points covers the middle 3/4 of the line through its two points
    centre, half = (a + b) / 2, (b - a) / 2 / 0.75
    cam = regioncam.Regioncam1D.through_points(
        np.stack([centre - half, centre + half]).astype(np.float32)
    )
    for layer in model:
        if isinstance(layer, nn.Linear):
            cam.linear(layer.weight.detach().numpy().T.astype(np.float32),
                       layer.bias.detach().numpy().astype(np.float32))  # fmt: skip
        elif isinstance(layer, nn.LeakyReLU):
            cam.leaky_relu(layer.negative_slope)
        else:  # a residual block
            inner = regioncam.nn.Sequential(_linear(layer.inner), regioncam.nn.LeakyReLU(0.1),
                                            _linear(layer.outer))  # fmt: skip
            cam.add(regioncam.nn.Residual(inner))
    return cam.num_edges


def main() -> None:
    table = Table(title="residual LeakyReLU MLPs, random segment of length 4 (best of 5, ms)")
    for column in ("network", "bends regions", "bends pieces", "bends ms",
                   "bends regions-only ms", "node-by-node ms", "regioncam regions",
                   "regioncam ms", "speed-up", "speed-up regions-only"):  # fmt: skip
        table.add_column(column, justify="right")
    for width, blocks in ((32, 2), (64, 4), (128, 4), (256, 3)):
        model = residual_mlp(2, width, blocks)
        net = GraphNetwork.from_module(model, (2,))
        u = np.random.default_rng(width).normal(size=2)
        a, b = -2 * u / np.linalg.norm(u), 2 * u / np.linalg.norm(u)
        trace(net, a, b)  # warm-up: the lowered program, compiled once
        node_s, node = best_of(lambda net=net, a=a, b=b: graph_trace(
            net, a, b, False, ZERO_TOL, SLOPE_RTOL, True, lowered=False), rounds=3)  # fmt: skip
        ours_s, ours = best_of(lambda net=net, a=a, b=b: trace(net, a, b))
        only_s, only = best_of(lambda net=net, a=a, b=b: trace(net, a, b, pieces=False))
        cam_s, cam = best_of(lambda model=model, a=a, b=b: regioncam_regions(model, a, b))
        assert only.regions == ours.regions == node.regions
        table.add_row(f"[2, {width}, {blocks} residual blocks, 1]", str(ours.regions),
                      str(ours.pieces), f"{1e3 * ours_s:.2f}", f"{1e3 * only_s:.2f}",
                      f"{1e3 * node_s:.1f}", str(cam), f"{1e3 * cam_s:.2f}",
                      f"{cam_s / ours_s:.1f}x", f"{cam_s / only_s:.1f}x")  # fmt: skip
    Console(width=180).print(table)


if __name__ == "__main__":
    main()
