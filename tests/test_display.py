"""Results show themselves in Jupyter (``_repr_png_``): a small PNG drawn by the code of
bends.plotting, capped so that large results draw at once (a note on the figure says what the
cap left out), and ``import bends`` still loads no matplotlib."""

import subprocess
import sys

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.image import AxesImage
from matplotlib.text import Text

import bends.plotting
from bends import trace, trace_plane, trace_segments
from bends.constructions import sawtooth
from bends.nets.random import random_mlp
from bends.tracing._results import pictures

PNG = b"\x89PNG\r\n\x1a\n"


def _size(data: bytes) -> tuple[int, int]:
    """A PNG's width and height in pixels (its IHDR chunk)."""
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _texts(figure) -> list[str]:
    return [t.get_text() for t in figure.findobj(Text)]


@pytest.fixture(scope="module")
def plane_net():
    return random_mlp([2, 16, 16, 1], seed=0)


def test_trace_traces_and_partition_show_small_pngs(plane_net):
    width, height = (round(inches * pictures.PICTURE_DPI) for inches in pictures.PICTURE_SIZE)
    rng = np.random.default_rng(0)
    results = [
        trace(sawtooth(3)),
        trace(sawtooth(3), pieces=False),
        trace(plane_net, [-1, -1], [1, 1]),
        trace_segments(sawtooth(4), [[0.0], [0.25]], [[1.0], [0.5]]),  # a few: their outputs
        trace_segments(plane_net, rng.uniform(-1, 1, (50, 2)), rng.uniform(-1, 1, (50, 2))),
        trace_plane(plane_net, [-1, -1], [1, -1], [-1, 1]),
        trace_plane(random_mlp([3, 8, 1], seed=1), [0, 0, 0], [1, 0.5, 0], [0, 1, 1]),
    ]
    for result in results:
        data = result._repr_png_()
        assert data.startswith(PNG), repr(result)
        assert _size(data) == (width, height), repr(result)


def test_pictures_carry_their_counts_and_labelled_axes(plane_net):
    tr = trace(sawtooth(3))
    ax = pictures.trace_picture(tr).axes[0]
    assert ax.get_title() == "8 pieces, 8 activation regions"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "output")
    partition = trace_plane(plane_net, [-1, -1], [1, -1], [-1, 1])
    ax = pictures.partition_picture(partition).axes[0]
    assert ax.get_title() == f"{partition.regions:,} regions, {partition.pieces:,} pieces"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x₁", "x₂")
    many = trace_segments(sawtooth(4), np.zeros((10, 1)), np.linspace(0.1, 1, 10)[:, None])
    ax = pictures.traces_picture(many).axes[0]
    low, high = int(many.pieces.min()), int(many.pieces.max())
    assert ax.get_title().startswith(f"10 segments: {low} to {high} pieces")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("pieces per segment", "segments")
    few = trace_segments(sawtooth(4), [[0.0], [0.0]], [[1.0], [1.0]])
    assert pictures.traces_picture(few).axes[0].get_title() == "2 segments: 16 pieces each"


def test_a_long_trace_is_drawn_as_its_envelope_with_a_note():
    tr = trace(sawtooth(20))  # a million pieces
    note = pictures.knots_note(len(tr.knots), pictures.MAX_DRAWN_KNOTS)
    assert note == "1,048,577 knots, over 20,000: drawn as their envelope"
    figure = pictures.trace_picture(tr)
    assert note in _texts(figure)
    (line,) = figure.axes[0].lines  # no bends marked: too many
    assert line.get_xdata().size <= pictures.MAX_DRAWN_KNOTS + 2
    assert (line.get_ydata().min(), line.get_ydata().max()) == (0.0, 1.0)
    assert tr._repr_png_().startswith(PNG)
    # plot_trace itself draws everything unless given a cap (files keep every knot)
    whole = bends.plotting.plot_trace(tr)
    assert whole.axes[0].lines[0].get_xdata().size == len(tr.knots)
    assert note not in _texts(whole)


