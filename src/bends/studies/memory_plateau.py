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
    >>> config = study.Config(memories=(2.0,), trainers=("adam",), seeds=2, adam_steps=50,
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
import torch

from bends.analysis.stats import (
    AIC_EVIDENCE,
    GrowthFit,
    LineFit,
    Selection,
    growth_fits,
    growth_power,
    line_fit,
    select_growth,
)
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
    init_path_rnn,
    path_rnn_outputs,
    plateau_kernel,
    quadrature,
    sampled_plateau_level,
    target_outputs,
    train,
    white_noise,
    white_noise_loss,
)

#: The paper's Figure 1 targets: a short-memory exponential sum and a long-memory Airy kernel.
FIGURE_ONE = {
    "exponential sum": exponential_sum([1.0, 0.5, -0.3], [1.0, 0.5, 2.0]),
    "Airy Ai(s − 6)": airy(1.0, 6.0),
}


@dataclass(frozen=True)
class MemoryPlateauConfig(StudyConfig):
    memories: tuple[float, ...] = setting(
        tuple(float(m) for m in range(3, 19)), "delays 1/ω", above=0
    )
    trainers: tuple[Literal["gd", "adam"], ...] = setting(("gd", "adam"), "optimisers")
    model: Literal["complex", "diagonal", "full"] = setting(
        "complex", "recurrent matrix W (bends.training.memory): complex can fit the bump"
    )
    width: int = setting(16, "hidden width m of the linear RNN", at_least=1)
    gd_lr: float = setting(0.05, "GD learning rate", above=0)
    adam_lr: float = setting(0.01, "Adam learning rate", above=0)
    steps: int = setting(60_000, "GD steps", at_least=1)
    adam_steps: int = setting(5_000, "Adam steps (Adam leaves the plateau far sooner)", at_least=1)
    record_every: int = setting(5, "record the loss every this many steps", at_least=1)
    band: float = setting(
        0.1, "the plateau band: (1 ± band) × the bump's energy ∫ρ₀²", above=0, below=1
    )
    plateau_factor: float = setting(
        3.0,
        "a plateau: the time in the band is at least this many times the time to reach it",
        above=0,
    )
    learned: float = setting(0.5, "the bump is learned when J ≤ learned × ∫ρ₀²", above=0, below=1)
    init_scale: float = setting(0.5, "spread of the initial parameters")
    figure_one: bool = setting(True, "also train on an exponential sum and Ai(s − 6)")
    figure_four: tuple[float, ...] = setting(
        (4.0, 8.0, 12.0),
        "memories 1/ω of the Figure 4 part: a tanh RNN with unrestricted W on sampled paths, "
        "Adam (empty: no such part)",
        above=0,
    )
    four_steps: int = setting(2000, "Adam steps of the Figure 4 part", at_least=1)
    paths: int = setting(128, "sampled white-noise input paths of the Figure 4 part", at_least=1)
    path_step: float = setting(0.2, "time step Δ of the sampled paths", above=0)
    path_length: int = setting(80, "steps per sampled path (horizon Δ × length)", at_least=2)
    seeds: int = setting(8, "models per (memory, trainer)")
    seeds_per_cell: int = setting(8, "models trained together in one cell")

    def validate(self) -> None:
        super().validate()
        require(self.record_every <= self.steps, "record_every must be at most steps")
        require(self.learned < 1 - self.band, "learned must lie below the band")
        require(self.model != "complex" or self.width % 2 == 0,
                "a complex model needs an even width")  # fmt: skip


