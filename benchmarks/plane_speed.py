"""Planar partitions: bends' planar tracer against regioncam on [−2, 2]², in one run.

regioncam (PyPI, Rust, float32) partitions a plane of a network's input space into its
activation regions (``num_faces``); bends traces the same PyTorch-default-initialised MLP
(float64, exact). Both take turns, best of 3 (1 for the largest); the table gives the face
counts, times and the speed-up.

    python benchmarks/plane_speed.py            # [2, 64x4, 1], [2, 128x4, 1], [2, 256x3, 1]
    python benchmarks/plane_speed.py --quick    # [2, 32x2, 1] and [2, 64x4, 1]
    python benchmarks/plane_speed.py --large    # [2, 1000, 700, 1]: time and peak memory

``--large`` runs each tool once in its own process and reports its peak resident memory
(VmHWM); regioncam runs under an address-space limit of 3/4 of this machine's memory, so
that running out of it ends regioncam, not the machine.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

import numpy as np
import regioncam
from _timing import best_of
from rich.console import Console
from rich.table import Table

from bends.nets.random import random_mlp
from bends.tracing import trace_plane


def regioncam_faces(net) -> int:
    cam = regioncam.Regioncam(size=2.0)  # the square [−size, size]² = [−2, 2]²
    for index, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        cam.linear(w.T.astype(np.float32), b.astype(np.float32))
        if index < len(net.weights) - 1:
            cam.relu()
    return cam.num_faces


def main(quick: bool = False) -> None:
    sizes = [[2, 32, 32, 1], [2, *[64] * 4, 1]] if quick else [
        [2, *[64] * 4, 1], [2, *[128] * 4, 1], [2, *[256] * 3, 1]]  # fmt: skip
    table = Table(title="planes: random MLPs on [−2, 2]² (best of 3; 1 for the largest; s)")
    for column in ("network", "bends faces", "bends pieces", "bends s", "regioncam faces",
                   "regioncam s", "speed-up"):  # fmt: skip
        table.add_column(column, justify="right")
    trace_plane(random_mlp([2, 4, 1], seed=0), [-2, -2], [2, -2], [-2, 2])  # load the kernels
    for widths in sizes:
        net = random_mlp(widths, seed=0)
        rounds = 1 if max(widths) >= 256 else 3
        ours_s, ours = best_of(lambda net=net: trace_plane(net, [-2, -2], [2, -2], [-2, 2]),
                               rounds)  # fmt: skip
        cam_s, cam = best_of(lambda net=net: regioncam_faces(net), rounds)
        table.add_row(str(widths), str(ours.regions), str(ours.pieces), f"{ours_s:.2f}", str(cam),
                      f"{cam_s:.2f}", f"{cam_s / ours_s:.1f}x")  # fmt: skip
    Console(width=130).print(table)


LARGE = [2, 1000, 700, 1]


def _one_large_run(tool: str) -> None:
    """In a child process: run ``tool`` on LARGE once; print faces, seconds, VmHWM bytes."""
    net = random_mlp(LARGE, seed=0)
    if tool == "regioncam":
        limit = int(0.75 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    began = time.perf_counter()
    faces = (trace_plane(net, [-2, -2], [2, -2], [-2, 2]).regions if tool == "bends"
             else regioncam_faces(net))  # fmt: skip
    seconds = time.perf_counter() - began
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM"))
    print(faces, seconds, peak)


def large() -> None:
    table = Table(title=f"planes: {LARGE} on [−2, 2]² (one run each, own process)")
    for column in ("tool", "faces", "seconds", "peak memory (GiB)"):
        table.add_column(column, justify="right")
    for tool in ("bends", "regioncam"):
        run = subprocess.run([sys.executable, __file__, "--one", tool], capture_output=True,
                             text=True)  # fmt: skip
        if run.returncode == 0:
            faces, seconds, peak = run.stdout.split()
            table.add_row(tool, faces, f"{float(seconds):.0f}", f"{int(peak) / 2**30:.1f}")
        else:
            reason = (run.stderr.strip().splitlines() or [f"exit {run.returncode}"])[-1][:60]
            table.add_row(tool, "—", "—", f"failed: {reason}")
    Console(width=130).print(table)


if __name__ == "__main__":
    if "--one" in sys.argv:
        _one_large_run(sys.argv[-1])
    elif "--large" in sys.argv:
        large()
    else:
        main(quick="--quick" in sys.argv)
