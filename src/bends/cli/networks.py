"""``bends count``, ``construct`` and ``plot``: one network, one segment."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from bends.budget import check_memory
from bends.cli._common import (
    console,
    err_console,
    figure_path,
    guarded,
    parse_floats,
    parse_point,
)
from bends.constructions import REGISTRY
from bends.errors import BendsError

NetArgument = Annotated[
    Path,
    typer.Argument(metavar="NET", help="network: bends JSON, a state_dict or checkpoint, a .pt2"),
]
StartOption = Annotated[
    str | None,
    typer.Option("--from", help="segment start: comma-separated (e.g. 0,0) or a .npy file"),
]
EndOption = Annotated[
    str | None, typer.Option("--to", help="segment end: comma-separated or a .npy file")
]


def _flag(help: str, *names: str):
    """A boolean flag: shown as a switch, never as taking a value."""
    return typer.Option(*names, help=help, show_default=False)


@guarded
def count(
    net_file: NetArgument,
    start: StartOption = None,
    end: EndOption = None,
    exact: Annotated[bool, _flag("exact rational arithmetic (small networks)", "--exact")] = False,
    regions_only: Annotated[
        bool, _flag("skip the pieces: about 2x faster when wide", "--regions-only")
    ] = False,
    as_json: Annotated[bool, _flag("print one JSON object", "--json")] = False,
    plot: Annotated[
        Path | None, typer.Option(help="draw the output with its bends (.png, .svg or .pdf)")
    ] = None,
    plane: Annotated[
        str | None,
        typer.Option(
            help="count the regions of the plane through A;B;C instead (e.g. '0,0;1,0;0,1'; "
            "'square': a 2-input network's [0, 1]² or the square its segment spans)"
        ),
    ] = None,
    geometry: Annotated[
        bool, _flag("--plane --json: every face's corners (input coordinates)", "--geometry")
    ] = False,
    box: Annotated[
        str | None,
        typer.Option(
            help="count the regions of the box LOW;HIGH of input space instead (e.g. "
            "'-1,-1,-1;1,1,1', or '-1;1' for every coordinate; up to 8 inputs)"
        ),
    ] = None,
    whole: Annotated[
        bool, _flag("count the regions of the whole input space (up to 8 inputs)", "--whole")
    ] = False,
) -> None:
    """Count the pieces and activation regions of NET along a segment (or, with --plane, the
    regions and pieces of a plane through three points; with --box or --whole, of a box or
    the whole input space)."""
    from bends.nets import load
    from bends.tracing import trace

    if plot is not None:
        figure_path(plot, "--plot")
    net = load(net_file)
    if sum(x is not None for x in (plane, box)) + whole > 1:
        raise BendsError("give one of --plane, --box and --whole")
    if plane is not None:
        _count_plane(net_file, net, plane, as_json, geometry, exact)
        return
    if box is not None or whole:
        _count_box(net_file, net, box, as_json, exact)
        return
    began = time.perf_counter()
    tr = trace(
        net,
        parse_point(start, "--from"),
        parse_point(end, "--to"),
        exact=exact,
        progress=exact,
        pieces=not regions_only,
    )
    seconds = time.perf_counter() - began
    if plot is not None:
        from bends.plotting import plot_trace, save_figure

        save_figure(plot_trace(tr, title=f"{net_file.name}: {tr.describe()}"), plot)
    if as_json:
        print(json.dumps({**tr.summary(), "seconds": seconds}))
        return
    pieces = f"[bold]{tr.pieces}[/] pieces, " if tr.has_pieces else ""
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


def _count_plane(net_file: Path, net, plane: str, as_json: bool, geometry: bool,
                 exact: bool) -> None:  # fmt: skip
    """``bends count NET --plane A;B;C``: the planar partition's counts."""
    began = time.perf_counter()
    partition = _partition(net, plane, exact)
    # "faces": the old key of "regions", kept for scripts that read it
    counts = {"regions": partition.regions, "faces": partition.regions,
              "pieces": partition.pieces, "vertices": partition.vertices, "edges": partition.edges,
              "edge_density": partition.edge_density().tolist(), "resolved": partition.resolved,
              "exact": exact}  # fmt: skip
    if as_json:
        extra = {"polygons": partition.geometry()} if geometry else {}
        print(json.dumps({**counts, "seconds": time.perf_counter() - began, **extra}))
        return
    a, b, c = (p.tolist() for p in partition.corners)
    console.print(
        f"{net_file}: [bold]{counts['regions']}[/] activation regions, "
        f"[bold]{counts['pieces']}[/] pieces, {counts['vertices']} vertices, {counts['edges']} "
        f"edges on the plane {a} + s·(B − A) + u·(C − A), B = {b}, C = {c} "
        f"({'exact' if exact else 'float64'}, {time.perf_counter() - began:.3g} s)",
        soft_wrap=True,
    )


