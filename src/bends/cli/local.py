"""``bends local``: region statistics around samples (local complexity, pairs, decision
boundary)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from bends.cli._common import console, fail, guarded, read_array
from bends.cli.networks import NetArgument
from bends.errors import BendsError


def _samples(path: Path, option: str) -> np.ndarray:
    """A .npy array of samples, (samples, *input shape)."""
    array = read_array(path, option)
    if array.ndim < 2 or len(array) == 0:
        fail(f"{option}: {path} must hold one sample per row, shape (samples, …); got "
             f"{array.shape}")  # fmt: skip
    return array


@guarded
def local(
    net_file: NetArgument,
    points: Annotated[
        Path, typer.Option("--points", help="samples: a .npy array (samples, *input shape)")
    ],
    radius: Annotated[float, typer.Option(help="chord half-length (input units)")] = 0.1,
    chords: Annotated[int, typer.Option(help="random diameters of the ball per sample")] = 8,
    seed: Annotated[int, typer.Option(help="seed of the chords' directions")] = 0,
    pairs: Annotated[
        Path | None,
        typer.Option(help="a second .npy of as many samples: count along sample i → pair i"),
    ] = None,
    boundary: Annotated[
        bool,
        typer.Option("--boundary", help="with --pairs: measure where the decision changes "
                     "along them", show_default=False),
    ] = False,
    device: Annotated[
        str | None, typer.Option(help="torch device to trace on (e.g. cuda); default CPU")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object",
                                          show_default=False)] = False,
) -> None:  # fmt: skip
    """Local complexity of NET around samples: region boundaries crossed per unit length on
    random chords (diameters, directions uniform on the sphere) of the ball of --radius around
    each sample, per layer, and the distance to the nearest boundary along them; with --pairs
    the regions and pieces between pairs of samples; with --boundary the same local
    complexity at the points where the decision changes between the pairs."""
    from bends.analysis.local import along_pairs, decision_points, local_complexity
    from bends.nets import load

    if boundary and pairs is None:
        raise BendsError("--boundary needs --pairs (segments along which the decision changes)")
    net = load(net_file)
    samples = _samples(points, "--points")
    began = time.perf_counter()
    measured = {"samples": local_complexity(net, samples, radius, chords, seed, device=device,
                                            progress=not as_json)}  # fmt: skip
    counted = None
    if pairs is not None:
        others = _samples(pairs, "--pairs")
        if others.shape != samples.shape:
            raise BendsError(f"--pairs holds shape {others.shape}, --points {samples.shape}")
        counted = along_pairs(net, samples, others, device=device)
        if boundary:
            found, _ = decision_points(net, samples, others, device=device)
            if len(found):
                measured["decision boundary"] = local_complexity(
                    net, found, radius, chords, seed, device=device, progress=not as_json
                )
    seconds = time.perf_counter() - began
    if as_json:
        out = {name: {**lc.summary(), "points": len(lc.density),
                      "density_per_point": lc.density.tolist(),
                      "nearest_per_point": [None if not np.isfinite(d) else d
                                            for d in lc.nearest.tolist()]}
               for name, lc in measured.items()}  # fmt: skip
        if counted is not None:
            out["pairs"] = {"regions": counted.regions.tolist(), "pieces": counted.pieces.tolist(),
                            "density": counted.density.tolist()}  # fmt: skip
        print(json.dumps({"radius": radius, "chords": chords, "seed": seed, **out,
                          "seconds": seconds}))  # fmt: skip
        return
    table = Table(title=f"{net_file.name}: {chords} chords of length {2 * radius:g} per point "
                  f"({seconds:.3g} s)")  # fmt: skip
    for column in ("where", "points", "boundaries / length", "per layer", "nearest (median)",
                   "boundary within r"):  # fmt: skip
        table.add_column(column, justify="left" if column == "where" else "right")
    for name, lc in measured.items():
        summary = lc.summary()
        layers = " / ".join(f"{v:.3g}" for v in lc.per_layer.mean(axis=0))
        nearest, within = summary["nearest_median"], summary["within_radius"]
        table.add_row(name, str(len(lc.density)), f"{summary['density']:.4g}", layers,
                      f"{nearest:.3g}", f"{within:.0%}")  # fmt: skip
    console.print(table)
    if counted is not None:
        console.print(f"between the pairs: {counted.regions.mean():.4g} regions and "
                      f"{counted.pieces.mean():.4g} pieces on average, "
                      f"{counted.density.mean():.4g} boundaries per unit length")  # fmt: skip
    if boundary and "decision boundary" not in measured:
        console.print("no pair's ends are labelled differently: no decision-boundary points")
