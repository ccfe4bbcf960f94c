"""The ``bends`` command line: count, construct, plot; studies, run, report, export, demo.

Every user error (missing or malformed file, wrong shapes, bad segment) prints one line on
stderr and exits with status 2; float64 resolution problems print one warning line.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from bends.errors import BendsError, ResolutionWarning

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Exact affine pieces (bends) of ReLU networks and tied ReLU RNNs.",
)
# Piped output (logs, CI) gets 120 columns instead of rich's default 80: tables stay readable.
console = Console() if sys.stdout.isatty() else Console(width=120)
err_console = Console(stderr=True)


def _fail(message: str) -> None:
    err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _parse_point(text: str | None, name: str) -> np.ndarray | None:
    if text is None:
        return None
    try:
        return np.array([float(v) for v in text.split(",")], dtype=np.float64)
    except ValueError:
        _fail(f"{name} must be comma-separated numbers like 0.5,1 (got {text!r})")
    return None


def _guarded(run: Callable[[], None]) -> None:
    """Run a command: BendsError → one line and exit 2; ResolutionWarning → one line."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResolutionWarning)
        try:
            run()
        except BendsError as err:
            _fail(str(err))
        finally:
            for warning in caught:
                if issubclass(warning.category, ResolutionWarning):
                    err_console.print(f"warning: {warning.message}", markup=False, soft_wrap=True)


@app.command()
def count(
    net_file: Annotated[Path, typer.Argument(metavar="NET", help="network: .json or .pt")],
    start: Annotated[
        str | None, typer.Option("--from", help="segment start, comma-separated")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="segment end, comma-separated")] = None,
    exact: Annotated[bool, typer.Option(help="exact rational arithmetic (small nets)")] = False,
    regions_only: Annotated[
        bool, typer.Option("--regions-only", help="skip the pieces: about 2x faster when wide")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    plot: Annotated[
        Path | None, typer.Option(help="draw the output with its bends (.png or .pdf)")
    ] = None,
) -> None:
    """Count the pieces and activation regions of NET along a segment."""

    def run() -> None:
        from bends.nets import load
        from bends.regions import trace

        if plot is not None and plot.suffix.lower() not in (".png", ".pdf"):
            raise BendsError(f"--plot needs a .png or .pdf file name, got {plot}")
        net = load(net_file)
        began = time.perf_counter()
        tr = trace(
            net,
            _parse_point(start, "--from"),
            _parse_point(end, "--to"),
            exact=exact,
            progress=exact,
            pieces=not regions_only,
        )
        seconds = time.perf_counter() - began
        pieces = f"[bold]{tr.pieces}[/] pieces, " if tr.has_pieces else ""
        if plot is not None:
            from bends.plotting import plot_trace, save_figure

            save_figure(plot_trace(tr, title=f"{net_file.name}: {tr.describe()}"), plot)
        if as_json:
            print(json.dumps({**tr.summary(), "seconds": seconds}))
            return
        console.print(
            f"{net_file}: {pieces}[bold]{tr.regions}[/] activation regions "
            f"on x(t) = {tr.start.tolist()} + t·({(tr.end - tr.start).tolist()}), t ∈ [0, 1] "
            f"({'exact' if tr.exact else 'float64'}, {seconds:.3g} s)",
            soft_wrap=True,
        )
        if tr.merged or tr.snapped:
            console.print(
                f"note: {tr.merged} near-coincident crossings merged, {tr.snapped} values "
                "snapped to zero (float64 tolerance policy; --exact to check)",
                soft_wrap=True,
            )
        if plot is not None:
            console.print(f"plot: {plot}")

    _guarded(run)


def _floats(text: str | None, name: str) -> list[float] | None:
    parsed = _parse_point(text, name)
    return None if parsed is None else parsed.tolist()


