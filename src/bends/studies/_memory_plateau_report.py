"""The report of ``memory-plateau``: the band crossings by memory and trainer, the loss
curves, the leave step τ against the memory with the exponential and power-law fits, the
Figure 1 and Figure 4 parts, and findings on the e^{c/ω} law."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np

from bends.analysis.censored import LawComparison, compared_with_power
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
from bends.runner.figures import Figures, new_figure
from bends.runner.study import StoredCell, curves
from bends.runner.summaries import (
    findings,
    group,
    markdown_table,
    median,
    rows_of,
    table,
    values,
)
from bends.studies._memory_plateau_flow import (
    figure_one_section,
    flow_section,
    has_plateau,
    median_time,
)
from bends.studies._memory_plateau_parts import trainer_steps
from bends.training.memory import bump_energy, plateau_kernel, sampled_plateau_level


def report(config: Any, results: list[StoredCell], figures: Figures) -> str:
    rows = [r for r in rows_of(results) if r["part"] == "plateau"]
    fours = [r for r in rows_of(results) if r["part"] == "figure four"]
    laws = {trainer: _law(members, config) for trainer, members in group(rows, "trainer").items()}
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
    if fours:
        parts.append(_figure_four_section(config, results, fours, figures, columns))
    cases = [r for r in rows_of(results) if r["part"] == "four cases"]
    if cases:
        parts.append(_cases_section(config, cases, rows_of(results)))
    parts.append(_findings(config, laws, fours))
    flows = [flow_section(config, results, figures), figure_one_section(config, results, figures)]
    return "\n\n".join([*flows, *parts])


#: Memories with a plateau needed before the exponential and power laws are compared.
LAW_MEMORIES = 6


def _relative_median(rows: list[dict], energy: float) -> str:
    return f"{np.median(values(rows, 'loss_final')) / energy:.3g}"


def _count(key: str):
    return lambda g: f"{len(g) - values(g, key).count(None)}/{len(g)}"


def _has_plateau(rows: list[dict], config) -> bool:
    return has_plateau(rows, config.plateau_factor)


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
    runs_law: LawComparison | None = None  # on every run, censored ones as censored
    runs_power: dict[str, float] | None = None


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
    runs_law = runs_power = None
    if fits is not None:
        chosen = [r for m in memories for r in fitted[m]]
        budget = trainer_steps(config, chosen[0]["trainer"])
        memory = np.array(values(chosen, "memory"), dtype=float)
        tau = np.array([budget if r["hit_step"] is None else max(r["hit_step"], 1)
                        for r in chosen], dtype=float)  # fmt: skip
        cut = np.array([r["hit_step"] is None for r in chosen])
        runs_law, runs_power = compared_with_power(memory, tau, cut,
                                                   np.full(memory.size, budget))  # fmt: skip
    return Law(memories, fits, selection, power, line, len(hit), censored,
               sorted(set(by) - set(plateau)), runs_law, runs_power)  # fmt: skip


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


def _cases_section(config, cases: list[dict], every: list[dict]) -> str:
    """Figure 4's changes one at a time on the diagonal model, beside its white-noise flow."""
    flows = group([r for r in every if r["part"] == "flow" and r["model"] == "diagonal"],
                  "memory")  # fmt: skip
    header = ["change", "memory 1/ω", "runs", "left the band", "median enter",
              "median leave τ", "median (τ − enter)/enter", "plateau",
              "white-noise flow: median τ"]  # fmt: skip
    table_rows = []
    for (case, memory), g in group(cases, "case", "memory").items():
        unit = "flow time" if case == "sampled paths" else "Adam steps"
        budget = config.flow_time if case == "sampled paths" else config.adam_steps
        ratios = [r["plateau_ratio"] for r in g if r["plateau_ratio"] is not None]
        reference = flows.get(memory)
        table_rows.append([
            f"{case} ({unit})", memory, len(g), f"{sum(not r['censored'] for r in g)}/{len(g)}",
            median("enter_time", missing="never")(g), median_time(g, "leave_time", budget),
            f"{np.median(ratios):.3g}" if ratios else "—",
            "yes" if _has_plateau(g, config) else "no",
            median_time(reference, "leave_time", config.flow_time) if reference else "not run",
        ])  # fmt: skip
    return (
        "**Figure 4's changes one at a time** (`four_cases`), each on the theorem's real "
        "diagonal model: `sampled paths` follows the same gradient flow on the MSE over "
        f"{config.paths} sampled white-noise paths of {config.path_length} steps of "
        f"Δ = {config.path_step:g} (the exactly discretised RNN, its band around that "
        "sample's own plateau level) instead of the white-noise loss; `adam` trains the "
        f"white-noise loss with Adam (lr {config.adam_lr:g}, {config.adam_steps} steps) "
        "instead of following the flow. Beside them, the white-noise flow's median τ at "
        "the same memory (the flow part).\n\n" + markdown_table(header, table_rows)
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
                    f"{trainer_steps(config, trainer)} "
                    "steps: counted in the medians as ∞, left out of the line" if law.censored
                    else "")  # fmt: skip
        power = law.power
        verdict = (
            f"Median τ against 1/ω: {law.selection.statement}. Power of that comparison on "
            f"data like these: the exponential law is recovered with ΔAIC ≥ {AIC_EVIDENCE:g} in "
            f"{100 * power['exponential']:.0f} % of simulations, the power law in "
            f"{100 * power['polynomial']:.0f} %."
        )
        if law.runs_law is not None:
            comparison = law.runs_law
            named = (f"names the {comparison.verdict} law" if comparison.verdict
                     else "cannot tell the laws apart")  # fmt: skip
            verdict += (
                f" On every run (censored at the step budget, each memory left out in turn, "
                f"the rule of the flow part): ΔAIC = {comparison.delta:.1f}, "
                f"{min(comparison.left_out.values()):.1f} … "
                f"{max(comparison.left_out.values()):.1f} leaving one out: it {named} "
                f"(power {100 * law.runs_power['exponential']:.0f} % / "
                f"{100 * law.runs_power['power']:.0f} %)."
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
