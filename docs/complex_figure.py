"""The n-D page's figures: a small random [3, 8, 8, 1] MLP's cells in the cube [-1, 1]^3, drawn
apart (box-cells.png), and three sections of it (planes t₃ = −0.5, 0, 0.5, traced by
trace_plane: box-sections.png).

    python docs/complex_figure.py docs/figures
"""

from __future__ import annotations

import sys

import numpy as np
from matplotlib.figure import Figure

from bends import trace_box, trace_plane
from bends.nets.random import random_mlp
from bends.plotting import plot_complex, plot_partition, save_figure


def main(folder: str) -> None:
    net = random_mlp([3, 8, 8, 1], seed=2)
    cells = trace_box(net, -np.ones(3), np.ones(3))
    save_figure(plot_complex(cells, explode=0.8), f"{folder}/box-cells.png")
    heights = (-0.5, 0.0, 0.5)
    figure = Figure(figsize=(15, 4.6), layout="constrained")
    for ax, z in zip(figure.subplots(1, 3), heights, strict=True):
        section = trace_plane(net, [-1, -1, z], [1, -1, z], [-1, 1, z])
        plot_partition(section, title=f"section t₃ = {z}: {section.regions} regions", ax=ax)
    save_figure(figure, f"{folder}/box-sections.png")
    print(f"{cells!r}, f-vector {cells.f_vector()}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/figures")