class MemoryPlateau(Study):
    name = "memory-plateau"
    summary = "plateaus of linear-RNN training vs the target's memory 1/ω; the e^{c/ω} law"
    Config = MemoryPlateauConfig
    guide = "studies/memory-plateau.md"
    version = 2
    demo = {"memories": [2.0, 4.0, 6.0], "trainers": ["adam"], "seeds": 2,  # noqa: RUF012
            "seeds_per_cell": 2, "adam_steps": 1500, "steps": 1500,  # figure one: GD
            "figure_four": [6.0], "four_steps": 300}  # fmt: skip

    def cells(self, config: MemoryPlateauConfig) -> list[Cell]:
        # each part's cells carry only their own settings, so changing one part's settings
        # leaves the other parts' stored results valid
        groups = config.seed_groups()
        shared = config.fixed("memories", "trainers", "figure_one", "steps", "adam_steps",
                              *FOUR_SETTINGS)  # fmt: skip
        memories = sorted(set(config.memories), reverse=True)
        plateaus = [
            cell
            for trainer in config.trainers
            for cell in grid(
                self,
                {"part": ["plateau"], "memory": memories, "trainer": [trainer]},
                groups,
                {**shared, "steps": _steps(config, trainer)},
            )
        ]
        figure_one = {"part": ["figure one"], "target": FIGURE_ONE, "trainer": ["gd"]}
        four = {"part": ["figure four"], "memory": sorted(set(config.figure_four), reverse=True),
                "trainer": ["adam"]}  # fmt: skip
        four_shared = {k: v for k, v in config.as_dict().items()
                       if k in (*FOUR_SETTINGS[1:], "band", "learned", "plateau_factor",
                                "adam_lr", "width", "init_scale", "record_every")}  # fmt: skip
        one_shared = {**shared, "steps": config.steps}
        return (
            plateaus
            + (grid(self, figure_one, groups, one_shared) if config.figure_one else [])
            + grid(self, four, groups, four_shared)
        )

    def run_cell(self, cell: Cell) -> CellResult:
        p = cell.params
        if p["part"] == "figure four":
            return _figure_four_cell(cell)
        kernel = (
            plateau_kernel(1.0 / p["memory"]) if p["part"] == "plateau" else FIGURE_ONE[p["target"]]
        )
        lr = p["gd_lr"] if p["trainer"] == "gd" else p["adam_lr"]
        parameters = init_parameters(p["model"], p["width"], cell.seeds, p["init_scale"])
        nodes = quadrature(kernel.horizon)
        losses = train(parameters, lambda: white_noise_loss(parameters, kernel, nodes),
                       p["trainer"], lr, p["steps"], p["record_every"])  # fmt: skip
        time_per_step = lr if p["trainer"] == "gd" else 1  # GD's flow time; Adam counts steps
        result = CellResult()
        for seed, curve in zip(cell.seeds, losses, strict=True):
            row = {"part": p["part"], "target": kernel.name, "memory": p.get("memory"),
                   "trainer": p["trainer"], "seed": seed, "loss_start": float(curve[0]),
                   "loss_final": float(curve[-1])}  # fmt: skip
            if p["part"] == "plateau":
                row.update(_plateau(curve, p, bump_energy(), p["steps"]))
                row["hit_time"] = (
                    None if row["hit_step"] is None else row["hit_step"] * time_per_step
                )
            result.rows.append(row)
            result.curves.append(Curve("loss", seed, curve))
        return result

    def report(
        self, config: MemoryPlateauConfig, results: list[StoredCell], figures: Figures
    ) -> str:
        rows = [r for r in rows_of(results) if r["part"] == "plateau"]
        fours = [r for r in rows_of(results) if r["part"] == "figure four"]
        laws = {
            trainer: _law(members, config) for trainer, members in group(rows, "trainer").items()
        }
        energy = bump_energy()
        columns = {"models": len,
                   "left the band": _count("hit_step"),
                   "median enter step": median("enter_step", missing="never"),
                   "median leave step τ": median("hit_step", missing="never"),
                   "median (τ − enter)/enter": median("plateau_ratio", missing="—"),
                   "plateau": lambda g: "yes" if _has_plateau(g, config) else "no",
                   "learned the bump": _count("learn_step"),
                   "median final J/∫ρ₀²": lambda g: _relative_median(g, energy)}  # fmt: skip
        parts = [
            f"Model: {config.model} W, width {config.width}. The plateau band is J within "
            f"(1 ± {config.band:g}) × ∫ρ₀² = [{(1 - config.band) * energy:.4g}, "
            f"{(1 + config.band) * energy:.4g}]: e^{{−s}} learned, none of the bump. A run "
            f"*enters* the band at the first step with J ≤ {(1 + config.band) * energy:.4g} and "
            f"*leaves* it (τ) at the first with J ≤ {(1 - config.band) * energy:.4g}; it has a "
            f"plateau when τ − enter ≥ {config.plateau_factor:g} × enter (a run that never "
            f"leaves counts the steps it ran), and a memory has one when the median run "
            f"does. It has *learned the bump* when J ≤ {config.learned:g} × ∫ρ₀².\n\n"
            + table(rows, ["trainer", "memory"], columns, titles={"memory": "memory 1/ω"}),
            figures.add(_curves_figure(config, results), "loss_curves",
                        "J / ∫ρ₀² against training step, one line per model, colour = memory "
                        "1/ω; dashed: the plateau band"),
            figures.add(_hitting_figure(rows, laws, config), "hitting_times",
                        "Leave step τ against memory 1/ω (filled: memories with a plateau, "
                        "hollow: without), with the exponential and power-law fits on the "
                        "plateau memories' medians"),
        ]  # fmt: skip
        if any(c.params["part"] == "figure one" for c in results):
            parts.append(figures.add(_figure_one(results), "figure_one",
                                     "GD on a short-memory exponential sum against the Airy "
                                     "kernel Ai(s − 6) (the paper's Figure 1)"))  # fmt: skip
        if fours:
            parts.append(_figure_four_section(config, results, fours, figures, columns))
        parts.append(_findings(config, laws, fours))
        return "\n\n".join(parts)