def test_the_envelope_keeps_the_ends_and_every_runs_extremes():
    rng = np.random.default_rng(1)
    x = np.sort(rng.uniform(size=10_000))
    y = rng.normal(size=x.size)
    ex, ey = pictures.envelope(x, y, 100)
    assert ex.size <= 202 and (ex[0], ex[-1]) == (x[0], x[-1])
    assert np.all(np.diff(ex) > 0)
    for run in np.arange(x.size).reshape(100, 100):  # each run of 100 keeps its extremes
        assert {y[run].min(), y[run].max()} <= set(ey)
    assert pictures.envelope(x[:5], y[:5], 100)[1].tolist() == y[:5].tolist()


def test_a_large_partition_is_shaded_by_boundary_density_with_a_note():
    partition = trace_plane(random_mlp([2, 110, 110, 110, 1], seed=0),
                            [-1.2, -1.2], [1.2, -1.2], [-1.2, 1.2])  # fmt: skip
    assert partition.regions > 10_000 and partition.edges > pictures.MAX_DRAWN_EDGES
    note = pictures.edges_note(partition.edges, pictures.MAX_DRAWN_EDGES)
    assert note == f"{partition.edges:,} edges, over 30,000: shaded by their density, not drawn"
    figure = pictures.partition_picture(partition)
    ax = figure.axes[0]
    assert note in _texts(figure)
    assert ax.get_title() == f"{partition.regions:,} regions, {partition.pieces:,} pieces"
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]  # no face drawn
    (image,) = [i for i in ax.get_images() if isinstance(i, AxesImage)]
    shade = image.get_array()
    # every inner edge is counted: the shade integrates to the boundaries' total length
    cell = (2.4 / pictures.DENSITY_BINS) ** 2
    inner = partition.edge_lines >= 0
    ends = partition.to_input(partition.points)[partition.edge_ends[inner]]
    total = np.linalg.norm(ends[:, 1] - ends[:, 0], axis=1).sum()
    assert shade.sum() * cell == pytest.approx(total, rel=1e-9)
    assert partition._repr_png_().startswith(PNG)


def test_a_partition_of_a_few_thousand_regions_is_drawn_whole():
    partition = trace_plane(random_mlp([2, 64, 64, 1], seed=0), [-1, -1], [1, -1], [-1, 1])
    assert partition.regions > 2000 and partition.edges <= pictures.MAX_DRAWN_EDGES
    assert pictures.edges_note(partition.edges, pictures.MAX_DRAWN_EDGES) is None
    ax = pictures.partition_picture(partition).axes[0]
    (faces,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(faces.get_paths()) == partition.regions
    assert not ax.get_images()


def test_many_segments_show_a_histogram_of_their_counts(plane_net):
    rng = np.random.default_rng(2)
    traces = trace_segments(plane_net, rng.uniform(-1, 1, (400, 2)), rng.uniform(-1, 1, (400, 2)),
                            pieces=False)  # fmt: skip
    ax = pictures.traces_picture(traces).axes[0]
    (bars,) = ax.patches
    heights = bars.get_data().values
    assert heights.sum() == len(traces)
    assert ax.get_xlabel() == "activation regions per segment"


def test_plotting_is_the_public_face_of_the_pictures():
    for name in ("plot_trace", "plot_layers", "plot_traces", "plot_partition", "layers_shown"):
        assert getattr(bends.plotting, name) is getattr(pictures, name)
    assert bends.plotting.MAX_DRAWN_EDGES == pictures.MAX_DRAWN_EDGES


def test_showing_a_result_loads_matplotlib_only_then_and_never_pyplot():
    code = (
        "import sys, bends\n"
        "from bends.constructions import sawtooth\n"
        "before = 'matplotlib' in sys.modules\n"
        "assert bends.trace(sawtooth(3))._repr_png_()[:4] == b'\\x89PNG'\n"
        "print(before, 'matplotlib' in sys.modules, 'matplotlib.pyplot' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "False"]


def test_a_3d_complex_shows_its_cells_drawn_apart_and_an_8d_one_its_text():
    import numpy as np

    from bends import MLP, trace_box

    cube = MLP.from_layers([(np.eye(3), -0.5 * np.ones(3)), (np.ones((1, 3)), np.zeros(1))])
    png = trace_box(cube, np.zeros(3), np.ones(3))._repr_png_()
    assert png.startswith(b"\x89PNG")
    wide = MLP.from_layers([(np.eye(8), -0.5 * np.ones(8)), (np.ones((1, 8)), np.zeros(1))])
    cells = trace_box(wide, np.zeros(8), np.ones(8))
    assert cells._repr_png_() is None and cells.regions == 2**8