def _count_box(net_file: Path, net, box: str | None, as_json: bool, exact: bool) -> None:
    """``bends count NET --box LOW;HIGH`` (or ``--whole``, ``box`` None): the n-D complex's
    counts."""
    from bends.tracing import trace_box

    began = time.perf_counter()
    if box is None:
        cells = trace_box(net, whole=True, exact=exact)
        where = f"the whole {net.input_dim}-D input space"
    else:
        ends = box.split(";")
        if len(ends) != 2:
            raise BendsError(f"--box needs two points LOW;HIGH such as '-1,-1;1,1', got {box!r}")
        low, high = (parse_point(end.strip(), f"--box {name}")
                     for name, end in zip(("LOW", "HIGH"), ends, strict=True))  # fmt: skip
        dim = getattr(net, "input_dim", None)
        low, high = (np.full(dim, p[0]) if p.size == 1 and dim else p for p in (low, high))
        cells = trace_box(net, low, high, exact=exact)
        where = f"the box {low.tolist()} to {high.tolist()}"
    counts = {"regions": cells.regions, "pieces": cells.pieces, "vertices": cells.vertices,
              "edges": cells.edges, "layer_regions": list(cells.layer_regions),
              "unbounded": int(cells.unbounded.sum()) if cells.whole else 0,
              "dim": net.input_dim, "lineality": cells.lineality,
              "resolved": cells.resolved, "exact": exact}  # fmt: skip
    seconds = time.perf_counter() - began
    if as_json:
        print(json.dumps({**counts, "seconds": seconds}))
        return
    unbounded = f" ({counts['unbounded']} unbounded)" if cells.whole else ""
    console.print(
        f"{net_file}: [bold]{cells.regions}[/] activation regions{unbounded}, "
        f"[bold]{cells.pieces}[/] pieces, {cells.vertices} vertices, {cells.edges} edges on "
        f"{where} ({'exact' if exact else 'float64'}, {seconds:.3g} s)",
        soft_wrap=True,
    )


def _read_points(path: Path) -> np.ndarray:
    """Points from a CSV file: one per row, comma-separated numbers (a header is skipped)."""
    try:
        points = np.genfromtxt(path, delimiter=",", skip_header=0)
    except (OSError, ValueError) as err:
        raise BendsError(f"--mark: cannot read {path} as comma-separated numbers ({err})") from None
    points = np.atleast_2d(points)
    points = points[~np.isnan(points).all(axis=1)]  # a header row reads as NaN
    if points.size == 0 or np.isnan(points).any():
        raise BendsError(f"--mark: {path} must hold one point per row, numbers only")
    return points


def _partition(net, plane: str, exact: bool = False):
    """The partition of the plane through ``--plane``'s three points A;B;C; ``square`` for a
    2-input network: the square its segment spans (default [0, 1]²)."""
    from bends.tracing import trace_plane

    if plane.strip() == "square":
        if net.input_dim != 2:
            raise BendsError(
                f"--plane square is for 2-input networks; this one takes {net.input_dim}"
            )
        segment = getattr(net, "segment", None)
        a, b = segment if segment is not None else (np.zeros(2), np.ones(2))
        if a[0] == b[0] or a[1] == b[1]:
            raise BendsError("--plane square: the network's segment spans no square")
        return trace_plane(net, a, [b[0], a[1]], [a[0], b[1]], exact=exact)
    corners = plane.split(";")
    if len(corners) != 3:
        raise BendsError(f"--plane needs three points A;B;C such as '0,0;1,0;0,1', got {plane!r}")
    points = [
        parse_point(c.strip(), f"--plane point {n}") for n, c in zip("ABC", corners, strict=True)
    ]
    return trace_plane(net, *points, exact=exact)


def _used_by(parameter: str) -> str:
    """Which constructions take ``parameter`` (for its help text)."""
    names = [name for name, entry in REGISTRY.items() if parameter in entry.defaults]
    return f"[{', '.join(names)}]"


def _option(help: str, parameter: str, *names: str):
    return typer.Option(*names, help=f"{help} {_used_by(parameter)}", show_default=False)


