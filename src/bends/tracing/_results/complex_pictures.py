"""Pictures of a :class:`~bends.tracing._results.complex.Complex`: the cells of a 2-D or 3-D
complex, each drawn apart from the others (an *exploded* view: every cell moved away from the
domain's centre by ``explode`` times its centroid's offset, so that the cells inside a 3-D box
show). Larger complexes are cut to their ``max_cells`` cells nearest the centre, and the
picture says so. Sections of a 3-D network through any plane are :func:`~bends.trace_plane`'s
region maps.

Example:
    >>> import numpy as np
    >>> from bends import MLP, trace_box
    >>> net = MLP.from_layers([(np.eye(3), -0.5 * np.ones(3)), (np.ones((1, 3)), np.zeros(1))])
    >>> figure = plot_complex(trace_box(net, [0, 0, 0], [1, 1, 1]))
    >>> len(figure.axes)
    1
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from scipy.spatial import ConvexHull

from bends.errors import BendsError

MAX_DRAWN_CELLS = 600


def plot_complex(cells, explode: float = 0.35, max_cells: int | None = MAX_DRAWN_CELLS,
                 title: str | None = None) -> Figure:  # fmt: skip
    """The cells of a 2-D or 3-D ``cells`` (box coordinates), drawn apart by ``explode``, each
    in its own colour; edges of one cell are the complex's edges with both ends in it."""
    if cells.dim not in (2, 3):
        raise BendsError(f"plot_complex draws 2-D and 3-D complexes, this one has d = "
                         f"{cells.dim}: trace a 3-D slice (corners) or a plane")  # fmt: skip
    ids = cells.cells()
    centre = cells.points.mean(axis=0)
    centroids = np.array([cells.points[i].mean(axis=0) for i in ids])
    order = np.argsort(np.linalg.norm(centroids - centre, axis=1))
    shown = order if max_cells is None else order[:max_cells]
    figure = Figure(figsize=(6, 5.6))
    ax = figure.add_subplot(projection="3d" if cells.dim == 3 else None)
    colours = _colours(len(ids))
    ends = cells.edge_ends
    faces, face_colours, lines = [], [], []
    for c in shown:
        members = np.zeros(len(cells.points), bool)
        members[ids[c]] = True
        inside = ends[members[ends[:, 0]] & members[ends[:, 1]]]
        points = cells.points[ids[c]] + explode * (centroids[c] - centre)
        shift = points[0] - cells.points[ids[c][0]]
        lines += [np.stack([cells.points[a], cells.points[b]]) + shift for a, b in inside]
        hull = ConvexHull(points)
        faces += [points[s] for s in hull.simplices] if cells.dim == 3 else [
            points[hull.vertices]]  # fmt: skip
        face_colours += [colours[c]] * (len(hull.simplices) if cells.dim == 3 else 1)
    if cells.dim == 3:
        from mpl_toolkits.mplot3d.art3d import Line3DCollection, Poly3DCollection

        ax.add_collection3d(Poly3DCollection(faces, facecolors=face_colours, alpha=0.35,
                                             linewidths=0))  # fmt: skip
        ax.add_collection3d(Line3DCollection(lines, colors="0.15", linewidths=0.5))
        low, high = (
            np.min([f.min(axis=0) for f in faces], 0),
            np.max([f.max(axis=0) for f in faces], 0),
        )
        ax.set(xlim=(low[0], high[0]), ylim=(low[1], high[1]), zlim=(low[2], high[2]))
    else:
        from matplotlib.collections import LineCollection, PolyCollection

        ax.add_collection(PolyCollection(faces, facecolors=face_colours, alpha=0.6))
        ax.add_collection(LineCollection(lines, colors="0.15", linewidths=0.5))
        ax.autoscale()
    if cells.dim == 3:
        ax.set_box_aspect((1, 1, 1))
        ax.set_zlabel("t₃")
    else:
        ax.set_aspect("equal")
    ax.set_xlabel("t₁")
    ax.set_ylabel("t₂")
    note = "" if len(shown) == len(ids) else f", the {len(shown)} nearest the centre drawn"
    ax.set_title(title or f"{cells.regions} regions, {cells.pieces} pieces{note}",
                 fontsize=10)  # fmt: skip
    return figure


def _colours(count: int) -> np.ndarray:
    """``count`` colours that neighbours in id order rarely share."""
    from matplotlib import colormaps

    rng = np.random.default_rng(0)
    return colormaps["tab20"](rng.permutation(count) % 20)
