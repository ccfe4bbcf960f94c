r"""Study ``conjecture``: do trained tied ReLU RNNs have exponentially many pieces in k?

The conjecture (rnn-affine-pieces-conjecture.txt): for some finite data set, W with standard
normal entries trained by gradient flow on the squared loss of
:math:`f_k(W, x) = ((\mathrm{ReLU}\circ W)^k x)_0` has, in expectation, a number of affine
pieces exponential in k.

Each seed draws :math:`W_0 \sim N(0, 1)^{w\times w}` from its own seed — the *same* W₀ for
every k, so the k-sweep is paired — and trains it on a data set of
:data:`bends.training.tied.DATASETS` (each on its construction's line, with the construction's
W* beside it) by the flow followed to its end (:func:`bends.training.flows.follow_flow`),
SciPy's Runge–Kutta flow, GD or Adam. The cells are data set × width × k (× placement × n:
sweeping those is the search over data sets). Pieces of :math:`f_k(W_0, \cdot)` and of the
trained :math:`f_k(W, \cdot)` are counted exactly on the data's range of t and on a wider
window; a count over the tracer's memory budget is recorded as censored.

The report gives, per data set and width, L(W*), how the runs ended, E[pieces] over all runs
and over the runs live at initialisation with bootstrap intervals, their distribution, the
growth laws by AIC, the exponential rate with a paired bootstrap interval over all k and over
the upper half of k (an exponential law keeps its rate there, a power law's falls), and the
data sets ranked by E[pieces | live] at the largest k.

Example:
    >>> study = Conjecture()
    >>> config = study.Config(steps=(2,), widths=(7,), datasets=("staircase",), seeds=2,
    ...                       seeds_per_cell=2, points=(16,), max_steps=50)
    >>> rows = study.run_cell(study.cells(config)[0]).rows
    >>> [row["k"] for row in rows], all(row["pieces"] >= 1 for row in rows)
    ([2, 2], True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import matplotlib
import numpy as np

from bends.analysis.stats import growth_fits, growth_rate, mean_interval, select_growth
from bends.errors import BendsError
from bends.runner.config import require, setting
from bends.runner.counting import Count, count
from bends.runner.figures import Figures, new_figure, plot_means
from bends.runner.grid import grid
from bends.runner.study import Cell, CellResult, Curve, SavedNetwork, StoredCell, Study, curves
from bends.runner.summaries import (
    findings,
    group,
    interval,
    markdown_table,
    median,
    resolution_finding,
    share,
    table,
    values,
)
from bends.studies._tied import TrainingSettings, train_runs
from bends.training.tied import (
    DATASETS,
    TiedProblem,
    dataset_problem,
    outputs,
    tied_construction,
)


@dataclass(frozen=True)
class ConjectureConfig(TrainingSettings):
    trainer: Literal["flow", "limit", "gd", "adam"] = setting(
        "limit", "the flow followed to its end (limit), gradient flow (SciPy RK), GD or Adam"
    )
    widths: tuple[int, ...] = setting((4, 7, 10), "widths w of W", at_least=2)
    steps: tuple[int, ...] = setting((1, 2, 4, 8, 12, 16, 24, 32), "steps k", at_least=1)
    seeds: int = setting(32, "W₀ per k (seed s gives the same W₀ for every k)")
    seeds_per_cell: int = setting(16, "runs per cell")
    datasets: tuple[str, ...] = setting(
        tuple(DATASETS), "data sets on their lines, with their known solutions W*: staircase "
        "(F_{k−1}), cantor, candidate, parabola, control (none known); custom: target, "
        "origin, direction. A data set needs the width of its W* (staircase, cantor, "
        "candidate: 7; parabola: 4); narrower cells are left out",
    )  # fmt: skip
    target: str = setting("cantor", "custom: cantor, cantor-J, parabola, candidate or a CSV file")
    points: tuple[int, ...] = setting((64,), "data points n (several: a search)", at_least=1)
    placements: tuple[str, ...] = setting(("uniform",), "where the t_i lie: uniform, random, "
                                          "avoid (several: a search)")  # fmt: skip
    data_seed: int = setting(0, "seed of random placements")
    origin: tuple[float, ...] = setting((), "custom: the line's point at t = 0 (default e₁)")
    direction: tuple[float, ...] = setting((), "custom: the line's direction (default e₀)")
    window_low: float = setting(-1.0, "wide window: lowest t")
    window_high: float = setting(2.0, "wide window: highest t")
    checkpoints: int = setting(6, "pieces counted at this many recorded times per run", at_least=2)

    def validate(self) -> None:
        super().validate()
        for name in self.datasets:
            require(name in (*DATASETS, "custom"),
                    f"data sets are {', '.join(DATASETS)} or custom, got {name!r}")  # fmt: skip
        for placement in self.placements:
            require(placement in ("uniform", "random", "avoid"),
                    f"placements are uniform, random or avoid, got {placement!r}")  # fmt: skip
        require(self.window_low < self.window_high, "need window_low < window_high")
        require(bool(self.combinations()), "no data set fits any of these widths")
        for params in self.combinations():
            if params["dataset"] == "custom":
                for name in ("origin", "direction"):
                    given = getattr(self, name)
                    require(len(given) in (0, params["width"]),
                            f"{name} needs {params['width']} coordinates")  # fmt: skip
            line_problem(params, 1)  # a bad target, CSV file or line fails here

    def combinations(self) -> list[dict]:
        """The (data set, width, placement, n) combinations that can run: a data set with a
        known W* needs at least W*'s width (the same W* at every k, zero-padded)."""
        return [
            {"dataset": d, "width": w, "placement": placement, "points": n, **self.fixed(
                "steps", "widths", "datasets", "points", "placements")}
            for d in self.datasets for w in sorted(self.widths, reverse=True)
            for placement in self.placements for n in self.points
            if w >= solution_width(d)
        ]  # fmt: skip