@guarded
def construct(
    name: Annotated[str | None, typer.Argument(help="construction name (see --list)")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="network file")] = None,
    list_all: Annotated[bool, _flag("list the constructions", "--list")] = False,
    depth: Annotated[int | None, _option("iterations / hidden layers", "depth")] = None,
    steps: Annotated[int | None, _option("tied-RNN steps", "steps")] = None,
    m: Annotated[int | None, _option("number of sawtooth terms", "m", "--m")] = None,
    j: Annotated[int | None, _option("Cantor iterate index", "j", "--j")] = None,
    slope: Annotated[float | None, _option("tent-map slope", "slope")] = None,
    c: Annotated[float | None, _option("c in c|x| − 1", "c", "--c")] = None,
    peaks: Annotated[str | None, _option("comma-separated peaks in (0, 1)", "peaks")] = None,
    scales: Annotated[str | None, _option("comma-separated scales", "scales")] = None,
    peak: Annotated[float | None, _option("the common peak", "peak")] = None,
    ratio: Annotated[float | None, _option("scale ratio", "ratio")] = None,
    orbit: Annotated[str | None, _option("comma-separated periodic orbit", "orbit")] = None,
    rnn: Annotated[bool | None, _option("the tied-RNN form", "rnn", "--rnn")] = None,
    add: Annotated[bool | None, _option("add waves instead", "add", "--add")] = None,
) -> None:
    """Build a network from the theory and save it (.json; an MLP also as .pt).

    Each option lists, in brackets, the constructions that take it.
    """
    from bends.constructions import build
    from bends.nets import save
    from bends.tracing import estimated_bytes, trace

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
        "depth": depth, "steps": steps, "m": m, "j": j, "slope": slope, "c": c, "peak": peak,
        "ratio": ratio, "rnn": rnn, "add": add, "peaks": parse_floats(peaks, "--peaks"),
        "scales": parse_floats(scales, "--scales"), "orbit": parse_floats(orbit, "--orbit"),
    }  # fmt: skip
    params = {k: v for k, v in given.items() if v is not None}
    net = build(name, **params)
    if output is None:
        raise BendsError("give the output file with -o FILE (.json or .pt)")
    save(net, output)
    expected = REGISTRY[name].pieces(**{**REGISTRY[name].defaults, **params})
    if expected is not None:  # the closed form says how large the trace will be: check first
        check_memory(estimated_bytes(net, expected + 1), f"tracing {name} ({expected} pieces)")
    tr = trace(net)
    check = "" if expected is None else f" (closed form: {expected})"
    console.print(f"{name}: {tr.pieces} pieces{check} → {output}", soft_wrap=True)
    if expected is not None and tr.pieces != expected:
        err_console.print(
            f"warning: float64 counts {tr.pieces} pieces where the closed form says {expected}: "
            "slope changes this small are below float64's tolerance (bends count --exact "
            "settles it for small networks)",
            markup=False, soft_wrap=True,
        )  # fmt: skip


@guarded
def plot(
    net_file: NetArgument,
    output: Annotated[Path, typer.Option("-o", "--output", help="figure (.png, .svg or .pdf)")],
    start: StartOption = None,
    end: EndOption = None,
    layers: Annotated[bool, _flag("every neuron, layer by layer", "--layers")] = False,
    neurons: Annotated[int, typer.Option(help="--layers: neurons drawn per layer at most")] = 16,
    panels: Annotated[int, typer.Option(help="--layers: layers drawn at most")] = 11,
    plane: Annotated[
        str | None, typer.Option(help="draw the region map of the plane through A;B;C instead")
    ] = None,
    color: Annotated[
        str, typer.Option(help="--plane: colour faces by pieces, random, output or gradient")
    ] = "pieces",
    mark: Annotated[
        Path | None,
        typer.Option(help="--plane: points to mark (.csv, a point per row; a last column: class)"),
    ] = None,
    boundary: Annotated[
        bool, _flag("--plane: draw the decision boundary (argmax of the outputs)", "--boundary")
    ] = False,
) -> None:
    """Draw NET's output along a segment with its bends (--layers: every neuron, by layer;
    --plane: the region map of a plane)."""
    from bends.nets import load
    from bends.plotting import layers_shown, plot_layers, plot_partition, plot_trace, save_figure
    from bends.tracing import trace

    figure_path(output, "-o")
    if neurons < 1 or panels < 1:
        raise BendsError("--neurons and --panels must be at least 1")
    if plane is not None:
        partition = _partition(load(net_file), plane)
        title = f"{net_file.stem}: {partition.regions} regions, {partition.pieces} pieces"
        marks = None if mark is None else _read_points(mark)
        figure = plot_partition(partition, color=color, title=title, marks=marks,
                                boundary=boundary)  # fmt: skip
        console.print(f"{save_figure(figure, output)}: {partition!r}", soft_wrap=True)
        return
    tr = trace(load(net_file), parse_point(start, "--from"), parse_point(end, "--to"))
    if layers:
        figure = plot_layers(tr, max_neurons=neurons, max_layers=panels)
        shown = layers_shown(tr, neurons, panels)
        if shown is not None:
            console.print(f"note: {shown}", soft_wrap=True)
    else:
        figure = plot_trace(tr, title=f"{net_file.stem}: {tr.describe()}")
    console.print(f"{save_figure(figure, output)}: {tr.describe()}")
