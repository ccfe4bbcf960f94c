r"""Study ``count-depth``: exact pieces against depth, constructed against random networks.

For each depth L the study counts the pieces of

* ``sawtooth``: Telgarsky's sawtooth :math:`g^{L}` on [0, 1] (closed form :math:`2^L`);
* ``yarotsky``: Yarotsky's interpolant of x² with L sawtooth terms (closed form :math:`2^L`);
* ``random-mlp``: an MLP with L hidden layers of ``width`` neurons, PyTorch's default
  initialisation and Hanin & Rolnick's (He-normal weights, biases :math:`N(0, 10^{-6})`;
  ``inits``, :mod:`bends.nets.random`), traced along the segment from :math:`c - r u` to
  :math:`c + r u` for a random unit direction u of the ``input_dim``-dimensional input space
  (r = ``radius``), through the origin (c = 0) or at a distance ``offset`` from it
  (c = offset·v, v a random unit vector orthogonal to u: Hanin & Rolnick's lines run through
  data, not through the origin, where their near-zero biases crowd every breakpoint);
* ``random-rnn``: a tied RNN of width ``rnn_width`` with standard normal W and L steps,
  traced along x(t) = (t, 1, 0, …, 0),

and, up to depth ``exact_depth``, repeats the count in exact rational arithmetic. The
constructions reach :math:`2^L`; random networks at initialisation stay far below (their
expected count grows about linearly in the number of neurons N, Hanin & Rolnick 2019: the
report fits regions = a + c·N per initialisation and offset, with c's bootstrap interval).

Example:
    >>> study = CountDepth()
    >>> config = study.Config(families=("sawtooth",), depths=(3,), exact_depth=3)
    >>> row, = study.run_cell(study.cells(config)[0]).rows
    >>> row["pieces"], row["regions"], row["closed_form"], row["exact_pieces"]
    (8, 8, 8, 8)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from bends.constructions import sawtooth, yarotsky_square
from bends.nets import Network
from bends.nets.random import Init, random_direction, random_mlp, random_rnn
from bends.runner.config import StudyConfig, require, setting
from bends.runner.counting import quiet_trace
from bends.runner.figures import Figures
from bends.runner.study import Cell, CellResult, StoredCell, Study
from bends.studies._count_depth_report import SEEDED, report
from bends.tracing import trace

Family = Literal["sawtooth", "yarotsky", "random-mlp", "random-rnn"]


@dataclass(frozen=True)
class CountDepthConfig(StudyConfig):
    families: tuple[Family, ...] = setting(
        ("sawtooth", "yarotsky", "random-mlp", "random-rnn"), "network families to count"
    )
    depths: tuple[int, ...] = setting(
        # 2^26 pieces fill 6 GiB: deeper sawtooths do not fit the default memory budget
        tuple(range(1, 17)),
        "depths L (layers or RNN steps)",
        at_least=1,
        at_most=26,
    )
    width: int = setting(16, "hidden width of the random MLPs", at_least=1, at_most=4096)
    input_dim: int = setting(2, "input dimension of the random MLPs", at_least=1)
    radius: float = setting(1.0, "random MLPs are traced from c − radius·u to c + radius·u",
                            above=0)  # fmt: skip
    inits: tuple[Init, ...] = setting(
        ("torch", "hanin-rolnick"), "random MLPs' initialisations (bends.nets.random)"
    )
    offsets: tuple[float, ...] = setting(
        (0.0, 1.0), "random MLPs: the segment's distance |c| from the origin (0: through it)",
        at_least=0,
    )  # fmt: skip
    rnn_width: int = setting(4, "width of the random tied RNNs", at_least=2)
    exact_depth: int = setting(5, "recount in exact arithmetic up to this depth")
    # random tied RNNs are dead (f ≡ 0) for about half the seeds and heavy-tailed otherwise:
    # 16 seeds put their mean anywhere from 1 to 6
    seeds: int = setting(256, "random networks per depth")
    seeds_per_cell: int = setting(64, "random networks counted in one cell")

    def validate(self) -> None:
        super().validate()
        require(self.input_dim >= 2 or not any(self.offsets),
                "a segment off the origin needs input_dim ≥ 2")  # fmt: skip


@dataclass(frozen=True)
class Params:
    """A cell's parameters: the family and depth L, whether to recount exactly, and the random
    networks' sizes (which the constructions' cells do not carry; a tied RNN's ``width`` is
    ``rnn_width``)."""

    family: str
    depth: int
    exact: bool
    width: int = 0
    input_dim: int = 0
    radius: float = 0.0
    init: str = "torch"
    offset: float = 0.0


class CountDepth(Study):
    name = "count-depth"
    summary = "exact pieces vs depth: sawtooth, Yarotsky, random MLPs and tied RNNs"
    Config = CountDepthConfig
    guide = "studies/count-depth.md"
    version = 3  # 2: 256 seeds, a live flag; 3: Hanin–Rolnick's initialisation, offsets
    # the demo recounts in rational arithmetic to depth 2 only: at depth 5 that recount takes
    # 4 min of its 4.5 (Hanin–Rolnick through the origin: ~5,000 breakpoints per 64 seeds)
    demo = {"depths": list(range(1, 11)), "seeds": 64, "seeds_per_cell": 64, "exact_depth": 2}  # noqa: RUF012

    def cells(self, config: CountDepthConfig) -> list[Cell]:
        mlp = {"width": config.width, "input_dim": config.input_dim, "radius": config.radius}
        variants = {
            "random-mlp": [{**mlp, "init": init, "offset": offset}
                           for init in dict.fromkeys(config.inits)
                           for offset in dict.fromkeys(config.offsets)],
            "random-rnn": [{"width": config.rnn_width}],
        }  # fmt: skip
        return [
            self.cell({"family": family, "depth": depth, "exact": depth <= config.exact_depth,
                       **variant}, group)
            for family in dict.fromkeys(config.families)
            for variant in variants.get(family, [{}])
            for depth in sorted(set(config.depths))
            for group in (config.seed_groups() if family in SEEDED else [()])
        ]  # fmt: skip

    def run_cell(self, cell: Cell) -> CellResult:
        p = Params(**cell.params)
        result = CellResult()
        for seed in cell.seeds or (None,):
            net, start, end, closed_form = _network(p, seed)
            tr = quiet_trace(net, start, end)  # recorded in the row as "resolved" instead
            row = {
                "family": p.family,
                "depth": p.depth,
                "init": p.init if p.family == "random-mlp" else None,
                "offset": p.offset if p.family == "random-mlp" else None,
                "seed": seed,
                "pieces": tr.pieces,
                "regions": tr.regions,
                "live": bool(np.any(tr.values != 0)),
                "closed_form": closed_form,
                "resolved": tr.resolved,
                "exact_pieces": trace(net, start, end, exact=True).pieces if p.exact else None,
            }
            result.rows.append(row)
        return result

    def report(self, config: CountDepthConfig, results: list[StoredCell], figures: Figures) -> str:
        return report(config, results, figures)


def _network(
    p: Params, seed: int | None
) -> tuple[Network, np.ndarray | None, np.ndarray | None, int | None]:
    """The cell's network for one seed, its segment (None: its own) and closed-form count."""
    if p.family == "sawtooth":
        return sawtooth(p.depth), None, None, 2**p.depth
    if p.family == "yarotsky":
        return yarotsky_square(p.depth), None, None, 2**p.depth
    rng = np.random.default_rng(seed)
    if p.family == "random-mlp":
        net = random_mlp([p.input_dim, *[p.width] * p.depth, 1], rng, p.init)
        direction = random_direction(p.input_dim, rng)
        centre = np.zeros(p.input_dim)
        if p.offset:  # a unit vector orthogonal to the direction
            away = rng.standard_normal(p.input_dim)
            away -= (away @ direction) * direction
            centre = p.offset * away / np.linalg.norm(away)
        return net, centre - p.radius * direction, centre + p.radius * direction, None
    return random_rnn(p.width, p.depth, rng), None, None, None