def solution_width(dataset: str) -> int:
    """The smallest width whose W* fits ``dataset`` (2 where none is known)."""
    construction = DATASETS.get(dataset, (None, None))[1]
    return 2 if construction is None else tied_construction(f"{construction}-1").width


def line_problem(p: dict, k: int) -> TiedProblem:
    """The data set of settings ``p`` (a cell's) on its line, for k steps."""
    return solved_problem(p, k)[0]


def solved_problem(p: dict, k: int) -> tuple[TiedProblem, np.ndarray | None]:
    """The data set of a cell's settings ``p`` for k steps and its known solution W* (None:
    none known, or a custom data set). Stores from before data sets were named are custom."""
    dataset = p.get("dataset", "custom")
    if dataset != "custom":
        return dataset_problem(dataset, p["width"], k, p["points"], p["placement"],
                               p["data_seed"])  # fmt: skip
    problem = TiedProblem.from_target(
        p["target"], p["width"], k, p["points"], p["placement"], p["data_seed"],
        p["origin"] or None, p["direction"] or None,
    )  # fmt: skip
    return problem, None


class Conjecture(Study):
    name = "conjecture"
    summary = "pieces of gradient-flow-trained tied ReLU RNNs vs steps k, against initialisation"
    Config = ConjectureConfig
    guide = "studies/conjecture.md"
    version = 3  # 3: widths and data as axes, implicit steps under error control, n = 64
    demo = {"steps": [1, 2, 4, 8], "seeds": 8, "seeds_per_cell": 8,  # noqa: RUF012
            "widths": [7], "datasets": ["staircase", "control"], "points": [32],
            "max_steps": 2000}  # fmt: skip

    def cells(self, config: ConjectureConfig) -> list[Cell]:
        ks = sorted(set(config.steps), reverse=True)  # longest first: workers finish together
        return [
            cell
            for shared in config.combinations()
            for cell in grid(self, {"k": ks}, config.seed_groups(), shared)
        ]

    def run_cell(self, cell: Cell) -> CellResult:
        p = cell.params
        problem, solution = solved_problem(p, p["k"])
        loss_solution = None if solution is None else float(problem.losses(solution))
        starts = np.array(
            [np.random.default_rng(s).standard_normal((p["width"], p["width"])) for s in cell.seeds]
        )
        wide = problem.segment(p["window_low"], p["window_high"])
        result = CellResult()
        data = {key: p[key] for key in ("dataset", "width", "placement", "points")}
        for seed, start, run in zip(
            cell.seeds, starts, train_runs(problem, starts, p), strict=True
        ):
            first, last = problem.network(start), problem.network(run.weight)
            counts = [_count(first), _count(last), _count(first, *wide), _count(last, *wide)]
            marks = np.unique(np.linspace(0, len(run.times) - 1, p["checkpoints"]).astype(int))
            result.rows.append(
                {
                    **data,
                    "k": p["k"],
                    "seed": seed,
                    "loss_solution": loss_solution,
                    "live_init": bool(np.any(outputs(start, problem.inputs, p["k"]) != 0)),
                    "loss_init": float(run.losses[0]),
                    "loss": float(run.loss),
                    "zero_loss": bool(run.loss < p["loss_threshold"]),
                    "dead": not np.any(outputs(run.weight, problem.inputs, p["k"]) != 0),
                    "stopped": run.stopped,
                    "evaluations": int(run.evaluations),
                    "train_time": float(run.times[-1]),
                    "pieces_init": counts[0].pieces,
                    "pieces": counts[1].pieces,
                    "wide_pieces_init": counts[2].pieces,
                    "wide_pieces": counts[3].pieces,
                    "censored": any(c.pieces < 0 for c in counts),
                    "resolved": all(c.resolved for c in counts),
                }
            )
            checkpoints = [_count(problem.network(run.weights[m])).pieces for m in marks]
            result.curves += [
                Curve("loss", seed, run.losses),
                Curve("loss_time", seed, run.times),
                Curve("pieces", seed, np.array(checkpoints)),
                Curve("pieces_time", seed, run.times[marks]),
            ]
            result.networks.append(SavedNetwork("trained", seed, last))
        return result

    def report(self, config: ConjectureConfig, results: list[StoredCell], figures: Figures) -> str:
        rows = [_with_defaults(row, cell.params) for cell in results for row in cell.rows]
        # the paired bootstraps are the report's slow part: once per data set, for both uses
        upper = {key: _upper_rates(members) for key, members in group(rows, *DATA).items()}
        parts = [_ranking(rows), _growth_table(rows, upper)]
        for key, members in group(rows, *DATA).items():
            parts += [f"### {_data_label(key)}", table(members, ["k"], _COLUMNS)]
        parts += [
            figures.add(_pieces_figure(rows), "pieces_vs_k",
                        "E[pieces | live at init] of the trained networks on the data's range "
                        "against k (95 % bootstrap interval), one panel per width; grey: the "
                        "same runs at initialisation"),
            figures.add(_curves_figure(results), "loss_curves",
                        "Training loss (left) and pieces on the data's range (right) along every "
                        "run of the first data set and width; colour = k"),
            _findings(config, rows, upper),
        ]  # fmt: skip
        return "\n\n".join(parts)