@app.command()
def construct(
    name: Annotated[str | None, typer.Argument(help="construction name (see --list)")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="network file")] = None,
    list_all: Annotated[bool, typer.Option("--list", help="list constructions")] = False,
    depth: Annotated[int | None, typer.Option(help="iterations / hidden layers")] = None,
    steps: Annotated[int | None, typer.Option(help="tied-RNN steps")] = None,
    m: Annotated[int | None, typer.Option("--m", help="number of sawtooth terms")] = None,
    j: Annotated[int | None, typer.Option("--j", help="Cantor iterate index")] = None,
    slope: Annotated[float | None, typer.Option(help="tent-map slope")] = None,
    c: Annotated[float | None, typer.Option("--c", help="c in c|x| - 1")] = None,
    peaks: Annotated[str | None, typer.Option(help="comma-separated peaks in (0, 1)")] = None,
    scales: Annotated[str | None, typer.Option(help="comma-separated scales")] = None,
    peak: Annotated[float | None, typer.Option(help="the common peak (RNN form)")] = None,
    ratio: Annotated[float | None, typer.Option(help="scale ratio (RNN form)")] = None,
    orbit: Annotated[str | None, typer.Option(help="comma-separated periodic orbit")] = None,
    rnn: Annotated[bool | None, typer.Option("--rnn", help="the tied-RNN form")] = None,
    add: Annotated[bool | None, typer.Option("--add", help="add waves instead")] = None,
) -> None:
    """Build a network from the theory and save it (JSON, or .pt for an MLP)."""

    def run() -> None:
        from bends.constructions import REGISTRY, build
        from bends.nets import save
        from bends.regions import trace

        if list_all or name is None:
            table = Table(title="constructions (bends construct NAME \\[options] -o net.json)")
            for column in ("name", "parameters (defaults)", "what it is"):
                table.add_column(column)
            for key, entry in REGISTRY.items():
                params = ", ".join(f"--{k} {v}" for k, v in entry.defaults.items())
                table.add_row(key, params, entry.summary)
            console.print(table)
            return
        given = {
            "depth": depth,
            "steps": steps,
            "m": m,
            "j": j,
            "slope": slope,
            "c": c,
            "peak": peak,
            "ratio": ratio,
            "rnn": rnn,
            "add": add,
            "peaks": _floats(peaks, "--peaks"),
            "scales": _floats(scales, "--scales"),
            "orbit": _floats(orbit, "--orbit"),
        }
        params = {k: v for k, v in given.items() if v is not None}
        net = build(name, **params)
        if output is None:
            raise BendsError("give the output file with -o FILE (.json or .pt)")
        if output.suffix not in (".json", ".pt"):
            raise BendsError(f"-o needs a .json or .pt file name, got {output}")
        save(net, output)
        expected = REGISTRY[name].pieces(**{**REGISTRY[name].defaults, **params})
        tr = trace(net)
        check = "" if expected is None else f" (closed form: {expected})"
        console.print(f"{name}: {tr.pieces} pieces{check} → {output}", soft_wrap=True)

    _guarded(run)


@app.command()
def plot(
    net_file: Annotated[Path, typer.Argument(metavar="NET", help="network: .json or .pt")],
    output: Annotated[Path, typer.Option("-o", "--output", help="figure (.png or .pdf)")],
    start: Annotated[str | None, typer.Option("--from", help="segment start")] = None,
    end: Annotated[str | None, typer.Option("--to", help="segment end")] = None,
    layers: Annotated[bool, typer.Option("--layers", help="every neuron, layer by layer")] = False,
) -> None:
    """Draw NET's output along a segment with its bends (--layers: every neuron, by layer)."""

    def run() -> None:
        from bends.nets import load
        from bends.plotting import plot_layers, plot_trace, save_figure
        from bends.regions import trace

        if output.suffix.lower() not in (".png", ".pdf"):
            raise BendsError(f"-o needs a .png or .pdf file name, got {output}")
        tr = trace(load(net_file), _parse_point(start, "--from"), _parse_point(end, "--to"))
        title = f"{net_file.stem}: {tr.describe()}"
        figure = plot_layers(tr) if layers else plot_trace(tr, title=title)
        console.print(f"{save_figure(figure, output)}: {tr.pieces} pieces")

    _guarded(run)


