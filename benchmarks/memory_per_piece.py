"""Peak memory of the 1-D tracer per knot, against the budget's estimate, in one run.

Each size is traced in a fresh process (so that one trace's freed memory does not hide the
next one's peak); the peak resident set of that process minus the same process's resident
set just before the trace (Python, NumPy, numba and the loaded kernels) is what the trace
needed. The estimate is what bends' memory guard (`bends.budget`) assumes for that trace.

    python benchmarks/memory_per_piece.py            # sawtooths of depth 20-26, wide MLPs
    python benchmarks/memory_per_piece.py --quick    # depths 18-22 only
"""

from __future__ import annotations

import json
import subprocess
import sys

from rich.console import Console
from rich.table import Table

CHILD = r"""
import json, resource, sys
def high_water_mark():  # VmHWM: peak resident memory of this program (reset by exec)
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM"))
import numpy as np
from bends import trace
from bends.constructions import sawtooth
from bends.nets.random import random_mlp
from bends.tracing import estimated_bytes
kind, size = sys.argv[1], int(sys.argv[2])
if kind == "sawtooth":
    net, segment = sawtooth(size), (None, None)
else:
    net = random_mlp([1, size, size, size, 1], seed=0)
    segment = (np.array([-1e3]), np.array([1e3]))
trace(sawtooth(3)), trace(random_mlp([1, 40, 1], seed=0))  # load both layouts' kernels
with open("/proc/self/statm") as f:
    resident = int(f.read().split()[1]) * resource.getpagesize()
tr = trace(net, *segment)
peak = high_water_mark()
print(json.dumps({"knots": len(tr.knots), "before": resident, "peak": peak,
                  "estimate": estimated_bytes(net, len(tr.knots))}))
"""


def measure(kind: str, size: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, kind, str(size)], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def main(quick: bool = False) -> None:
    sizes = [("sawtooth", d) for d in ((18, 20, 22) if quick else (20, 22, 24, 26))]
    sizes += [] if quick else [("mlp", w) for w in (256, 1024)]
    table = Table(title="peak memory of one trace (fresh process per row)")
    for column in ("network", "knots", "peak MiB", "bytes per knot", "estimate MiB",
                   "estimate / peak"):  # fmt: skip
        table.add_column(column, justify="right")
    for kind, size in sizes:
        m = measure(kind, size)
        used = max(m["peak"] - m["before"], 1)
        name = f"sawtooth depth {size}" if kind == "sawtooth" else f"[1, {size}x3, 1] on ±1e3"
        table.add_row(name, f"{m['knots']:,}", f"{used / 2**20:.0f}",
                      f"{used / m['knots']:.0f}", f"{m['estimate'] / 2**20:.0f}",
                      f"{m['estimate'] / used:.2f}")  # fmt: skip
    Console(width=120).print(table)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
