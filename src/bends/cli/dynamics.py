"""``bends dynamics``: periodic orbits, oscillations, growth rates and L1 bounds of interval
maps (docs/dynamics.md)."""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from bends.cli._common import console, guarded, parse_floats
from bends.errors import BendsError

dynamics_app = typer.Typer(
    no_args_is_help=True, help="Interval-map dynamics: periods, oscillations, growth, bounds."
)

MapOption = Annotated[
    float | None, typer.Option("--c", help="the map c|x| − 1 on [−1, 1] (default c = φ)")
]
SlopeOption = Annotated[float | None, typer.Option(help="the tent map of this slope")]
PointsOption = Annotated[str | None, typer.Option(help="breakpoints x0,x1,...")]
ValuesOption = Annotated[str | None, typer.Option(help="values f(x0),f(x1),...")]


def _interval_map(c: float | None, slope: float | None, points: str | None, values: str | None):
    from bends.constructions import PHI, PiecewiseLinearMap, abs_map, tent_map

    given = [c is not None, slope is not None, points is not None or values is not None]
    if sum(given) > 1:
        raise BendsError("give one map: --c, --slope, or --points with --values")
    if slope is not None:
        return tent_map(slope), f"tent map, slope {slope:g}"
    if points is not None or values is not None:
        if points is None or values is None:
            raise BendsError("--points and --values go together")
        return PiecewiseLinearMap(
            parse_floats(points, "--points"), parse_floats(values, "--values")
        ), "map"
    c = PHI if c is None else c
    if not 0 < c <= 2:
        raise BendsError(f"c|x| − 1 maps [−1, 1] into itself only for 0 < c ≤ 2, got {c}")
    return abs_map(c), f"{c:g}|x| − 1"


@dynamics_app.command("periods")
@guarded
def dynamics_periods(
    period: Annotated[int, typer.Option("--p", help="the period")] = 3,
    c: MapOption = None,
    slope: SlopeOption = None,
    points: PointsOption = None,
    values: ValuesOption = None,
) -> None:
    """Periodic orbits of minimal period --p, and the periods Sharkovsky says they force."""

    from bends.analysis.dynamics import forced_periods, orbits

    if period < 1:
        raise BendsError(f"--p must be at least 1, got {period}")
    f, name = _interval_map(c, slope, points, values)
    found = orbits(f, period)
    console.print(f"{name}: {len(found)} orbit(s) of minimal period {period}")
    for orbit in found:
        console.print("  " + " → ".join(f"{x:.12g}" for x in orbit))
    if found:
        forced = forced_periods(period, 50)
        console.print(f"forces every period in: {', '.join(map(str, forced))} (up to 50)")


@dynamics_app.command("oscillations")
@guarded
def dynamics_oscillations(
    t: Annotated[int, typer.Option("--t", help="iterations")] = 10,
    low: Annotated[float, typer.Option(help="lower level")] = -0.5,
    high: Annotated[float, typer.Option(help="upper level")] = 0.2,
    c: MapOption = None,
    slope: SlopeOption = None,
    points: PointsOption = None,
    values: ValuesOption = None,
) -> None:
    """Pieces, laps, oscillations between two levels, Lipschitz constant and entropy of f^t."""

    from bends.analysis.dynamics import check_levels, iterate_map, laps, lipschitz, oscillations

    check_levels(low, high)
    f, name = _interval_map(c, slope, points, values)
    g = iterate_map(f, t)
    table = Table(title=f"{name}, iterated {t} times")
    for column in ("pieces", "laps", f"oscillations [{low:g}, {high:g}]", "Lipschitz",
                   "log(laps)/t"):  # fmt: skip
        table.add_column(column, justify="right")
    table.add_row(
        str(len(g.x) - 1),
        str(laps(g)),
        str(oscillations(g, low, high)),
        f"{lipschitz(g):.6g}",
        f"{np.log(laps(g)) / t:.6f}",
    )
    console.print(table)


@dynamics_app.command("growth")
@guarded
def dynamics_growth(period: Annotated[int, typer.Option("--p", help="an odd period ≥ 3")] = 3):
    """Growth rates of oscillations forced by an odd period (ICLR and ICML 2020)."""

    from bends.analysis.dynamics import growth_rates

    iclr, icml = growth_rates(period)
    console.print(
        f"period {period}: x^{period - 1} − x^{period - 2} − 1 → {iclr:.10f} (ICLR 2020); "
        f"x^{period} − 2x^{period - 2} − 1 → {icml:.10f} (ICML 2020)",
        soft_wrap=True,
    )


@dynamics_app.command("bound")
@guarded
def dynamics_bound(
    width: Annotated[int, typer.Option(help="units per layer u")],
    depth: Annotated[int, typer.Option(help="layers l")],
    t: Annotated[int, typer.Option("--t", help="iterations of f")],
    c: Annotated[float, typer.Option("--c", help="oscillation growth: c^t oscillations")],
    lipschitz_constant: Annotated[float, typer.Option("--lipschitz", help="Lipschitz L of f")],
    low: Annotated[float, typer.Option(help="lower level x")] = 0.0,
    high: Annotated[float, typer.Option(help="upper level y")] = 1.0,
) -> None:
    """The L1 separation lower bound for a width-u, depth-l ReLU net against f^t."""

    from bends.analysis.dynamics import separation_bound

    r = separation_bound(width, depth, t, low, high, c, lipschitz_constant)
    holds = "holds" if r.hypothesis_holds else "does NOT hold"
    capacity = f"{r.capacity:.6g}" if math.isfinite(r.capacity) else f"10^{r.log10_capacity:.6g}"
    count = (
        f"{r.oscillations:.6g}"
        if math.isfinite(r.oscillations)
        else (f"10^{r.log10_oscillations:.6g}")
    )
    console.print(
        f"(2u)^l = {capacity}, c^t = {count}: the hypothesis (2u)^l ≤ c^t/8 {holds}; "
        f"L1 error ≥ {r.bound:.6g}"
        if math.isfinite(r.bound)
        else f"L1 error ≥ 10^{r.log10_bound:.6g}",
        soft_wrap=True,
    )
