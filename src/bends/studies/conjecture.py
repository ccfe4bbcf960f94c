r"""Study ``conjecture``: do trained tied ReLU RNNs have exponentially many pieces in k?

The conjecture (rnn-affine-pieces-conjecture.txt): for some finite data set, W with standard
normal entries trained by gradient flow on the squared loss of
:math:`f_k(W, x) = ((\mathrm{ReLU}\circ W)^k x)_0` has, in expectation, a number of affine
pieces exponential in k.

Each seed draws :math:`W_0 \sim N(0, 1)^{w\times w}` from its own seed — the *same* W₀ for
every k, so the k-sweep is paired — and trains it on the data of :mod:`bends.training.tied`
(default: the Cantor function at 256 evenly spaced t on the line x(t) = (t, 1, 0, …)) with
gradient flow (SciPy RK23, stopped at a loss threshold, a flow-time limit or an evaluation
budget; ``stopped`` says which), gradient descent or Adam. Pieces of :math:`f_k(W_0, \cdot)`
and of the trained :math:`f_k(W, \cdot)` are counted exactly on the data's range of t and on
a wider window, separately; along the way at ``checkpoints`` recorded times, too.

The report gives E[pieces] with bootstrap intervals (:mod:`bends.analysis.stats`) per k at
initialisation and after training, the fits of exponential, polynomial and constant growth
with AIC, the fraction of runs at zero loss, and the loss curves.

Example:
    >>> study = Conjecture()
    >>> config = study.Config(steps=(2,), seeds=2, seeds_per_cell=2, max_evaluations=200)
    >>> rows = study.run_cell(study.cells(config)[0]).rows
    >>> [row["k"] for row in rows], all(row["pieces"] >= 1 for row in rows)
    ([2, 2], True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import matplotlib
import numpy as np

from bends.analysis.stats import growth_fits, select_growth
from bends.runner.config import require, setting
from bends.runner.counting import count
from bends.runner.figures import Figures, new_figure, plot_means
from bends.runner.grid import grid
from bends.runner.study import Cell, CellResult, Curve, SavedNetwork, StoredCell, Study, curves
from bends.runner.summaries import (
    findings,
    group,
    interval,
    median,
    resolution_finding,
    rows_of,
    share,
    table,
    tally,
    values,
)
from bends.studies._tied import TrainingSettings, train_runs
from bends.training.tied import DATASETS, TiedProblem, dataset_problem, outputs


@dataclass(frozen=True)
class ConjectureConfig(TrainingSettings):
    trainer: Literal["flow", "limit", "gd", "adam"] = setting(
        "limit", "the flow followed to its end (limit), gradient flow (SciPy RK), GD or Adam"
    )
    width: int = setting(7, "width w of W", at_least=2)
    steps: tuple[int, ...] = setting(tuple(range(1, 17)), "steps k", at_least=1)
    seeds: int = setting(64, "W₀ per k (seed s gives the same W₀ for every k)")
    seeds_per_cell: int = setting(16, "runs per cell")
    dataset: str = setting(
        "staircase", "a data set on its line, with its known solution W*: staircase (F_{k−1}), "
        "cantor, candidate, parabola, control (none known); custom: target, origin, direction",
    )  # fmt: skip
    target: str = setting("cantor", "custom: cantor, cantor-J, parabola, candidate or a CSV file")
    points: int = setting(256, "data points n", at_least=1)
    placement: Literal["uniform", "random", "avoid"] = setting("uniform", "where the t_i lie")
    data_seed: int = setting(0, "seed of random placements")
    origin: tuple[float, ...] = setting((), "custom: the line's point at t = 0 (default e₁)")
    direction: tuple[float, ...] = setting((), "custom: the line's direction (default e₀)")
    window_low: float = setting(-1.0, "wide window: lowest t")
    window_high: float = setting(2.0, "wide window: highest t")
    checkpoints: int = setting(6, "pieces counted at this many recorded times per run", at_least=2)

    def validate(self) -> None:
        super().validate()
        require(self.dataset in (*DATASETS, "custom"),
                f"dataset must be one of {', '.join(DATASETS)} or custom")  # fmt: skip
        require(self.window_low < self.window_high, "need window_low < window_high")
        for name in ("origin", "direction"):
            given = getattr(self, name)
            require(len(given) in (0, self.width), f"{name} needs {self.width} coordinates")
        line_problem(self.as_dict(), 1)  # a bad target, CSV file or line fails here


def line_problem(p: dict, k: int) -> TiedProblem:
    """The data set of settings ``p`` (a config's or a cell's) on its line, for k steps."""
    return solved_problem(p, k)[0]


def solved_problem(p: dict, k: int) -> tuple[TiedProblem, np.ndarray | None]:
    """The data set of settings ``p`` for k steps and its known solution W* (None: none
    known, or a custom data set). Stores from before data sets were named are custom."""
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
    version = 2  # 2: named data sets with their solutions, the flow followed to its end
    demo = {"steps": [1, 2, 4, 6, 8], "seeds": 8, "seeds_per_cell": 8,  # noqa: RUF012
            "max_steps": 3000, "stall_steps": 1000}  # fmt: skip

    def cells(self, config: ConjectureConfig) -> list[Cell]:
        ks = sorted(set(config.steps), reverse=True)  # longest first: workers finish together
        return grid(self, {"k": ks}, config.seed_groups(), config.fixed("steps"))

    def run_cell(self, cell: Cell) -> CellResult:
        p = cell.params
        problem, solution = solved_problem(p, p["k"])
        loss_solution = None if solution is None else float(problem.losses(solution))
        starts = np.array(
            [np.random.default_rng(s).standard_normal((p["width"], p["width"])) for s in cell.seeds]
        )
        wide = problem.segment(p["window_low"], p["window_high"])
        result = CellResult()
        for seed, start, run in zip(
            cell.seeds, starts, train_runs(problem, starts, p), strict=True
        ):
            first, last = problem.network(start), problem.network(run.weight)
            counts = [count(first), count(last), count(first, *wide), count(last, *wide)]
            marks = np.unique(np.linspace(0, len(run.times) - 1, p["checkpoints"]).astype(int))
            result.rows.append(
                {
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
                    "resolved": all(c.resolved for c in counts),
                }
            )
            checkpoints = [count(problem.network(run.weights[m])).pieces for m in marks]
            result.curves += [
                Curve("loss", seed, run.losses),
                Curve("loss_time", seed, run.times),
                Curve("pieces", seed, np.array(checkpoints)),
                Curve("pieces_time", seed, run.times[marks]),
            ]
            result.networks.append(SavedNetwork("trained", seed, last))
        return result

    def report(self, config: ConjectureConfig, results: list[StoredCell], figures: Figures) -> str:
        rows = rows_of(results)
        columns = {"runs": len, "L(W*)": _solution_loss,
                   "live at init": share(lambda r: r["live_init"]),
                   **{f"E[pieces] {label}": interval(key) for key, label in MEASURES},
                   "E[pieces | live] trained": _live(interval("pieces")),
                   "max trained": lambda g: max(values(g, "pieces")),
                   "zero loss": share(lambda r: r["zero_loss"]),
                   "f ≡ 0 trained": share(lambda r: r["dead"]),
                   "median loss init → trained":
                       lambda g: f"{median('loss_init')(g):.3g} → {median('loss')(g):.3g}",
                   "stopped": tally("stopped")}  # fmt: skip
        return "\n\n".join([
            table(rows, ["k"], columns),
            figures.add(_pieces_figure(config, rows), "pieces_vs_k",
                        "E[pieces] against k (mean over seeds, 95 % bootstrap interval): at "
                        "initialisation and after training, on the data's range and on the wide "
                        "window"),
            figures.add(_curves_figure(results), "loss_curves",
                        "Training loss (left) and pieces on the data's range (right) along every "
                        "run; colour = k"),
            _fits(rows),
            _findings(config, rows),
        ])  # fmt: skip


def _solution_loss(group_rows) -> str:
    losses = [r.get("loss_solution") for r in group_rows]
    return "—" if losses[0] is None else f"{losses[0]:.2g}"


def _live(column):
    """``column`` over the runs live at initialisation only (a dead W₀ has zero gradient)."""

    def of(group_rows):
        live = [r for r in group_rows if r["live_init"]]
        return column(live) if live else "—"

    return of


#: Columns of the per-k summary: (row key, label).
MEASURES = (
    ("pieces_init", "init, data range"),
    ("pieces", "trained, data range"),
    ("wide_pieces_init", "init, wide"),
    ("wide_pieces", "trained, wide"),
)


def _pieces_figure(config, rows):
    figure, axes = new_figure(1, 2, figsize=(10, 3.8), sharey=True, layout="constrained")
    windows = ("data range", f"wide window t ∈ [{config.window_low:g}, {config.window_high:g}]")
    for ax, keys, title in zip(axes, (MEASURES[:2], MEASURES[2:]), windows, strict=True):
        for (key, _), label, colour in zip(
            keys, ("initialisation", f"trained ({config.trainer})"), ("tab:gray", "tab:red"),
            strict=True,
        ):  # fmt: skip
            plot_means(ax, rows, "k", key, spread="interval", color=colour, label=label)
        ax.set(yscale="log", xlabel="steps k", title=title)
    axes[0].set_ylabel("E[pieces]")
    axes[0].legend()
    return figure


def _curves_figure(results: list[StoredCell]):
    ks = sorted({cell.params["k"] for cell in results})
    colours = dict(
        zip(ks, matplotlib.colormaps["viridis"](np.linspace(0, 1, len(ks))), strict=True)
    )
    figure, (loss_ax, pieces_ax) = new_figure(1, 2, figsize=(10, 3.8), layout="constrained")
    for name, ax in (("loss", loss_ax), ("pieces", pieces_ax)):
        times = {(id(cell), c.seed): c.values for cell, c in curves(results, f"{name}_time")}
        for cell, curve in curves(results, name):
            ax.plot(times[id(cell), curve.seed][1:], curve.values[1:], lw=0.6, alpha=0.5,
                    color=colours[cell.params["k"]])  # fmt: skip
    flow = results[0].params["trainer"] in ("flow", "limit")
    for ax, label in ((loss_ax, "loss"), (pieces_ax, "pieces (data range)")):
        ax.set(xscale="log" if flow else "linear", yscale="log", ylabel=label,
               xlabel="flow time" if flow else "step")  # fmt: skip
    handles = [matplotlib.lines.Line2D([], [], color=colours[k], label=f"k = {k}") for k in ks]
    pieces_ax.legend(handles=handles, fontsize=7, ncol=2)
    return figure


def _growth(rows, key):
    by = group(rows, "k")
    return select_growth(growth_fits(list(by), [np.mean(values(g, key)) for g in by.values()]))


def _fits(rows) -> str:
    if len(group(rows, "k")) < 3:
        return "Growth fits need at least three values of k."
    lines = ["**Growth of E[pieces] with k** (least squares on log E, AIC):", ""]
    lines += [f"- {label}: {_growth(rows, key).statement}." for key, label in MEASURES]
    return "\n".join(lines)


def _ends(rows, config) -> str:
    """How the limit-following runs ended, over the runs live at initialisation."""
    live = [r for r in rows if r["live_init"]]
    if not live:
        return "no W₀ was live at initialisation."
    ends = {why: np.mean([r["stopped"] == why for r in live])
            for why in ("threshold", "critical", "stalled", "budget")}  # fmt: skip
    by_criterion = 1 - ends["budget"]
    return (
        f"of the {len(live)} runs live at initialisation, {ends['threshold']:.0%} ended at the "
        f"threshold, {ends['critical']:.0%} at a critical point, {ends['stalled']:.0%} stalled "
        f"(loss and pieces unchanged over {config.stall_steps} steps) and {ends['budget']:.0%} "
        f"ran out of the {config.max_steps}-step budget: {by_criterion:.0%} ended by a "
        "criterion (goal ≥ 90 %)."
    )


def _findings(config, rows) -> str:
    ks = list(group(rows, "k"))
    zero = np.mean(values(rows, "zero_loss"))
    capped = np.mean([r["stopped"] in ("evaluations", "stalled") for r in rows])
    more = np.mean([r["pieces"] > r["pieces_init"] for r in rows])
    fewer = np.mean([r["pieces"] < r["pieces_init"] for r in rows])
    data = (f"data set `{config.dataset}`" if config.dataset != "custom"
            else f"`{config.target}`")  # fmt: skip
    lines = [
        f"- {len(rows)} runs, k = {ks[0]}…{ks[-1]}, width {config.width}, {config.points} "
        f"points of {data} ({config.placement}); trainer `{config.trainer}`.",
        f"- {zero:.0%} of the runs reached the loss threshold {config.loss_threshold:g}; "
        + (
            f"{capped:.0%} were stopped by the evaluation budget ({config.max_evaluations}) or "
            "stalled, so their counts are of W part-way along the flow, not of its limit."
            if config.trainer == "flow"
            else _ends(rows, config)
            if config.trainer == "limit"
            else f"every run took {config.train_steps} steps (lr {config.lr:g})."
        ),
        f"- {np.mean(values(rows, 'live_init')):.0%} of the W₀ give a non-zero output on "
        f"the data; after training {np.mean(values(rows, 'dead')):.0%} of the runs output "
        "f ≡ 0 there (training switched the network off: loss = mean y², one piece).",
        f"- Training raised the piece count in {more:.0%} of runs and lowered it in {fewer:.0%}.",
    ]
    if len(ks) >= 3:
        trained, initial = _growth(rows, "pieces"), _growth(rows, "pieces_init")
        verdict = (
            "supports exponential growth for these settings"
            if trained.model == "exponential" and trained.margin >= 2
            else "does not support exponential growth for these settings"
        )
        lines.append(
            f"- On the data's range the trained E[pieces] is best described as "
            f"{trained.model} (ΔAIC {trained.margin:.2g}); at initialisation as "
            f"{initial.model} (ΔAIC {initial.margin:.2g}). The data {verdict}; a finite sweep "
            "cannot settle the conjecture either way."
        )
    return findings([*lines, resolution_finding(rows, "k")])