#: What identifies a data set in the rows (with the width: what a growth law is fitted over).
DATA = ("dataset", "width", "placement", "points")


def _with_defaults(row: dict, params: dict) -> dict:
    """Rows of stores from before the data axes and censoring existed read as such."""
    defaults = {"dataset": params.get("dataset", "custom"), "width": params.get("width"),
                "placement": params.get("placement", "uniform"),
                "points": params.get("points"), "censored": False}  # fmt: skip
    return {**defaults, **row}


def _data_label(key) -> str:
    dataset, width, placement, points = key
    return f"{dataset}, width {width}, n = {points} ({placement})"


def _count(net, *segment) -> Count:
    """:func:`count`, or pieces −1 (censored) where the trace exceeds the memory budget (near
    the staircase's W* at k = 32, 2³² − 1 pieces)."""
    try:
        return count(net, *segment)
    except BendsError:
        return Count(-1, -1, True)


def _live_rows(group_rows):
    return [r for r in group_rows if r["live_init"] and not r["censored"]]


def _ends(group_rows) -> str:
    live = [r for r in group_rows if r["live_init"]]
    if not live:
        return "—"
    return " / ".join(f"{np.mean([r['stopped'] == why for r in live]):.0%}" for why in ENDS)


#: How a run of the flow followed to its end can end, in the report's order.
ENDS = ("threshold", "critical", "kink", "stalled", "budget")


def _quartiles(group_rows) -> str:
    pieces = values(_live_rows(group_rows), "pieces")
    if not pieces:
        return "—"
    q1, q2, q3 = np.percentile(pieces, [25, 50, 75])
    return f"{q2:.3g} [{q1:.3g}, {q3:.3g}]"


_COLUMNS = {
    "runs": len,
    "L(W*)": lambda g: "—" if g[0]["loss_solution"] is None else f"{g[0]['loss_solution']:.2g}",
    "dead at init": share(lambda r: not r["live_init"]),
    "live: threshold / critical / kink / stalled / budget": _ends,
    "E[pieces] init": lambda g: interval("pieces_init")([r for r in g if not r["censored"]]),
    "E[pieces] trained": lambda g: interval("pieces")([r for r in g if not r["censored"]]),
    "E[pieces | live] trained": lambda g: interval("pieces")(_live_rows(g)) if _live_rows(g)
                                else "—",
    "median [IQR] live": _quartiles,
    "max": lambda g: max(values(g, "pieces")),
    "censored": lambda g: sum(values(g, "censored")),
    "median loss, live": lambda g: median("loss", "—")(_live_rows(g)),
}  # fmt: skip