#: Memories with a plateau needed before the exponential and power laws are compared.
LAW_MEMORIES = 6


def _steps(config, trainer: str) -> int:
    return config.steps if trainer == "gd" else config.adam_steps


#: The Figure 4 part's own settings (the first names the part's memories).
FOUR_SETTINGS = ("figure_four", "four_steps", "paths", "path_step", "path_length")


def _plateau(curve: np.ndarray, p: dict, energy: float, steps: int) -> dict:
    """When a run of ``steps`` steps enters and leaves the plateau band around ``energy`` and
    learns the bump (steps, None if never), and its plateau ratio (τ − enter)/enter (the steps
    it ran if it never left)."""
    every_ = p["record_every"]

    def step(level: float) -> int | None:
        index = hitting_index(curve, level * energy)
        return None if index is None else index * every_

    enter, leave = step(1 + p["band"]), step(1 - p["band"])
    ratio = None
    if enter is not None and enter > 0:
        ratio = ((steps if leave is None else leave) - enter) / enter
    return {"enter_step": enter, "hit_step": leave, "learn_step": step(p["learned"]),
            "plateau_ratio": ratio}  # fmt: skip


def _relative_median(rows: list[dict], energy: float) -> str:
    return f"{np.median(values(rows, 'loss_final')) / energy:.3g}"


def _count(key: str):
    return lambda g: f"{len(g) - values(g, key).count(None)}/{len(g)}"


def _has_plateau(rows: list[dict], config) -> bool:
    ratios = [r["plateau_ratio"] for r in rows if r["plateau_ratio"] is not None]
    return len(ratios) > len(rows) / 2 and float(np.median(ratios)) >= config.plateau_factor


@dataclass(frozen=True)
class Law:
    """The growth of the median leave step τ over the memories with a plateau."""

    memories: list[float]
    fits: dict[str, GrowthFit] | None
    selection: Selection | None
    power: dict[str, float] | None
    line: LineFit | None
    runs: int
    censored: int
    without_plateau: list[float]


def _law(rows: list[dict], config) -> Law:
    """Exponential (log τ = a + c/ω) against power law (log τ = a + p log(1/ω)) on the median τ
    of the memories with a plateau whose median run left the band, with the power of that
    comparison (:func:`bends.analysis.stats.growth_power`), and log τ = a + c/ω on those
    memories' runs (c with its 95 % interval; runs that never left are counted, not fitted)."""
    by = group(rows, "memory")
    plateau = {m: g for m, g in by.items() if _has_plateau(g, config)}
    fitted = {m: g for m, g in plateau.items() if values(g, "hit_step").count(None) < len(g) / 2}
    memories = sorted(fitted)
    medians = [float(np.median([np.inf if r["hit_step"] is None else r["hit_step"]
                                for r in fitted[m]])) for m in memories]  # fmt: skip
    hit = [r for m in memories for r in fitted[m] if r["hit_step"]]
    fits = selection = power = line = None
    if len(memories) >= 3 and min(memories) >= 1:
        fits = growth_fits(memories, medians)
        selection = select_growth(fits)
        power = growth_power(memories, medians, simulations=500)
        line = line_fit(values(hit, "memory"), np.log(values(hit, "hit_step")))
    censored = sum(r["hit_step"] is None for m in memories for r in fitted[m])
    return Law(memories, fits, selection, power, line, len(hit), censored,
               sorted(set(by) - set(plateau)))  # fmt: skip