def _settings_table(study) -> Table:
    from bends.runner.config import describe

    table = Table(title=f"{study.name}: {study.summary}")
    for column in ("setting", "type", "default", "meaning"):
        table.add_column(column)
    for row in describe(study.Config):
        table.add_row(*row)
    return table


@app.command()
def studies(
    name: Annotated[str | None, typer.Argument(help="show this study's settings")] = None,
) -> None:
    """List the registered studies, or the settings of one."""

    def run() -> None:
        from bends.experiments import STUDIES, get_study

        if name is not None:
            console.print(_settings_table(get_study(name)))
            return
        table = Table(title="studies (bends run NAME; bends studies NAME for its settings)")
        for column in ("name", "what it computes", "guide"):
            table.add_column(column)
        for study in STUDIES.values():
            table.add_row(study.name, study.summary, f"docs/{study.guide}" if study.guide else "")
        console.print(table)

    _guarded(run)


def _reporting(write: Callable[[], Path], run_dir: Path) -> None:
    """Write a report; if that fails, say so in one line: the stored results are safe."""
    try:
        console.print(f"report: {write()}")
    except BendsError:
        raise
    except Exception as err:  # a bug in a study's report must not look like a lost sweep
        err_console.print(
            f"error: writing the report failed ({type(err).__name__}: {err}); the results are "
            f"stored in {run_dir}, `bends report {run_dir}` retries",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None


def _sweep(study, config, run_dir: Path, executor, fresh: bool) -> bool:
    """Run one study's sweep and say how it went; False if cells failed."""
    from bends.runner.sweep import run_sweep

    summary = run_sweep(study, config, run_dir, executor, fresh=fresh)
    console.print(
        f"{study.name}: {summary.total} cells, {summary.ran} run now, "
        f"{summary.skipped} already done in {run_dir}",
        soft_wrap=True,
    )
    for key, error in summary.failed[:3]:
        err_console.print(f"failed cell {key}: {error}", markup=False, soft_wrap=True)
    if summary.failed:
        err_console.print(
            f"{len(summary.failed)} cells failed (tracebacks in the store); "
            "rerunning the same command retries them",
            soft_wrap=True,
        )
    return not summary.failed


@app.command(name="run")
def run_study(
    name: Annotated[str, typer.Argument(metavar="STUDY", help="a study (see bends studies)")],
    out: Annotated[
        Path | None, typer.Option("--out", help="run directory (default runs/STUDY)")
    ] = None,
    config_file: Annotated[
        Path | None, typer.Option("--config", help="TOML file of settings")
    ] = None,
    assignments: Annotated[
        list[str] | None, typer.Option("--set", help="key=value, overrides --config")
    ] = None,
    backend: Annotated[str, typer.Option(help="local or ray")] = "local",
    workers: Annotated[int, typer.Option(help="processes (local) or CPUs (new Ray)")] = 1,
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (default: start a local one)")
    ] = None,
    fresh: Annotated[bool, typer.Option(help="discard stored results first")] = False,
) -> None:
    """Run STUDY's sweep (resuming what is stored) and write its report."""

    def run() -> None:
        from bends.experiments import get_study
        from bends.runner.config import resolve
        from bends.runner.executors import make_executor
        from bends.runner.report import report_run

        study = get_study(name)
        config = resolve(study.Config, config_file, assignments or ())
        executor = make_executor(backend, workers, address)
        run_dir = out or Path("runs") / name
        finished = _sweep(study, config, run_dir, executor, fresh)
        _reporting(lambda: report_run(study, run_dir), run_dir)
        if not finished:
            raise typer.Exit(1)

    _guarded(run)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="a run directory")],
) -> None:
    """Write RUN_DIR/report.md and report.html from the stored results."""

    def run() -> None:
        from bends.experiments import get_study
        from bends.runner.report import report_run
        from bends.runner.store import Store

        store = Store.existing(run_dir)
        bound = store.study()
        store.close()
        if bound is None:
            raise BendsError(f"{run_dir} holds no study results yet")
        _reporting(lambda: report_run(get_study(bound[0]), run_dir), run_dir)

    _guarded(run)


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="a run directory")],
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet")] = "csv",
    out: Annotated[Path | None, typer.Option("--out", help="directory (default RUN_DIR)")] = None,
) -> None:
    """Export RUN_DIR's metric rows and curves as CSV or Parquet tables."""

    def run() -> None:
        from bends.runner.export import export_run

        for path in export_run(run_dir, out, fmt):  # type: ignore[arg-type]
            console.print(str(path))

    _guarded(run)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="run directory of the demo")] = Path("runs/demo"),
    fresh: Annotated[bool, typer.Option(help="discard stored results first")] = False,
) -> None:
    """Small versions of every study, one report: OUT/report.md (and .html)."""

    def run() -> None:
        from bends.experiments import STUDIES
        from bends.runner.config import resolve
        from bends.runner.executors import LocalExecutor
        from bends.runner.report import study_section, write_report

        ran = []
        finished = True
        for study in STUDIES.values():
            if study.demo is None:
                continue
            config = resolve(study.Config, base=study.demo)
            finished &= _sweep(study, config, out / study.name, LocalExecutor(), fresh)
            ran.append(study)

        def write() -> Path:
            sections = [study_section(study, out / study.name, out) for study in ran]
            return write_report(out, "bends demo", sections)

        _reporting(write, out)
        if not finished:
            raise typer.Exit(1)

    _guarded(run)


