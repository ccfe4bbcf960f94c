r"""Study ``count-depth``: exact pieces against depth, constructed against random networks.

For each depth L the study counts the pieces of

* ``sawtooth``: Telgarsky's sawtooth :math:`g^{L}` on [0, 1] (closed form :math:`2^L`);
* ``yarotsky``: Yarotsky's interpolant of x² with L sawtooth terms (closed form :math:`2^L`);
* ``random-mlp``: an MLP with L hidden layers of ``width`` neurons, PyTorch's default
  initialisation, traced along the segment from :math:`-r u` to :math:`r u` for a random unit
  direction u of the ``input_dim``-dimensional input space (r = ``radius``);
* ``random-rnn``: a tied RNN of width ``rnn_width`` with standard normal W and L steps,
  traced along x(t) = (t, 1, 0, …, 0),

and, up to depth ``exact_depth``, repeats the count in exact rational arithmetic. The
constructions reach :math:`2^L`; random networks at initialisation stay far below (their
expected count grows about linearly in the number of neurons, Hanin & Rolnick 2019).

Example:
    >>> study = CountDepth()
    >>> config = study.Config(families=("sawtooth",), depths=(3,), exact_depth=3)
    >>> study.run_cell(study.cells(config)[0]).rows
    [{'family': 'sawtooth', 'depth': 3, 'seed': None, 'pieces': 8, 'regions': 8, 'live': True, 'closed_form': 8, 'resolved': True, 'exact_pieces': 8}]
"""  # noqa: E501

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from bends.analysis.stats import mean_interval
from bends.constructions import sawtooth, yarotsky_square
from bends.nets import Network
from bends.nets.random import random_direction, random_mlp, random_rnn
from bends.runner.config import StudyConfig, setting
from bends.runner.counting import quiet_trace
from bends.runner.figures import Figures, new_figure, plot_means
from bends.runner.study import Cell, CellResult, StoredCell, Study
from bends.runner.summaries import (
    findings,
    group,
    markdown_table,
    resolution_finding,
    rows_of,
    values,
)
from bends.tracing import trace

Family = Literal["sawtooth", "yarotsky", "random-mlp", "random-rnn"]
SEEDED: tuple[Family, ...] = ("random-mlp", "random-rnn")


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
    radius: float = setting(1.0, "random MLPs are traced from −radius·u to radius·u", above=0)
    rnn_width: int = setting(4, "width of the random tied RNNs", at_least=2)
    exact_depth: int = setting(5, "recount in exact arithmetic up to this depth")
    # random tied RNNs are dead (f ≡ 0) for about half the seeds and heavy-tailed otherwise:
    # 16 seeds put their mean anywhere from 1 to 6
    seeds: int = setting(256, "random networks per depth")
    seeds_per_cell: int = setting(64, "random networks counted in one cell")


class CountDepth(Study):
    name = "count-depth"
    summary = "exact pieces vs depth: sawtooth, Yarotsky, random MLPs and tied RNNs"
    Config = CountDepthConfig
    guide = "studies/count-depth.md"
    version = 2  # 2: 256 seeds, a live flag (output not ≡ 0 on the segment)
    demo = {"depths": list(range(1, 11)), "seeds": 64, "seeds_per_cell": 64}  # noqa: RUF012

    def cells(self, config: CountDepthConfig) -> list[Cell]:
        extra = {
            "random-mlp": {"width": config.width, "input_dim": config.input_dim,
                           "radius": config.radius},
            "random-rnn": {"width": config.rnn_width},
        }  # fmt: skip
        return [
            self.cell({"family": family, "depth": depth, "exact": depth <= config.exact_depth,
                       **extra.get(family, {})}, group)
            for family in dict.fromkeys(config.families)
            for depth in sorted(set(config.depths))
            for group in (config.seed_groups() if family in SEEDED else [()])
        ]  # fmt: skip

    def run_cell(self, cell: Cell) -> CellResult:
        p = cell.params
        result = CellResult()
        for seed in cell.seeds or (None,):
            net, start, end, closed_form = _network(p, seed)
            tr = quiet_trace(net, start, end)  # recorded in the row as "resolved" instead
            row = {
                "family": p["family"],
                "depth": p["depth"],
                "seed": seed,
                "pieces": tr.pieces,
                "regions": tr.regions,
                "live": bool(np.any(tr.values != 0)),
                "closed_form": closed_form,
                "resolved": tr.resolved,
                "exact_pieces": trace(net, start, end, exact=True).pieces if p["exact"] else None,
            }
            result.rows.append(row)
        return result

    def report(self, config: CountDepthConfig, results: list[StoredCell], figures: Figures) -> str:
        rows = rows_of(results)
        by = group(rows, "family")
        families = [f for f in dict.fromkeys(config.families) if f in by]
        body = []
        for depth, members in group(rows, "depth").items():
            cells = group(members, "family")
            body.append([depth, *[_summary(f, cells.get(f, [])) for f in families], 2**depth])
        table = markdown_table(["depth", *[_label(f, config) for f in families], "2^depth"], body)
        figure = figures.add(
            _figure(families, by, config), "pieces_vs_depth", "Exact pieces against depth"
        )
        return "\n\n".join([table, figure, _findings(families, by, rows, config)])