def _curves_figure(config, results: list[StoredCell]):
    cells = [c for c in results if c.params["part"] == "plateau"]
    trainers = list(dict.fromkeys(c.params["trainer"] for c in cells))
    figure, axes = new_figure(1, len(trainers), figsize=(5 * len(trainers), 3.8), squeeze=False,
                              layout="constrained")  # fmt: skip
    for ax, trainer in zip(axes[0], trainers, strict=True):
        chosen = [c for c in cells if c.params["trainer"] == trainer]
        _band_curves(ax, config, chosen, lambda cell: bump_energy(), ax is axes[0][-1])
        ax.set(xlabel="step", ylabel="J / ∫ρ₀²", title=trainer)
    return figure


def _band_curves(ax, config, cells: list[StoredCell], level, legend: bool) -> None:
    """Every loss curve of ``cells`` over its plateau ``level(cell)``, coloured by memory, on
    log axes, with the band's edges dashed."""
    memories = sorted({c.params["memory"] for c in cells})
    palette = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, len(memories)))
    colour = dict(zip(memories, palette, strict=True))
    for cell, curve in curves(cells, "loss"):
        steps = np.arange(len(curve.values)) * config.record_every
        ax.plot(steps[1:], curve.values[1:] / level(cell), color=colour[cell.params["memory"]],
                lw=0.7)  # fmt: skip
    for edge in (1 - config.band, 1 + config.band):
        ax.axhline(edge, color="k", ls="--", lw=0.6)
    ax.set(xscale="log", yscale="log")
    if legend:
        ax.legend(handles=[matplotlib.lines.Line2D([], [], color=colour[m], label=f"1/ω = {m:g}")
                           for m in memories], fontsize=7)  # fmt: skip


def _hitting_figure(rows: list[dict], laws: dict[str, Law], config):
    figure, ax = new_figure(figsize=(5.5, 3.8), layout="constrained")
    for i, (trainer, law) in enumerate(laws.items()):
        hit = [r for r in rows if r["trainer"] == trainer and r["hit_step"]]
        with_plateau = [r["memory"] not in law.without_plateau for r in hit]
        x, y = np.array(values(hit, "memory")), np.array(values(hit, "hit_step"), dtype=float)
        mask = np.array(with_plateau, dtype=bool)
        ax.scatter(x[mask], y[mask], s=12, color=f"C{i}", label=f"{trainer}, plateau")
        ax.scatter(x[~mask], y[~mask], s=12, facecolors="none", edgecolors=f"C{i}",
                   label=f"{trainer}, no plateau")  # fmt: skip
        if law.fits is not None:
            fits = law.fits
            grid_ = np.linspace(min(law.memories), max(law.memories), 50)
            for model, style, regressor in (("exponential", "-", grid_),
                                            ("polynomial", ":", np.log(grid_))):  # fmt: skip
                fit = fits[model]
                ax.plot(grid_, np.exp(fit.intercept + fit.slope * regressor), color=f"C{i}",
                        ls=style, lw=1, label=f"{trainer}: {model} law")  # fmt: skip
    ax.set(yscale="log", xlabel="memory 1/ω", ylabel="leave step τ")
    ax.legend(fontsize=7)
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


def _figure_four_cell(cell: Cell) -> CellResult:
    """Adam on the sampled-path MSE of a tanh RNN with unrestricted W (the paper's Figure 4:
    no white-noise simplification, no diagonal or stable W, a nonlinearity): the loss curve
    relative to the sampled plateau level, and when it enters and leaves the band."""
    p = cell.params
    kernel = plateau_kernel(1.0 / p["memory"])
    x = white_noise(p["paths"], p["path_length"], p["path_step"], seed=0)
    inputs, targets = (
        torch.from_numpy(x),
        torch.from_numpy(target_outputs(kernel, x, p["path_step"])),
    )
    parameters = init_path_rnn(p["width"], cell.seeds, p["init_scale"])

    def losses() -> torch.Tensor:
        outputs = path_rnn_outputs(parameters, inputs, p["path_step"], "tanh")
        return ((outputs - targets[None]) ** 2).mean(dim=(1, 2))

    curve = train(parameters, losses, "adam", p["adam_lr"], p["four_steps"], p["record_every"])
    level = sampled_plateau_level(kernel, p["path_length"], p["path_step"])
    result = CellResult()
    for seed, values_ in zip(cell.seeds, curve, strict=True):
        row = {"part": "figure four", "target": kernel.name, "memory": p["memory"],
               "trainer": "adam", "seed": seed, "loss_start": float(values_[0]),
               "loss_final": float(values_[-1]), "plateau_level": level}  # fmt: skip
        row.update(_plateau(values_, p, level, p["four_steps"]))
        result.rows.append(row)
        result.curves.append(Curve("loss", seed, values_))
    return result