dynamics_app = typer.Typer(
    no_args_is_help=True, help="Interval-map dynamics: periods, oscillations, growth, bounds."
)
app.add_typer(dynamics_app, name="dynamics")

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
        return PiecewiseLinearMap(_floats(points, "--points"), _floats(values, "--values")), "map"
    c = PHI if c is None else c
    if not 0 < c <= 2:
        raise BendsError(f"c|x| − 1 maps [−1, 1] into itself only for 0 < c ≤ 2, got {c}")
    return abs_map(c), f"{c:g}|x| − 1"


@dynamics_app.command("periods")
def dynamics_periods(
    period: Annotated[int, typer.Option("--p", help="the period")] = 3,
    c: MapOption = None,
    slope: SlopeOption = None,
    points: PointsOption = None,
    values: ValuesOption = None,
) -> None:
    """Periodic orbits of minimal period --p, and the periods Sharkovsky says they force."""

    def run() -> None:
        from bends.dynamics import forced_periods, orbits

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

    _guarded(run)


@dynamics_app.command("oscillations")
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

    def run() -> None:
        from bends.dynamics import iterate_map, laps, lipschitz, oscillations

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

    _guarded(run)


@dynamics_app.command("growth")
def dynamics_growth(period: Annotated[int, typer.Option("--p", help="an odd period ≥ 3")] = 3):
    """Growth rates of oscillations forced by an odd period (ICLR and ICML 2020)."""

    def run() -> None:
        from bends.dynamics import growth_rates

        iclr, icml = growth_rates(period)
        console.print(
            f"period {period}: x^{period - 1} − x^{period - 2} − 1 → {iclr:.10f} (ICLR 2020); "
            f"x^{period} − 2x^{period - 2} − 1 → {icml:.10f} (ICML 2020)",
            soft_wrap=True,
        )

    _guarded(run)


@dynamics_app.command("bound")
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

    def run() -> None:
        from bends.dynamics import separation_bound

        r = separation_bound(width, depth, t, low, high, c, lipschitz_constant)
        holds = "holds" if r.hypothesis_holds else "does NOT hold"
        console.print(
            f"(2u)^l = {r.capacity:.6g}, c^t = {r.oscillations:.6g}: the hypothesis "
            f"(2u)^l ≤ c^t/8 {holds}; L1 error ≥ {r.bound:.6g}",
            soft_wrap=True,
        )

    _guarded(run)


def main() -> None:
    """Entry point of the ``bends`` console script."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
