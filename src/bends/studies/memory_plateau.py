r"""Study ``memory-plateau``: does training slow down exponentially as the target's memory grows?

Li, Han, E and Li (ICLR 2021, Theorem 5.1) prove that for targets
:math:`\rho_\omega(s) = \bar\rho(s) + \rho_0(s - 1/\omega)` — an easily learned part plus a
template delayed to 1/ω — gradient training of a linear RNN sits on a plateau for a time
growing like :math:`e^{c/\omega}`. Here :math:`\bar\rho(s) = e^{-s}` and
:math:`\rho_0(s) = e^{-s^2}` (:func:`bends.training.memory.plateau_kernel`), the model is the
diagonal linear RNN of width ``width``, and the loss is the white-noise loss
:math:`J = \int_0^\infty |\hat\rho - \rho_\omega|^2` (:mod:`bends.training.memory`).

For each memory 1/ω and trainer (GD, Adam; all seeds of a cell as one batch) the loss curve is
recorded; the **hitting time** is the first step at which
:math:`J \le (1 - \text{escape}) \int \rho_0^2` — the model has learned e^{−s} and started on
the bump, i.e. left the plateau at the bump's energy :math:`\sqrt{\pi/2}` — and the longest
**plateau** is the longest stretch where the loss fell by less than 1 % per ``plateau_window``
steps before falling again (:func:`bends.training.memory.longest_plateau`). The report fits
:math:`\log \tau = a + c/\omega` (slope with a 95 % interval, runs that never hit left out and
counted) and compares exponential with polynomial growth of the median τ in 1/ω by AIC; it
also trains on the paper's Figure 1 pair: an exponential sum (no plateau) and Ai(s − 6).

Example:
    >>> study = MemoryPlateau()
    >>> config = study.Config(memories=(2.0,), trainers=("adam",), seeds=2, steps=50,
    ...                       figure_one=False)
    >>> rows = study.run_cell(study.cells(config)[0]).rows
    >>> [row["memory"] for row in rows], rows[0]["loss_final"] < rows[0]["loss_start"]
    ([2.0, 2.0], True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import matplotlib
import numpy as np

from bends.analysis.stats import LineFit, growth_fits, line_fit, select_growth
from bends.runner.config import StudyConfig, require, setting
from bends.runner.figures import Figures, new_figure
from bends.runner.grid import grid
from bends.runner.study import Cell, CellResult, Curve, StoredCell, Study, curves
from bends.runner.summaries import findings, group, median, rows_of, table, values
from bends.training.memory import (
    airy,
    bump_energy,
    exponential_sum,
    hitting_index,
    init_parameters,
    longest_plateau,
    plateau_kernel,
    quadrature,
    train,
    white_noise_loss,
)

#: The paper's Figure 1 targets: a short-memory exponential sum and a long-memory Airy kernel.
FIGURE_ONE = {
    "exponential sum": exponential_sum([1.0, 0.5, -0.3], [1.0, 0.5, 2.0]),
    "Airy Ai(s − 6)": airy(1.0, 6.0),
}


@dataclass(frozen=True)
class MemoryPlateauConfig(StudyConfig):
    memories: tuple[float, ...] = setting((2.0, 4.0, 6.0, 8.0, 10.0, 12.0), "delays 1/ω", above=0)
    trainers: tuple[Literal["gd", "adam"], ...] = setting(("gd", "adam"), "optimisers")
    width: int = setting(8, "hidden width m of the diagonal linear RNN", at_least=1)
    gd_lr: float = setting(0.02, "GD learning rate", above=0)
    adam_lr: float = setting(0.01, "Adam learning rate", above=0)
    steps: int = setting(20_000, "training steps", at_least=1)
    record_every: int = setting(2, "record the loss every this many steps", at_least=1)
    escape: float = setting(0.1, "hit when J ≤ (1 − escape) ∫ρ₀²", above=0, below=1)
    plateau_window: int = setting(50, "plateau: < 1 % decrease over this many steps")
    init_scale: float = setting(0.5, "spread of the initial parameters")
    figure_one: bool = setting(True, "also train on an exponential sum and Ai(s − 6)")
    seeds: int = setting(8, "models per (memory, trainer)")
    seeds_per_cell: int = setting(8, "models trained together in one cell")

    def validate(self) -> None:
        super().validate()
        require(self.record_every <= self.steps, "record_every must be at most steps")
        require(self.plateau_window >= self.record_every, "plateau_window < record_every")


class MemoryPlateau(Study):
    name = "memory-plateau"
    summary = "plateaus of linear-RNN training vs the target's memory 1/ω; the e^{c/ω} law"
    Config = MemoryPlateauConfig
    guide = "studies/memory-plateau.md"
    demo = {"memories": [2.0, 3.0, 4.0], "trainers": ["adam"], "steps": 1500,  # noqa: RUF012
            "seeds": 2, "seeds_per_cell": 2}  # fmt: skip

    def cells(self, config: MemoryPlateauConfig) -> list[Cell]:
        shared, groups = config.fixed("memories", "trainers", "figure_one"), config.seed_groups()
        plateaus = {"part": ["plateau"], "memory": sorted(set(config.memories), reverse=True),
                    "trainer": config.trainers}  # fmt: skip
        figure_one = {"part": ["figure one"], "target": FIGURE_ONE, "trainer": ["gd"]}
        return grid(self, plateaus, groups, shared) + (
            grid(self, figure_one, groups, shared) if config.figure_one else []
        )

    def run_cell(self, cell: Cell) -> CellResult:
        p = cell.params
        kernel = (
            plateau_kernel(1.0 / p["memory"]) if p["part"] == "plateau" else FIGURE_ONE[p["target"]]
        )
        lr = p["gd_lr"] if p["trainer"] == "gd" else p["adam_lr"]
        parameters = init_parameters("diagonal", p["width"], cell.seeds, p["init_scale"])
        nodes = quadrature(kernel.horizon)
        losses = train(parameters, lambda: white_noise_loss(parameters, kernel, nodes),
                       p["trainer"], lr, p["steps"], p["record_every"])  # fmt: skip
        threshold = (1 - p["escape"]) * bump_energy()
        time_per_step = lr if p["trainer"] == "gd" else 1  # GD's flow time; Adam counts steps
        result = CellResult()
        for seed, curve in zip(cell.seeds, losses, strict=True):
            hit = hitting_index(curve, threshold) if p["part"] == "plateau" else None
            plateau = longest_plateau(curve, p["plateau_window"] // p["record_every"])
            step = None if hit is None else hit * p["record_every"]
            result.rows.append(
                {
                    "part": p["part"],
                    "target": kernel.name,
                    "memory": p.get("memory"),
                    "trainer": p["trainer"],
                    "seed": seed,
                    "loss_start": float(curve[0]),
                    "loss_final": float(curve[-1]),
                    "hit_step": step,
                    "hit_time": None if step is None else step * time_per_step,
                    "plateau_steps": 0 if plateau is None else plateau.length * p["record_every"],
                    "plateau_level": None if plateau is None else plateau.level,
                }
            )
            result.curves.append(Curve("loss", seed, curve))
        return result

    def report(
        self, config: MemoryPlateauConfig, results: list[StoredCell], figures: Figures
    ) -> str:
        rows = [r for r in rows_of(results) if r["part"] == "plateau"]
        fits = {trainer: _fit(members) for trainer, members in group(rows, "trainer").items()}
        threshold = (1 - config.escape) * bump_energy()
        columns = {"models": len, "hit": lambda g: f"{len(g) - values(g, 'hit_step').count(None)}"
                   f"/{len(g)}",
                   "median hitting step": median("hit_step", missing="never"),
                   "median longest plateau (steps)": median("plateau_steps"),
                   "median final J": median("loss_final")}  # fmt: skip
        parts = [
            f"Hitting threshold J ≤ {threshold:.4g} = (1 − {config.escape:g}) ∫ρ₀²; "
            f"{config.steps} steps.\n\n"
            + table(rows, ["trainer", "memory"], columns, titles={"memory": "memory 1/ω"}),
            figures.add(_curves_figure(config, results), "loss_curves",
                        "White-noise loss J against training step, one line per model, colour = "
                        "memory 1/ω; dashed: the hitting threshold"),
            figures.add(_hitting_figure(rows, fits), "hitting_times",
                        "Hitting step against memory 1/ω (log scale), with the fit "
                        "log τ = a + c/ω"),
        ]  # fmt: skip
        if any(c.params["part"] == "figure one" for c in results):
            parts.append(figures.add(_figure_one(results), "figure_one",
                                     "GD on a short-memory exponential sum against the Airy "
                                     "kernel Ai(s − 6) (the paper's Figure 1)"))  # fmt: skip
        parts.append(_findings(config, fits))
        return "\n\n".join(parts)


def _fit(rows: list[dict]) -> tuple[LineFit, int, int, str] | None:
    """log τ = a + c/ω on the runs that hit (c with its 95 % interval), how many runs that is
    and how many never hit, and the growth law of the median τ against 1/ω."""
    hit = [r for r in rows if r["hit_step"] is not None and r["hit_step"] > 0]
    by = group(hit, "memory")
    if len(by) < 3:
        return None
    medians = [median("hit_step")(g) for g in by.values()]
    growth = select_growth(growth_fits(list(by), medians)).statement if min(by) >= 1 else ""
    line = line_fit(values(hit, "memory"), np.log(values(hit, "hit_step")))
    return line, len(hit), len(rows) - len(hit), growth


def _curves_figure(config, results: list[StoredCell]):
    cells = [c for c in results if c.params["part"] == "plateau"]
    trainers = list(dict.fromkeys(c.params["trainer"] for c in cells))
    memories = sorted({c.params["memory"] for c in cells})
    palette = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, len(memories)))
    colour = dict(zip(memories, palette, strict=True))
    figure, axes = new_figure(1, len(trainers), figsize=(5 * len(trainers), 3.8), squeeze=False,
                              layout="constrained")  # fmt: skip
    for ax, trainer in zip(axes[0], trainers, strict=True):
        for cell, curve in curves(cells, "loss", {"trainer": trainer}):
            steps = np.arange(len(curve.values)) * config.record_every
            ax.plot(steps[1:], curve.values[1:], color=colour[cell.params["memory"]], lw=0.8)
        ax.axhline((1 - config.escape) * bump_energy(), color="k", ls="--", lw=0.6)
        ax.set(xscale="log", yscale="log", xlabel="step", ylabel="J", title=trainer)
    handles = [
        matplotlib.lines.Line2D([], [], color=colour[m], label=f"1/ω = {m:g}") for m in memories
    ]
    axes[0][-1].legend(handles=handles, fontsize=7)
    return figure


def _hitting_figure(rows: list[dict], fits: dict):
    figure, ax = new_figure(figsize=(5.5, 3.8), layout="constrained")
    for i, (trainer, fit) in enumerate(fits.items()):
        hit = [r for r in rows if r["trainer"] == trainer and r["hit_step"]]
        ax.scatter(
            values(hit, "memory"), values(hit, "hit_step"), s=12, color=f"C{i}", label=trainer
        )
        if fit is not None:
            grid_ = np.linspace(min(values(hit, "memory")), max(values(hit, "memory")), 50)
            ax.plot(grid_, np.exp(fit[0].intercept + fit[0].slope * grid_), color=f"C{i}", lw=1)
    ax.set(yscale="log", xlabel="memory 1/ω", ylabel="hitting step")
    ax.legend(fontsize=8)
    return figure


def _figure_one(results: list[StoredCell]):
    figure, ax = new_figure(figsize=(5.5, 3.8), layout="constrained")
    targets = list(
        dict.fromkeys(c.params["target"] for c in results if c.params["part"] == "figure one")
    )
    for i, target in enumerate(targets):
        for n, (cell, curve) in enumerate(curves(results, "loss", {"target": target})):
            ax.plot(np.arange(len(curve.values)) * cell.params["record_every"], curve.values,
                    color=f"C{i}", lw=0.8, label=target if n == 0 else None)  # fmt: skip
    ax.set(yscale="log", xlabel="GD step", ylabel="J")
    ax.legend(fontsize=8)
    return figure


def _findings(config, fits: dict) -> str:
    lines = []
    for trainer, fit in fits.items():
        if fit is None:
            lines.append(f"- {trainer}: fewer than three memories were ever hit; no fit.")
            continue
        line, runs, censored, growth = fit
        left_out = (
            f"; {censored} runs never hit within {config.steps} steps and are left out, "
            "which flattens the fit"
            if censored
            else ""
        )
        verdict = (
            "grows exponentially in 1/ω (the slope's interval excludes 0)"
            if line.low > 0
            else "shows no significant exponential growth in 1/ω"
        )
        lines.append(
            f"- {trainer}: log τ = {line.intercept:.3g} + c/ω with c = {line.slope:.3g} "
            f"[{line.low:.3g}, {line.high:.3g}] (95 %, {runs} runs{left_out}): the hitting "
            f"time {verdict}. Median τ against 1/ω: {growth}."
        )
    return findings(lines)
