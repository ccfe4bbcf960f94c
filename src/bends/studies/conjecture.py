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

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bends.analysis.stats import growth_fits, mean_interval, select_growth
from bends.errors import ResolutionWarning
from bends.runner.config import StudyConfig, require, setting
from bends.runner.report import Figures, markdown_table
from bends.runner.study import Cell, CellResult, Curve, StoredCell, Study
from bends.tracing import trace
from bends.training.tied import Run, TiedProblem, descend_tied, gradient_flow, outputs


@dataclass(frozen=True)
class TrainingSettings(StudyConfig):
    """How tied RNNs are trained: shared by ``conjecture`` and ``conjecture-local``."""

    trainer: Literal["flow", "gd", "adam"] = setting("flow", "gradient flow, GD or Adam")
    time_limit: float = setting(100.0, "flow: stop at this flow time")
    loss_threshold: float = setting(1e-10, "stop (and count as zero loss) below this loss")
    rtol: float = setting(1e-3, "flow: relative tolerance of the RK solver")
    method: Literal["RK23", "RK45", "DOP853"] = setting("RK23", "flow: SciPy RK solver")
    max_evaluations: int = setting(3000, "flow: gradient evaluations per run at most")
    lr: float = setting(1e-3, "gd/adam: learning rate")
    train_steps: int = setting(3000, "gd/adam: steps")
    record: int = setting(32, "loss (and W) recorded at this many times per run")

    def validate(self) -> None:
        super().validate()
        require(self.time_limit > 0 and self.loss_threshold >= 0, "need time_limit > 0")
        require(0 < self.rtol < 1, "rtol must lie in (0, 1)")
        require(self.max_evaluations >= 10, "max_evaluations must be at least 10")
        require(self.lr > 0 and self.train_steps >= 1, "need lr > 0 and train_steps ≥ 1")
        require(self.record >= 2, "record must be at least 2")


def train_runs(problem: TiedProblem, starts: np.ndarray, p: dict) -> list[Run]:
    """Train each W in ``starts`` (seeds, w, w) by the trainer in settings ``p``; GD and Adam
    run the seeds as one batch, the flow one seed at a time (its steps adapt per seed)."""
    if p["trainer"] == "flow":
        return [
            gradient_flow(
                problem,
                start,
                p["time_limit"],
                p["loss_threshold"],
                p["rtol"],
                p["method"],
                p["max_evaluations"],
                p["record"],
            )
            for start in starts
        ]
    batch = descend_tied(problem, starts, p["trainer"], p["lr"], p["train_steps"], p["record"])
    return [
        Run(
            batch.weight[i],
            float(batch.loss[i]),
            batch.times,
            batch.losses[:, i],
            batch.stopped,
            batch.evaluations,
            batch.weights[:, i],
        )
        for i in range(len(starts))
    ]


def count_pieces(problem: TiedProblem, weight: np.ndarray, low=None, high=None) -> tuple[int, bool]:
    """Exact pieces of f_k(W, ·) on t ∈ [low, high] (default: the data's range), resolved?"""
    net = problem.network(weight)
    segment = () if low is None else problem.segment(low, high)
    with warnings.catch_warnings():  # recorded as "resolved" instead
        warnings.simplefilter("ignore", ResolutionWarning)
        tr = trace(net, *segment)
    return tr.pieces, tr.resolved