def _network(
    p: dict, seed: int | None
) -> tuple[Network, np.ndarray | None, np.ndarray | None, int | None]:
    """The cell's network for one seed, its segment (None: its own) and closed-form count."""
    depth = p["depth"]
    if p["family"] == "sawtooth":
        return sawtooth(depth), None, None, 2**depth
    if p["family"] == "yarotsky":
        return yarotsky_square(depth), None, None, 2**depth
    rng = np.random.default_rng(seed)
    if p["family"] == "random-mlp":
        net = random_mlp([p["input_dim"], *[p["width"]] * depth, 1], rng)
        direction = p["radius"] * random_direction(p["input_dim"], rng)
        return net, -direction, direction, None
    return random_rnn(p["width"], depth, rng), None, None, None


def _summary(family: str, rows: list[dict]) -> object:
    """A family's count at one depth: the count, or over seeds: the mean with its bootstrap
    interval, the share of networks that are live (output not ≡ 0 on the segment) and the
    mean over those, and the largest count."""
    counts = values(rows, "pieces")
    if family in SEEDED and counts:
        live = [r["pieces"] for r in rows if r.get("live", True)]
        given = f"{np.mean(live):.3g}" if live else "—"
        return (f"{mean_interval(counts)}; live {len(live) / len(rows):.0%}, E | live "
                f"{given}; max {max(counts)}")  # fmt: skip
    return counts[0] if counts else None


def _label(family: str, config: CountDepthConfig) -> str:
    widths = {"random-mlp": ("MLP", config.width), "random-rnn": ("tied RNN", config.rnn_width)}
    kind, width = widths.get(family, (None, None))
    return family if kind is None else f"random {kind} (width {width}): E [95 %]"


def _figure(families, by, config):
    figure, ax = new_figure(figsize=(6, 4), layout="constrained")
    depths = sorted({r["depth"] for f in families for r in by[f]})
    ax.plot(depths, [2.0**d for d in depths], "k:", lw=1, label="$2^L$")
    # The constructions coincide with 2^L: distinct markers keep both visible.
    markers = iter(["s", "x", "^", "v"])
    for family in families:
        if family in SEEDED:
            label = _label(family, config).split(":")[0]
            line = plot_means(ax, by[family], "depth", "pieces", spread="interval",
                              label=f"{label}, all")  # fmt: skip
            live = [r for r in by[family] if r.get("live", True)]
            if len(live) == len(by[family]):
                continue  # no dead network: the live-only curve would hide under this one
            plot_means(ax, live, "depth", "pieces", spread=None, ls="--", marker="d", ms=3,
                       color=line[0].get_color(), label=f"{label}, live only")  # fmt: skip
        else:
            plot_means(ax, by[family], "depth", "pieces", spread=None, ls="none",
                       marker=next(markers), mfc="none", ms=6, label=family)  # fmt: skip
    ax.set_yscale("log", base=2)
    ax.set(xlabel="depth L (hidden layers / RNN steps)", ylabel="pieces")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return figure


def _findings(families, by, rows, config) -> str:
    """Plain statements of what the numbers show, computed from them."""
    lines = []
    for family in families:
        per_depth = group(by[family], "depth")
        measured = list(per_depth)
        if family in SEEDED:
            means = [float(np.mean(values(g, "pieces"))) for g in per_depth.values()]
            trend = "one depth only"
            if len(measured) >= 2:
                slope = np.polyfit(measured, means, 1)[0]
                trend = f"about {slope:.2f} more pieces per unit of depth (least squares)"
            live = np.mean([r.get("live", True) for r in by[family]])
            lines.append(
                f"- {_label(family, config).split(':')[0]}: mean pieces {means[0]:.3g} at depth "
                f"{measured[0]} and {means[-1]:.3g} at depth {measured[-1]}, {trend}; at the "
                f"largest depth that is {means[-1] / 2 ** measured[-1]:.2g} of 2^depth. "
                f"{live:.0%} of these networks are live (output not ≡ 0 on the segment; "
                "the others count as one piece)."
            )
        else:
            hits = sum(all(r["pieces"] == r["closed_form"] for r in g) for g in per_depth.values())
            lines.append(
                f"- {family}: the count equals the closed form 2^depth at {hits} of "
                f"{len(measured)} depths."
            )
    lines.append(resolution_finding(rows, "family", "depth"))
    checked = [r for r in rows if r["exact_pieces"] is not None]
    agree = sum(r["exact_pieces"] == r["pieces"] for r in checked)
    lines.append(
        f"- Exact rational arithmetic recounted {len(checked)} networks (depth ≤ "
        f"{config.exact_depth}); float64 agreed on {agree} of them."
    )
    return findings(lines)