def _live_matrix(members, key: str = "pieces"):
    """(seeds × k) values of ``key`` of the runs live at initialisation (NaN elsewhere), and k."""
    ks = sorted({r["k"] for r in members})
    seeds = sorted({r["seed"] for r in members})
    matrix = np.full((len(seeds), len(ks)), np.nan)
    for r in _live_rows(members):
        matrix[seeds.index(r["seed"]), ks.index(r["k"])] = r[key]
    return np.array(ks), matrix


def _upper_rates(members):
    """Rates in the upper half of k: trained, at initialisation, and trained minus init (on
    the same seeds); None for fewer than two such k."""
    ks, trained = _live_matrix(members)
    initial = _live_matrix(members, "pieces_init")[1]
    upper = ks >= np.median(ks)
    if upper.sum() < 2:
        return None
    return (
        growth_rate(ks[upper], trained[:, upper]),
        growth_rate(ks[upper], initial[:, upper]),
        growth_rate(ks[upper], trained[:, upper], baseline=initial[:, upper]),
        ks[upper][0],
    )


def _law(ks, matrix) -> str:
    means = np.nanmean(matrix, axis=0)
    if len(ks) < 3 or not np.all(np.isfinite(means) & (means > 0)) or np.any(ks < 1):
        return "—"
    fit = select_growth(growth_fits(ks, means))
    return f"{fit.model} (ΔAIC {fit.margin:.2g})"


def _growth_table(rows, upper) -> str:
    body = []
    for key, members in group(rows, *DATA).items():
        ks, matrix = _live_matrix(members)
        whole = growth_rate(ks, matrix) if len(ks) >= 3 else None
        rates = upper[key]
        top, initial, gained, first = rates if rates else (None, None, None, None)
        body.append([_data_label(key), _law(ks, matrix),
                     "—" if whole is None else str(whole),
                     "—" if top is None else f"{top} (k ≥ {first})",
                     "—" if top is None else f"{np.exp(top.high):.3g}",
                     "—" if initial is None else str(initial),
                     "—" if gained is None else str(gained)])  # fmt: skip
    header = ["data", "growth law of E[pieces | live] (AIC)", "rate b over all k [95 %]",
              "rate b, upper half of k [95 %]", "factor per step excluded above",
              "same runs at init: b, upper half", "trained − init: b, upper half"]  # fmt: skip
    return (
        "**Growth with k** (E[pieces | live] ≈ a·e^{bk}: b by least squares on log E, "
        "interval by a paired bootstrap over seeds; a power law k^p has a local rate p/k, "
        "so an exponential law shows as the same b in the upper half of k. 'Factor per step "
        "excluded above' is e^{high} of the upper-half interval: faster exponential growth "
        "would have been detected by these runs. The last two columns: the same live runs' "
        "W₀, and the difference of rates, trained minus init, resampled jointly):\n\n"
        + markdown_table(header, body)
    )


def _ranking(rows) -> str:
    """The data sets ranked by E[pieces | live] at their largest k: the search's answer."""
    scored = []
    for key, members in group(rows, *DATA).items():
        top = max(r["k"] for r in members)
        at_top = [r for r in members if r["k"] == top]
        live = _live_rows(at_top)
        if live:
            scored.append((float(np.mean(values(live, "pieces"))), key, top, live))
    scored.sort(key=lambda item: -item[0])
    body = [[_data_label(key), top, str(mean_interval(values(live, "pieces"))),
             max(values(live, "pieces"))] for _, key, top, live in scored]  # fmt: skip
    return "**Data sets ranked by E[pieces | live] at their largest k:**\n\n" + markdown_table(
        ["data", "k", "E[pieces | live] trained", "max"], body
    )


def _pieces_figure(rows):
    widths = sorted({r["width"] for r in rows})
    figure, axes = new_figure(1, len(widths), figsize=(4.2 * len(widths), 3.8), sharey=True,
                              layout="constrained", squeeze=False)  # fmt: skip
    for ax, width in zip(axes[0], widths, strict=True):
        members = [r for r in rows if r["width"] == width]
        for key, data_rows in group(members, *DATA).items():
            live = _live_rows(data_rows)
            if not live:
                continue
            plot_means(ax, live, "k", "pieces", spread="interval", label=_data_label(key)[:-9])
            plot_means(ax, live, "k", "pieces_init", spread=None, color="0.7", lw=0.8, ms=0)
        ax.set(yscale="log", xlabel="steps k", title=f"width {width}")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("E[pieces | live], data range")
    return figure