@dataclass(frozen=True)
class ConjectureConfig(TrainingSettings):
    width: int = setting(7, "width w of W")
    steps: tuple[int, ...] = setting(tuple(range(1, 17)), "steps k")
    seeds: int = setting(64, "W₀ per k (seed s gives the same W₀ for every k)")
    seeds_per_cell: int = setting(16, "runs per cell")
    target: str = setting("cantor", "cantor, cantor-J, parabola, candidate or a CSV file")
    points: int = setting(256, "data points n")
    placement: Literal["uniform", "random", "avoid"] = setting("uniform", "where the t_i lie")
    data_seed: int = setting(0, "seed of random placements")
    origin: tuple[float, ...] = setting((), "the line's point at t = 0 (default e₁)")
    direction: tuple[float, ...] = setting((), "the line's direction (default e₀)")
    window_low: float = setting(-1.0, "wide window: lowest t")
    window_high: float = setting(2.0, "wide window: highest t")
    checkpoints: int = setting(6, "pieces counted at this many recorded times per run")

    def validate(self) -> None:
        super().validate()
        require(self.width >= 2, "width must be at least 2")
        require(len(self.steps) > 0 and min(self.steps) >= 1, "steps must be ≥ 1")
        require(self.points >= 1, "points must be positive")
        require(self.window_low < self.window_high, "need window_low < window_high")
        require(self.checkpoints >= 2, "checkpoints must be at least 2")
        for name in ("origin", "direction"):
            given = getattr(self, name)
            require(len(given) in (0, self.width), f"{name} needs {self.width} coordinates")
        line_problem(self.as_dict(), 1)  # a bad target, CSV file or line fails here


def line_problem(p: dict, k: int) -> TiedProblem:
    """The data set of settings ``p`` (a config's or a cell's) on its line, for k steps."""
    return TiedProblem.from_target(
        p["target"], p["width"], k, p["points"], p["placement"], p["data_seed"],
        p["origin"] or None, p["direction"] or None,
    )  # fmt: skip


class Conjecture(Study):
    name = "conjecture"
    summary = "pieces of gradient-flow-trained tied ReLU RNNs vs steps k, against initialisation"
    Config = ConjectureConfig
    guide = "studies/conjecture.md"
    demo = {  # noqa: RUF012
        "steps": [1, 2, 4, 6, 8],
        "seeds": 8,
        "seeds_per_cell": 8,
        "max_evaluations": 600,
    }

    def cells(self, config: ConjectureConfig) -> list[Cell]:
        shared = config.fixed("steps")
        return [  # longest first, so parallel workers finish together
            self.cell({"k": k, **shared}, group)
            for k in sorted(set(config.steps), reverse=True)
            for group in config.seed_groups()
        ]

    def run_cell(self, cell: Cell) -> CellResult:
        p = cell.params
        problem = line_problem(p, p["k"])
        starts = np.array(
            [np.random.default_rng(s).standard_normal((p["width"], p["width"])) for s in cell.seeds]
        )
        result = CellResult()
        for seed, start, run in zip(
            cell.seeds, starts, train_runs(problem, starts, p), strict=True
        ):
            pieces_init, resolved_init = count_pieces(problem, start)
            pieces, resolved = count_pieces(problem, run.weight)
            wide = p["window_low"], p["window_high"]
            wide_init, wide_resolved_init = count_pieces(problem, start, *wide)
            wide_pieces, wide_resolved = count_pieces(problem, run.weight, *wide)
            marks = np.unique(np.linspace(0, len(run.times) - 1, p["checkpoints"]).astype(int))
            result.rows.append(
                {
                    "k": p["k"],
                    "seed": seed,
                    "live_init": bool(np.any(outputs(start, problem.inputs, p["k"]) != 0)),
                    "loss_init": float(run.losses[0]),
                    "loss": float(run.loss),
                    "zero_loss": bool(run.loss < p["loss_threshold"]),
                    "dead": not np.any(outputs(run.weight, problem.inputs, p["k"]) != 0),
                    "stopped": run.stopped,
                    "evaluations": int(run.evaluations),
                    "train_time": float(run.times[-1]),
                    "pieces_init": pieces_init,
                    "pieces": pieces,
                    "wide_pieces_init": wide_init,
                    "wide_pieces": wide_pieces,
                    "resolved": resolved and resolved_init and wide_resolved and wide_resolved_init,
                }
            )
            result.curves += [
                Curve("loss", seed, run.losses),
                Curve("loss_time", seed, run.times),
                Curve(
                    "pieces",
                    seed,
                    np.array([count_pieces(problem, run.weights[m])[0] for m in marks]),
                ),
                Curve("pieces_time", seed, run.times[marks]),
                Curve("weight", seed, run.weight.ravel()),
            ]
        return result

    def report(self, config: ConjectureConfig, results: list[StoredCell], figures: Figures) -> str:
        rows = [row for cell in results for row in cell.rows]
        ks = sorted({row["k"] for row in rows})
        summary = {k: _summarise([r for r in rows if r["k"] == k]) for k in ks}
        parts = [
            _table(ks, summary),
            figures.add(
                _pieces_figure(config, ks, summary),
                "pieces_vs_k",
                "E[pieces] against k (mean over seeds, 95 % bootstrap interval): at "
                "initialisation and after training, on the data's range and on the wide window",
            ),
            figures.add(
                _curves_figure(results),
                "loss_curves",
                "Training loss (left) and pieces on the data's range (right) along every run; "
                "colour = k",
            ),
            _fits(ks, summary),
            _findings(config, ks, rows, summary),
        ]
        return "\n\n".join(parts)