def _figure_four_section(config, results, rows, figures: Figures, columns) -> str:
    figure, ax = new_figure(figsize=(5.5, 3.8), layout="constrained")
    cells = [c for c in results if c.params["part"] == "figure four"]

    def level(cell: StoredCell) -> float:
        kernel = plateau_kernel(1 / cell.params["memory"])
        return sampled_plateau_level(kernel, config.path_length, config.path_step)

    _band_curves(ax, config, cells, level, legend=True)
    ax.set(xlabel="Adam step", ylabel="MSE / plateau level")
    four_columns = {k: v for k, v in columns.items() if k != "median final J/∫ρ₀²"}
    four_columns["median final MSE / level"] = lambda g: (
        f"{np.median([r['loss_final'] / r['plateau_level'] for r in g]):.3g}"
    )
    return (
        f"**Figure 4's setting**: a tanh RNN h_k = h_{{k−1}} + Δ tanh(W h_{{k−1}} + U x_k), "
        f"ŷ_k = cᵀh_k, W unrestricted, width {config.width}, trained by Adam (lr "
        f"{config.adam_lr:g}) on the MSE over {config.paths} sampled white-noise paths of "
        f"{config.path_length} steps of Δ = {config.path_step:g}. The band is around the "
        "sampled plateau level (the expected MSE of a model that has e^{−s} and none of the "
        "bump, on paths this long).\n\n"
        + table(rows, ["memory"], four_columns, titles={"memory": "memory 1/ω"})
        + "\n\n"
        + figures.add(
            figure,
            "figure_four",
            "Figure 4's setting: MSE over the sampled plateau "
            "level against Adam step, tanh RNN with unrestricted W, one line per "
            "model; dashed: the band",
        )
    )


def _findings(config, laws: dict[str, Law], fours: list[dict]) -> str:
    lines = []
    for trainer, law in laws.items():
        without = ", ".join(f"{m:g}" for m in law.without_plateau) or "none"
        head = (f"- {trainer}: memories without a plateau (left out of every fit): {without}; "
                f"{len(law.memories)} memories with a plateau and a median τ")  # fmt: skip
        if law.selection is None:
            lines.append(head + ": too few to fit a law.")
            continue
        line = law.line
        censored = (f"; {law.censored} run(s) there never left the band within "
                    f"{_steps(config, trainer)} "
                    "steps: counted in the medians as ∞, left out of the line" if law.censored
                    else "")  # fmt: skip
        power = law.power
        verdict = (
            f"Median τ against 1/ω: {law.selection.statement}. Power of that comparison on "
            f"data like these: the exponential law is recovered with ΔAIC ≥ {AIC_EVIDENCE:g} in "
            f"{100 * power['exponential']:.0f} % of simulations, the power law in "
            f"{100 * power['polynomial']:.0f} %."
        )
        if len(law.memories) < LAW_MEMORIES:
            verdict += (f" Fewer than {LAW_MEMORIES} memories with a plateau: no verdict on the "
                        "law from these runs.")  # fmt: skip
        lines.append(
            f"{head} ({', '.join(f'{m:g}' for m in law.memories)}). log τ = {line.intercept:.3g}"
            f" + c/ω on their {law.runs} runs: c = {line.slope:.3g} [{line.low:.3g}, "
            f"{line.high:.3g}] (95 %){censored}. {verdict}"
        )
    if fours:
        by = group(fours, "memory")
        summary = "; ".join(
            f"1/ω = {m:g}: plateau {'yes' if _has_plateau(g, config) else 'no'}, median leave "
            f"step {median('hit_step', missing='never')(g)}"
            for m, g in by.items()
        )
        lines.append(
            f"- Figure 4's setting (tanh, unrestricted W, sampled paths, Adam): {summary}."
        )
    return findings(lines)