def _curves_figure(results: list[StoredCell]):
    first = results[0].params
    chosen = [c for c in results
              if all(c.params.get(k) == first.get(k) for k in ("dataset", "width"))]  # fmt: skip
    ks = sorted({cell.params["k"] for cell in chosen})
    colours = dict(
        zip(ks, matplotlib.colormaps["viridis"](np.linspace(0, 1, len(ks))), strict=True)
    )
    figure, (loss_ax, pieces_ax) = new_figure(1, 2, figsize=(10, 3.8), layout="constrained")
    for name, ax in (("loss", loss_ax), ("pieces", pieces_ax)):
        times = {(id(cell), c.seed): c.values for cell, c in curves(chosen, f"{name}_time")}
        for cell, curve in curves(chosen, name):
            ax.plot(times[id(cell), curve.seed][1:], curve.values[1:], lw=0.6, alpha=0.5,
                    color=colours[cell.params["k"]])  # fmt: skip
    flow = first["trainer"] in ("flow", "limit")
    for ax, label in ((loss_ax, "loss"), (pieces_ax, "pieces (data range)")):
        ax.set(xscale="log" if flow else "linear", yscale="log", ylabel=label,
               xlabel="flow time" if flow else "step")  # fmt: skip
    handles = [matplotlib.lines.Line2D([], [], color=colours[k], label=f"k = {k}") for k in ks]
    pieces_ax.legend(handles=handles, fontsize=7, ncol=2)
    return figure


def _findings(config, rows, upper) -> str:
    live = [r for r in rows if r["live_init"]]
    lines = [
        f"- {len(rows)} runs: data sets {', '.join(dict.fromkeys(values(rows, 'dataset')))}; "
        f"widths {', '.join(map(str, sorted(set(values(rows, 'width')))))}; k = "
        f"{min(values(rows, 'k'))}…{max(values(rows, 'k'))}; trainer `{config.trainer}`.",
        f"- {1 - len(live) / len(rows):.0%} of the W₀ output f ≡ 0 on the data at "
        "initialisation (a dead output has zero gradient: those runs end where they start, "
        "at one piece) and are reported apart: E[pieces | live].",
    ]
    if config.trainer == "limit" and live:
        ends = {why: np.mean([r["stopped"] == why for r in live]) for why in ENDS}
        lines.append(
            f"- Of the {len(live)} live runs {ends['threshold']:.0%} ended at the loss "
            f"threshold, {ends['critical']:.0%} at a critical point, {ends['kink']:.0%} at a "
            f"kink (a Clarke critical point), {ends['stalled']:.0%} stalled (loss and pieces "
            f"unchanged over {config.stall_steps} steps while the flow time doubled) and "
            f"{ends['budget']:.0%} ran out of the {config.max_steps}-step budget: "
            f"{1 - ends['budget']:.0%} ended by a criterion (goal ≥ 90 %)."
        )
    if live:
        switched = np.mean([r["dead"] for r in live])
        lines.append(f"- Training switched off {switched:.0%} of the live runs (f ≡ 0 on the "
                     "data after training: loss = mean y², one piece).")  # fmt: skip
    exponential, faster, slower, tested = [], [], [], 0
    for key, members in group(rows, *DATA).items():
        rates = upper[key]
        if rates is None or len({r["k"] for r in members}) < 3:
            continue
        tested += 1
        top, _, gained, _ = rates
        label = _data_label(key)
        if np.isfinite(top.low) and top.low > 0:
            exponential.append(label)
        if np.isfinite(gained.low) and gained.low > 0:
            faster.append(f"{label} (+{gained.rate:.2g})")
        if np.isfinite(gained.high) and gained.high < 0:
            slower.append(f"{label} ({gained.rate:.2g})")
    if tested:
        lines.append(
            f"- Growth in the upper half of k: the trained rate's 95 % interval excludes 0 for "
            f"{len(exponential)} of {tested} data sets. Beside the same runs at "
            f"initialisation, the trained rate is higher for {len(faster)} (interval of the "
            "difference above 0" + (f": {'; '.join(faster)}" if faster else "") + ") and "
            f"lower for {len(slower)}"
            + (f" ({'; '.join(slower)})" if slower else "")
            + "; elsewhere the runs cannot tell trained growth from the growth the random W₀ "
            "already had. A rate above 0 in the upper half is necessary for exponential "
            "growth but not sufficient over a finite range of k; a finite sweep cannot "
            "settle the conjecture either way."
        )
    censored = sum(values(rows, "censored"))
    if censored:
        lines.append(f"- {censored} runs had more pieces than the tracer's memory budget "
                     "holds (censored; left out of the means).")  # fmt: skip
    return findings([*lines, resolution_finding(rows, "k")])