#: Columns of the per-k summary: (row key, label).
_MEASURES = (
    ("pieces_init", "init, data range"),
    ("pieces", "trained, data range"),
    ("wide_pieces_init", "init, wide"),
    ("wide_pieces", "trained, wide"),
)


def _summarise(rows: list[dict]) -> dict:
    out = {key: mean_interval([r[key] for r in rows]) for key, _ in _MEASURES}
    out["runs"] = len(rows)
    out["live"] = np.mean([r["live_init"] for r in rows])
    out["zero_loss"] = np.mean([r["zero_loss"] for r in rows])
    out["dead"] = np.mean([r["dead"] for r in rows])
    out["loss_init"] = float(np.median([r["loss_init"] for r in rows]))
    out["loss"] = float(np.median([r["loss"] for r in rows]))
    out["max_pieces"] = max(r["pieces"] for r in rows)
    out["unresolved"] = sum(not r["resolved"] for r in rows)
    stops = [r["stopped"] for r in rows]
    out["stopped"] = ", ".join(f"{s} {stops.count(s)}" for s in sorted(set(stops)))
    return out


def _table(ks, summary) -> str:
    header = [
        "k",
        "runs",
        "live at init",
        *[f"E[pieces] {label}" for _, label in _MEASURES],
        "max trained",
        "zero loss",
        "f ≡ 0 trained",
        "median loss init → trained",
        "stopped",
    ]
    body = [
        [
            k,
            s["runs"],
            f"{s['live']:.0%}",
            *[str(s[key]) for key, _ in _MEASURES],
            s["max_pieces"],
            f"{s['zero_loss']:.0%}",
            f"{s['dead']:.0%}",
            f"{s['loss_init']:.3g} → {s['loss']:.3g}",
            s["stopped"],
        ]
        for k, s in ((k, summary[k]) for k in ks)
    ]
    unresolved = sum(summary[k]["unresolved"] for k in ks)
    note = (
        f"\n\n{unresolved} runs had breakpoints closer than float64 resolves (counts may be off)."
        if unresolved
        else ""
    )
    return markdown_table(header, body) + note


def _pieces_figure(config, ks, summary):
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, (init, trained), title in zip(
        axes,
        (("pieces_init", "pieces"), ("wide_pieces_init", "wide_pieces")),
        ("data range", f"wide window t ∈ [{config.window_low:g}, {config.window_high:g}]"),
        strict=True,
    ):
        for key, label, colour in (
            (init, "initialisation", "tab:gray"),
            (trained, f"trained ({config.trainer})", "tab:red"),
        ):
            means = np.array([summary[k][key].mean for k in ks])
            lows = np.array([summary[k][key].low for k in ks])
            highs = np.array([summary[k][key].high for k in ks])
            ax.errorbar(
                ks,
                means,
                yerr=[means - lows, highs - means],
                marker="o",
                ms=3,
                capsize=3,
                color=colour,
                label=label,
            )
        ax.set(yscale="log", xlabel="steps k", title=title)
    axes[0].set_ylabel("E[pieces]")
    axes[0].legend()
    return figure


