"""The ``flow`` part of ``memory-plateau``: Theorem 5.1's own setting — the real diagonal
model (and the complex one beside it) under gradient flow on the closed-form white-noise loss
(:mod:`bends.training.memory_flow`) — and its report: escape times with the runs cut off by the
flow-time budget kept as censored, the exponential and power laws compared with each memory left
out in turn, and the power of that comparison."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np

from bends.analysis.censored import LawComparison, compared_with_power
from bends.runner.figures import Figures, new_figure
from bends.runner.study import CellResult, Curve, StoredCell, curves
from bends.runner.summaries import findings, group, markdown_table, values
from bends.training.memory import (
    Kernel,
    airy,
    bump_energy,
    exponential_sum,
    init_parameters,
    quadrature,
)
from bends.training.memory_flow import (
    gradient_flow,
    kernel_objective,
    numpy_parameters,
    plateau_objective,
    record_grid,
)

#: How long a run is followed after it left the band, as a multiple of its leave time, unless
#: it learns the bump first. After leaving, the diagonal model's exponentials cancel ever more
#: finely to fit part of the bump (coefficients grow, the flow turns stiff and steps shrink
#: 100-fold) and it cannot learn the bump: it stops at the escape. The complex model is followed
#: on, to see whether it learns the bump.
LINGER = {"diagonal": 1.0, "complex": 4.0}
#: Simulations behind each law's power.
SIMULATIONS = 100


@dataclass(frozen=True)
class FlowParams:
    """A cell of the ``flow`` part: one model kind at one memory."""

    part: str
    model: str
    memory: float
    width: int
    init_scale: float
    flow_time: float
    flow_tolerance: float
    band: float
    learned: float
    records: int


def flow(p: FlowParams, seeds: tuple[int, ...]) -> CellResult:
    """Every seed's gradient flow as one batch: the band crossings in flow time, whether the
    run was cut off by the budget before it left the band, its steps, and its loss curve."""
    energy = bump_energy()
    levels = np.array([1 + p.band, 1 - p.band, p.learned]) * energy
    parameters = numpy_parameters(init_parameters(p.model, p.width, seeds, p.init_scale))

    def stop(loss, crossings, time):
        return ~np.isnan(crossings[:, 2]) | (time >= LINGER[p.model] * crossings[:, 1])

    delays = np.full(len(seeds), p.memory)
    run = gradient_flow(parameters, plateau_objective(delays), p.flow_time, levels,
                        tolerance=p.flow_tolerance, records=p.records, stop=stop)  # fmt: skip
    result = CellResult()
    for m, seed in enumerate(seeds):
        enter, leave, learn = (None if np.isnan(t) else float(t) for t in run.crossings[m])
        result.rows.append({
            "part": "flow", "model": p.model, "memory": p.memory, "seed": seed,
            "loss_start": float(run.losses[m, 0]), "loss_end": float(run.final[m]),
            "enter_time": enter, "leave_time": leave, "learn_time": learn,
            "censored": leave is None, "ended": float(run.ended[m]),
            "steps": int(run.steps[m]), "refused": int(run.rejected[m]),
            "plateau_ratio": None if not enter else ((leave or p.flow_time) - enter) / enter,
        })  # fmt: skip
        result.curves.append(Curve("loss", seed, run.losses[m]))
    return result


#: The paper's Figure 1 (a): a short-memory exponential sum, learned without a plateau.
EXPONENTIAL_SUM = exponential_sum([1.0, 0.5, -0.3], [1.0, 0.5, 2.0])
#: Figure 1's fit levels: the first flow time with J ≤ level × ∫ρ² is recorded for each.
FIT_LEVELS = (0.1, 0.01, 0.001)


def figure_one_target(name: str) -> Kernel:
    """``exponential sum`` or ``Ai(s − t0)`` (the paper's Figure 1 (a) and (b))."""
    if name == "exponential sum":
        return EXPONENTIAL_SUM
    return airy(1.0, float(name.removeprefix("Ai(s − ").removesuffix(")")))


def airy_name(shift: float) -> str:
    return f"Ai(s − {shift:.15g})"  # read back by figure_one_target: no digit lost


@dataclass(frozen=True)
class OneParams:
    """A cell of the ``figure one`` part: one target, the flow of ``model``."""

    part: str
    target: str
    model: str
    width: int
    init_scale: float
    one_time: float
    flow_tolerance: float
    records: int


def figure_one(p: OneParams, seeds: tuple[int, ...]) -> CellResult:
    """The gradient flow on one of Figure 1's targets: the loss curves and the first flow time
    at which J falls below each of :data:`FIT_LEVELS` × ∫ρ²."""
    kernel = figure_one_target(p.target)
    s, w = quadrature(kernel.horizon)
    energy = float(np.sum(w * kernel(s) ** 2))
    parameters = numpy_parameters(init_parameters(p.model, p.width, seeds, p.init_scale))
    run = gradient_flow(parameters, kernel_objective(kernel), p.one_time,
                        np.array(FIT_LEVELS) * energy, tolerance=p.flow_tolerance,
                        records=p.records,
                        stop=lambda loss, crossings, time: ~np.isnan(crossings[:, -1]))  # fmt: skip
    result = CellResult()
    for m, seed in enumerate(seeds):
        row = {"part": "figure one", "target": p.target, "seed": seed, "energy": energy,
               "loss_start": float(run.losses[m, 0]), "loss_end": float(run.final[m]),
               "steps": int(run.steps[m])}  # fmt: skip
        for level, time in zip(FIT_LEVELS, run.crossings[m], strict=True):
            row[f"fit_time_{level:g}"] = None if np.isnan(time) else float(time)
        result.rows.append(row)
        result.curves.append(Curve("loss", seed, run.losses[m]))
    return result


def record_times(config: Any, horizon: float | None = None) -> np.ndarray:
    """The flow times of a curve's records (the first entry is time 0)."""
    horizon = config.flow_time if horizon is None else horizon
    grid = record_grid(horizon, config.flow_records)
    return np.concatenate([[0.0], grid])


# --- report ----------------------------------------------------------------------------------


def has_plateau(rows: list[dict], factor: float) -> bool:
    """The median run spent at least ``factor`` times its time to reach the band inside it."""
    ratios = [r["plateau_ratio"] for r in rows if r["plateau_ratio"] is not None]
    return len(ratios) > len(rows) / 2 and float(np.median(ratios)) >= factor


def median_time(rows: list[dict], key: str, budget: float) -> str:
    times = [np.inf if r[key] is None else r[key] for r in rows]
    value = float(np.median(times))
    return f"> {budget:g}" if np.isinf(value) else f"{value:.4g}"


@dataclass(frozen=True)
class FlowLaw:
    model: str
    memories: list[float]
    comparison: LawComparison | None
    power: dict[str, float] | None
    without_plateau: list[float]


def flow_law(rows: list[dict], config: Any, simulations: int = SIMULATIONS) -> FlowLaw:
    """Both laws on every run (censored ones as censored) of the memories with a plateau."""
    by = group(rows, "memory")
    plateau = {m: g for m, g in by.items() if has_plateau(g, config.plateau_factor)}
    memories = sorted(plateau)
    chosen = [r for m in memories for r in plateau[m]]
    memory = np.array(values(chosen, "memory"), dtype=float)
    # a run still in the band is censored where it stopped: the budget, or earlier if the
    # integrator ran out of steps
    tau = np.array([r["ended"] if r["censored"] else r["leave_time"] for r in chosen])
    cut = np.array(values(chosen, "censored"), dtype=bool)
    budget = np.array(values(chosen, "ended"), dtype=float)
    comparison, power = compared_with_power(memory, tau, cut, budget, simulations)
    model = rows[0]["model"] if rows else ""
    return FlowLaw(model, memories, comparison, power, sorted(set(by) - set(plateau)))


def flow_section(config: Any, results: list[StoredCell], figures: Figures) -> str:
    cells = [c for c in results if c.params["part"] == "flow"]
    rows = [r for c in cells for r in c.rows]
    if not rows:
        return ""
    laws = {model: flow_law(g, config) for model, g in group(rows, "model").items()}
    energy = bump_energy()
    header = ["model", "memory 1/ω", "runs", "left the band", "cut off by the budget",
              "median enter time", "median leave time τ", "median (τ − enter)/enter",
              "plateau", "learned the bump", "median steps", "steps refused"]  # fmt: skip
    table_rows = []
    for (model, memory), g in group(rows, "model", "memory").items():
        ratios = [r["plateau_ratio"] for r in g if r["plateau_ratio"] is not None]
        table_rows.append([
            model, memory, len(g), f"{sum(not r['censored'] for r in g)}/{len(g)}",
            sum(r["censored"] for r in g), median_time(g, "enter_time", config.flow_time),
            median_time(g, "leave_time", config.flow_time),
            f"{np.median(ratios):.3g}" if ratios else "—",
            "yes" if has_plateau(g, config.plateau_factor) else "no",
            f"{sum(r['learn_time'] is not None for r in g)}/{len(g)}",
            f"{np.median(values(g, 'steps')):.0f}", sum(values(g, "refused")),
        ])  # fmt: skip
    text = (
        f"**Theorem 5.1's setting** (`part = flow`): the gradient flow of the closed-form "
        f"white-noise loss, integrated by gradient descent with a controlled step (local error "
        f"≤ {config.flow_tolerance:g}; a step that would raise the loss is refused and retried "
        f"smaller, so the loss never rises), width {config.width}, up to flow time "
        f"{config.flow_time:g}. Times are flow times (GD steps × step size). The band is "
        f"(1 ± {config.band:g}) × ∫ρ₀² = [{(1 - config.band) * energy:.4g}, "
        f"{(1 + config.band) * energy:.4g}]; leaving it (a loss drop of {config.band:g} × the "
        f"plateau's level) is the theorem's hitting time, the only escape the real diagonal "
        f"model can make (its kernel, a sum of decaying exponentials, cannot build the delayed "
        f"bump); the complex model also *learns the bump* (J ≤ {config.learned:g} × ∫ρ₀²).\n\n"
        + markdown_table(header, table_rows)
    )
    parts = [
        text,
        figures.add(_flow_curves(config, cells), "flow_curves",
                    "Figure 2 in Theorem 5.1's setting: J / ∫ρ₀² against flow time, the "
                    "median over seeds per memory (thin: every run at 4 memories); dashed: "
                    "the band"),
        figures.add(_flow_times(rows, laws, config), "flow_escape_times",
                    "Figure 3: the leave time τ against memory 1/ω, every run (triangles: cut "
                    "off by the budget, drawn at it), with the censored exponential and "
                    "power-law fits"),
        _flow_findings(laws, config),
    ]  # fmt: skip
    return "\n\n".join(parts)


def figure_one_section(config: Any, results: list[StoredCell], figures: Figures) -> str:
    cells = [c for c in results if c.params["part"] == "figure one"]
    if not cells:
        return ""
    rows = [r for c in cells for r in c.rows]
    by = group(rows, "target")
    names = ["exponential sum"] + [airy_name(t) for t in sorted(config.airy_shifts)]
    header = ["target", "runs", "∫ρ²", *(f"median time to J ≤ {v:g}·∫ρ² (reached)"
                                         for v in FIT_LEVELS), "median final J/∫ρ²"]  # fmt: skip
    table_rows = []
    for name in names:
        g = by.get(name, [])
        if not g:
            continue
        cells_ = [name, len(g), f"{g[0]['energy']:.3g}"]
        for level in FIT_LEVELS:
            key = f"fit_time_{level:g}"
            reached = sum(r[key] is not None for r in g)
            cells_.append(f"{median_time(g, key, config.one_time)} ({reached}/{len(g)})")
        cells_.append(f"{np.median([r['loss_end'] / r['energy'] for r in g]):.2g}")
        table_rows.append(cells_)
    figure, ax = new_figure(figsize=(6, 4), layout="constrained")
    times = record_times(config, config.one_time)[1:]
    palette = matplotlib.colormaps["plasma"](np.linspace(0, 0.85, len(names)))
    for name, colour in zip(names, palette, strict=True):
        chosen = [c for c in cells if c.params["target"] == name]
        if not chosen:
            continue
        runs = _held(np.array([k.values for _, k in curves(chosen, "loss")]))
        runs = runs / by[name][0]["energy"]
        for run in runs:
            ax.plot(times, run, color=colour, lw=0.3, alpha=0.3)
        ax.plot(times, np.median(runs, axis=0), color=colour, lw=1.5, label=name)
    ax.set(xscale="log", yscale="log", xlabel="flow time", ylabel="J / ∫ρ²")
    ax.legend(fontsize=7)
    return (
        f"**Figure 1** (`figure_one`): the same gradient flow ({config.model} model, width "
        f"{config.width}, loss by quadrature) on the paper's two kinds of target: a "
        f"short-memory exponential sum, and the Airy kernel Ai(s − t₀), which oscillates for "
        f"s < t₀, so that a larger t₀ means more memory (the paper: the plateau gets worse as "
        f"t₀ grows). Times are flow times up to {config.one_time:g}; in parentheses the runs "
        f"that reached the level.\n\n"
        + markdown_table(header, table_rows)
        + "\n\n"
        + figures.add(figure, "figure_one", "Figure 1: J / ∫ρ² against flow time on the "
                      "exponential sum and on Ai(s − t₀) for each t₀ (bold: median over seeds)")
    )  # fmt: skip


def _flow_curves(config, cells: list[StoredCell]):
    models = list(dict.fromkeys(c.params["model"] for c in cells))
    figure, axes = new_figure(1, len(models), figsize=(5 * len(models), 3.8), squeeze=False,
                              layout="constrained")  # fmt: skip
    times = record_times(config)[1:]
    energy = bump_energy()
    for ax, model in zip(axes[0], models, strict=True):
        chosen = [c for c in cells if c.params["model"] == model]
        memories = sorted({c.params["memory"] for c in chosen})
        palette = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, len(memories)))
        thin = set(memories[:: max(1, len(memories) // 4)])
        for memory, colour in zip(memories, palette, strict=True):
            at_memory = [c for c in chosen if c.params["memory"] == memory]
            runs = np.array([curve.values for _, curve in curves(at_memory, "loss")])
            runs = _held(runs) / energy
            if memory in thin:
                for run in runs:
                    ax.plot(times, run, color=colour, lw=0.3, alpha=0.4)
            ax.plot(times, np.median(runs, axis=0), color=colour, lw=1.4,
                    label=f"1/ω = {memory:g}")  # fmt: skip
        for edge in (1 - config.band, 1 + config.band):
            ax.axhline(edge, color="k", ls="--", lw=0.6)
        ax.set(xscale="log", yscale="log", xlabel="flow time", ylabel="J / ∫ρ₀²", title=model)
        ax.legend(fontsize=6, ncol=2)
    return figure


def _held(runs: np.ndarray) -> np.ndarray:
    """Curves (the start loss first, then the records) whose run stopped early hold their last
    loss to the end, for medians; returned without the start column."""
    out = runs.copy()
    for run in out:
        seen = np.flatnonzero(~np.isnan(run))
        run[seen[-1] + 1 :] = run[seen[-1]]
    return out[:, 1:]


def _flow_times(rows: list[dict], laws: dict[str, FlowLaw], config):
    figure, ax = new_figure(figsize=(6, 4), layout="constrained")
    for i, (model, law) in enumerate(laws.items()):
        mine = [r for r in rows if r["model"] == model]
        left = [r for r in mine if not r["censored"]]
        cut = [r for r in mine if r["censored"]]
        jitter = 0.08 * (i - 0.5)
        ax.scatter(np.array(values(left, "memory")) + jitter, values(left, "leave_time"), s=6,
                   color=f"C{i}", alpha=0.5, label=f"{model}")  # fmt: skip
        if cut:
            ax.scatter(np.array(values(cut, "memory")) + jitter, [config.flow_time] * len(cut),
                       marker="^", s=14, color=f"C{i}", label=f"{model}: cut off")  # fmt: skip
        if law.comparison is not None:
            grid = np.linspace(min(law.memories), max(law.memories), 60)
            for name, style in (("exponential", "-"), ("power", ":")):
                ax.plot(grid, law.comparison.fits[name].predict(grid), color=f"C{i}", ls=style,
                        lw=1.2, label=f"{model}: {name} law")  # fmt: skip
    ax.set(yscale="log", xlabel="memory 1/ω", ylabel="leave time τ (flow time)")
    ax.legend(fontsize=7)
    return figure


def _spread_range(fit, memories: list[float]) -> str:
    low, high = fit.spreads([min(memories), max(memories)])
    return f"{low:.2g} at 1/ω = {min(memories):g} to {high:.2g} at {max(memories):g}"


def _flow_findings(laws: dict[str, FlowLaw], config) -> str:
    lines = []
    for model, law in laws.items():
        without = ", ".join(f"{m:g}" for m in law.without_plateau) or "none"
        head = (f"- {model}, gradient flow: memories without a plateau (left out of the fits): "
                f"{without}; {len(law.memories)} with one")  # fmt: skip
        comparison = law.comparison
        if comparison is None:
            lines.append(head + ": too few to fit a law.")
            continue
        exp_fit, power_fit = comparison.fits["exponential"], comparison.fits["power"]
        weakest, weakest_delta = comparison.weakest
        verdict = (f"**the data name the {comparison.verdict} law**" if comparison.verdict
                   else "**the data cannot tell the laws apart**")  # fmt: skip
        lines.append(
            f"{head} ({min(law.memories):g}–{max(law.memories):g}), {exp_fit.runs} runs of which "
            f"{exp_fit.censored} cut off by the budget (censored in the fits). Exponential: "
            f"log τ = {exp_fit.intercept:.3g} + {exp_fit.slope:.3g}/ω (spread of log τ "
            f"{_spread_range(exp_fit, law.memories)}); power: τ ∝ (1/ω)^{power_fit.slope:.3g} "
            f"(spread {_spread_range(power_fit, law.memories)}). ΔAIC (power − exponential) = "
            f"{comparison.delta:.1f} on all memories; leaving each out in turn it ranges "
            f"{min(comparison.left_out.values()):.1f} … {max(comparison.left_out.values()):.1f} "
            f"(least favourable: without 1/ω = {weakest:g}, {weakest_delta:.1f}). A law is named "
            f"only if it wins by ≥ {comparison.evidence:g} in every one of these fits: {verdict}. "
            f"Power of that rule ({SIMULATIONS} simulations of each fitted law, same memories, "
            f"runs and budget): {100 * law.power['exponential']:.0f} % for the exponential law, "
            f"{100 * law.power['power']:.0f} % for the power law."
        )
    return findings(lines)