def _curves_figure(results: list[StoredCell]):
    import matplotlib.pyplot as plt

    ks = sorted({cell.params["k"] for cell in results})
    colour = dict(zip(ks, plt.cm.viridis(np.linspace(0, 1, len(ks))), strict=True))
    figure, (loss_ax, pieces_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    for cell in results:
        curves = {(c.name, c.seed): c.values for c in cell.curves}
        for seed in cell.seeds:
            c = colour[cell.params["k"]]
            times = curves[("loss_time", seed)]
            loss_ax.plot(times[1:], curves[("loss", seed)][1:], color=c, lw=0.6, alpha=0.5)
            pieces_ax.plot(
                curves[("pieces_time", seed)][1:],
                curves[("pieces", seed)][1:],
                color=c,
                lw=0.6,
                alpha=0.5,
            )
    log_time = results[0].params["trainer"] == "flow"
    for ax, label in ((loss_ax, "loss"), (pieces_ax, "pieces (data range)")):
        ax.set(
            xscale="log" if log_time else "linear",
            yscale="log",
            ylabel=label,
            xlabel="flow time" if log_time else "step",
        )
    handles = [plt.Line2D([], [], color=colour[k], label=f"k = {k}") for k in ks]
    pieces_ax.legend(handles=handles, fontsize=7, ncol=2)
    return figure


def _fits(ks, summary) -> str:
    if len(ks) < 3:
        return "Growth fits need at least three values of k."
    lines = ["**Growth of E[pieces] with k** (least squares on log E, AIC):", ""]
    for key, label in _MEASURES:
        fits = growth_fits(ks, [summary[k][key].mean for k in ks])
        lines.append(f"- {label}: {select_growth(fits).statement}.")
    return "\n".join(lines)


def _findings(config, ks, rows, summary) -> str:
    zero = np.mean([r["zero_loss"] for r in rows])
    capped = np.mean([r["stopped"] in ("evaluations", "stalled") for r in rows])
    more = np.mean([r["pieces"] > r["pieces_init"] for r in rows])
    fewer = np.mean([r["pieces"] < r["pieces_init"] for r in rows])
    lines = [
        "**What these runs show** (nothing beyond them):",
        "",
        f"- {len(rows)} runs, k = {ks[0]}…{ks[-1]}, width {config.width}, {config.points} "
        f"points of `{config.target}` ({config.placement}); trainer `{config.trainer}`.",
        f"- {zero:.0%} of the runs reached the loss threshold {config.loss_threshold:g}; "
        + (
            f"{capped:.0%} were stopped by the evaluation budget ({config.max_evaluations}) or "
            "stalled, so their counts are of W part-way along the flow, not of its limit."
            if config.trainer == "flow"
            else f"every run took {config.train_steps} steps (lr {config.lr:g})."
        ),
        f"- {np.mean([r['live_init'] for r in rows]):.0%} of the W₀ give a non-zero output on "
        f"the data; after training {np.mean([r['dead'] for r in rows]):.0%} of the runs output "
        "f ≡ 0 there (training switched the network off: loss = mean y², one piece).",
        f"- Training raised the piece count in {more:.0%} of runs and lowered it in {fewer:.0%}.",
    ]
    if len(ks) >= 3:
        trained = select_growth(growth_fits(ks, [summary[k]["pieces"].mean for k in ks]))
        initial = select_growth(growth_fits(ks, [summary[k]["pieces_init"].mean for k in ks]))
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
    return "\n".join(lines)
