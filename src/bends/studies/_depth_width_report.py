"""The report of ``depth-width``: the targets f^t, the trained networks' errors against
depth, the hard task beside the separation bound, error, loss and fit figures, and findings
on the slides' two claims."""

from __future__ import annotations

from typing import Any

import numpy as np

from bends.analysis.dynamics import exact_depth, iterate_map, oscillations, separation_bound
from bends.analysis.stats import mean_interval, ratio_interval, trend
from bends.constructions.maps import PHI, abs_map
from bends.runner.figures import Figures, new_figure
from bends.runner.study import StoredCell
from bends.runner.summaries import (
    findings,
    group,
    interval,
    markdown_table,
    mean_sd,
    resolution_finding,
    rows_of,
    table,
    values,
)
from bends.studies._depth_width_threshold import constant_l1, threshold_section

#: Iterates of f with more knots than this are not built (t = 40 would need ~3·10^8).
MAX_ITERATE_KNOTS = 2_000_000


def report(config: Any, results: list[StoredCell], figures: Figures, test_x: np.ndarray) -> str:
    """The report; ``test_x``: the test points the errors were measured on."""
    rows = rows_of(results)
    tasks = [task for task in group(rows, "c", "t") if task in _tasks(config)]
    parts = [
        _target_table(config, tasks),
        "**Errors of the trained networks** (on the test points; L1 error: mean [95 % "
        "bootstrap interval] over seeds; the others mean ± sd).\n\n"
        + table(rows, ["c", "t", "depth"], {
            "nets": len, "test MSE": mean_sd("test_mse"), "L1 error": interval("l1"),
            "L1 bound": "l1_bound", "class. error": mean_sd("class_error"),
            "pieces of g": _pieces_text,
            "(2u)^l": "capacity",
        }, labels={"c": _c_label}),
        _bound_table(config, tasks, rows),
        threshold_section(config, rows, test_x),
        figures.add(_error_figure(config, tasks, rows), "error_vs_depth",
                    "Error against depth, easy and hard task (mean ± sd over seeds)"),
        figures.add(_loss_figure(tasks, results), "loss_curves",
                    "Training loss (minibatch mean per epoch) of every network; colour = "
                    "depth"),
        figures.add(_fits_figure(tasks, rows, results), "fits",
                    "f^t and the best trained network (lowest L1) at the shallowest and "
                    "deepest depth"),
        _findings(config, tasks, rows, test_x),
    ]  # fmt: skip
    return "\n\n".join(part for part in parts if part)


def _tasks(config: Any) -> list[tuple[float, int]]:
    return [(c, t) for c in dict.fromkeys(config.slopes) for t in dict.fromkeys(config.tasks)]


def _c_label(c: float) -> str:
    return "φ" if c == PHI else f"{c:g}"


def _task(c: float, t: int) -> str:
    return f"c = {_c_label(c)}, t = {t}"


def _target_table(config: Any, tasks) -> str:
    """Pieces of f^t and its oscillations between the levels, exact where f^t has at most
    MAX_ITERATE_KNOTS knots (built knot by knot), and where the bound's hypothesis holds."""
    depths = sorted(set(config.depths))
    body = []
    for c, t in tasks:
        built = 2 * c ** (t + 1) <= MAX_ITERATE_KNOTS
        ft = iterate_map(abs_map(c), t) if built else None
        osc = oscillations(ft, config.low, config.high) if built else None
        body.append([
            _c_label(c), t, len(ft.x) - 1 if built else "not built", osc if built else "not built",
            f"{c**t:.4g}", f"{osc / c**t:.3f}" if built else None,
            exact_depth(abs_map(c), t, config.width),
            *[f"{(2 * config.width) ** d <= c**t / 8}" for d in depths],
        ])  # fmt: skip
    header = ["c", "t", "pieces of f^t", f"oscillations in [{config.low:g}, {config.high:g}]",
              "c^t", "oscillations / c^t", "depth computing f^t exactly",
              *[f"(2u)^{d} ≤ c^t/8" for d in depths]]  # fmt: skip
    return (
        f"**The targets.** Pieces and oscillations of f^t are exact (f^t built knot by knot) "
        f"where it has at most {MAX_ITERATE_KNOTS:,} knots. 'Depth computing f^t exactly': "
        f"a width-{config.width} net of that depth computes f^t with zero error (f^j with at "
        f"most u pieces per hidden layer), so below the bound's reach a larger error is the "
        f"training's. The bound assumes c^t oscillations; the last columns say for which "
        f"depths its hypothesis (2u)^l ≤ c^t/8 holds for width u = {config.width}.\n\n"
        + markdown_table(header, body)
    )


def _bound_table(config: Any, tasks, rows) -> str | None:
    """The errors beside the bound, in each normalisation, where the hypothesis holds."""
    by = group(rows, "c", "t", "depth")
    body = []
    for (c, t, depth), members in sorted(by.items()):
        if (c, t) not in tasks or not members[0]["hypothesis_holds"]:
            continue
        l1 = mean_interval(values(members, "l1"))
        ours = members[0]["l1_bound"]
        full = separation_bound(config.width, depth, t, -1.0, c - 1.0, c, c).bound
        body.append([
            _c_label(c), t, depth, str(l1), f"{l1.mean / 2:.3g}",
            f"{np.mean(values(members, 'test_mse')):.3g}", f"{ours:.3g}",
            f"{(config.high - config.low) ** 2 / 32:.3g}", f"{full:.3g}",
            f"{l1.mean / ours:.2f}",
        ])  # fmt: skip
    if not body:
        return None
    header = ["c", "t", "depth", "∫|f^t − g| on [−1, 1]", "mean |f^t − g|", "test MSE",
              f"bound, levels ({config.low:g}, {config.high:g})", "slides' (y − x)²/32",
              "bound, levels (−1, c − 1)", "∫ / bound"]  # fmt: skip
    return (
        "**The hard task beside the bound**, in every normalisation we can name. The bound "
        "is the slides' ∫_a^b |f^t − g| ≥ (y − x)²/16 · (1 − 2(2u)^l/c^t) on [a, b] = "
        "[−1, 1] (at least (y − x)²/32 under the hypothesis). Its largest possible value, at "
        "the widest levels f^t reaches (−1 and c − 1, which needs the premise of c^t "
        "oscillations between them), is c²/16 (column 'bound, levels (−1, c − 1)'); the "
        "mean |f^t − g| is the integral over the interval's length 2.\n\n"
        + markdown_table(header, body)
    )


def _error_figure(config, tasks, rows):
    figure, axes = new_figure(1, 3, figsize=(13, 3.6), layout="constrained")
    by = group(rows, "c", "t", "depth")
    for i, (c, t) in enumerate(tasks):
        depths = [d for (c_, t_, d) in by if (c_, t_) == (c, t)]
        for ax, key in zip(axes, ("test_mse", "l1", "class_error"), strict=True):
            numbers = [values(by[c, t, d], key) for d in depths]
            ax.errorbar(depths, [np.mean(v) for v in numbers], [np.std(v) for v in numbers],
                        color=f"C{i}", marker="o", ms=3, capsize=2, label=_task(c, t))  # fmt: skip
        bounds = [by[c, t, d][0]["l1_bound"] for d in depths]
        if any(b > 0 for b in bounds):
            axes[1].plot(depths, bounds, ls="--", color=f"C{i}", lw=1, label=f"bound, t = {t}")
    for ax, title in zip(axes, ("test MSE", "L1 error ∫|f^t − g|", "classification error"),
                         strict=True):  # fmt: skip
        ax.set(xlabel="depth l (hidden layers)", title=title, xticks=sorted(set(config.depths)))
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=6)
    figure.suptitle(f"width {config.width}: error vs depth", fontsize=10)
    return figure


def _loss_figure(tasks, results):
    figure, axes = new_figure(1, len(tasks), figsize=(4.2 * len(tasks), 3.2), squeeze=False,
                              layout="constrained")  # fmt: skip
    for ax, (c, t) in zip(axes[0], tasks, strict=True):
        labelled = set()  # one legend entry per depth, however many cells it took
        for cell in sorted(results, key=lambda cell: cell.params["depth"]):
            p = cell.params
            if (p["c"], p["t"]) != (c, t):
                continue
            for curve in (curve for curve in cell.curves if curve.name == "loss"):
                first = p["depth"] not in labelled
                labelled.add(p["depth"])
                ax.plot(
                    np.arange(len(curve.values)) * p["curve_every"],
                    curve.values,
                    lw=0.7,
                    color=f"C{p['depth'] - 1}",
                    label=f"l = {p['depth']}" if first else None,
                )
        ax.set(yscale="log", xlabel="epoch", title=_task(c, t))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("training MSE")
    return figure


def _fits_figure(tasks, rows, results):
    figure, axes = new_figure(1, len(tasks), figsize=(4.2 * len(tasks), 3.2), squeeze=False,
                              layout="constrained")  # fmt: skip
    u = np.linspace(-1, 1, 4001)
    by = group(rows, "c", "t", "depth")
    for ax, (c, t) in zip(axes[0], tasks, strict=True):
        ax.plot(u, abs_map(c).iterate(u, t), color="0.6", lw=0.5, label=f"$f^{{{t}}}$")
        depths = [d for (c_, t_, d) in by if (c_, t_) == (c, t)]
        for depth in dict.fromkeys([depths[0], depths[-1]]):
            best = min(by[c, t, depth], key=lambda r: r["l1"])
            cell = next(
                cell
                for cell in results
                if best["seed"] in cell.seeds
                and (cell.params["c"], cell.params["t"], cell.params["depth"]) == (c, t, depth)
            )
            ax.plot(u, cell.network(best["seed"])(u[:, None])[:, 0], lw=1,
                    label=f"l = {depth}: {best['pieces'] or 'uncounted'} pieces")  # fmt: skip
        ax.set(xlabel="x", title=_task(c, t))
        ax.legend(fontsize=6, loc="lower right")
    return figure


def _half(ratio) -> str:
    """Whether a ratio of errors meets 'at most half', and how surely."""
    if ratio.high <= 0.5:
        return "at most half, the whole interval below 1/2"
    if ratio.mean <= 0.5:
        return "at most half on the mean, the interval reaching above 1/2"
    return "more than half"


def _counted(rows) -> list[int]:
    """The pieces counted (None: refused by the memory budget, a near-exact f^t of large t)."""
    return [p for p in values(rows, "pieces") if p is not None]


def _pieces_text(rows) -> str:
    counted = _counted(rows)
    refused = len(rows) - len(counted)
    text = f"{np.mean(counted):.1f} (max {max(counted)})" if counted else "—"
    return text + (f", {refused} over the memory budget" if refused else "")


def _findings(config, tasks, rows, test_x: np.ndarray) -> str:
    """What the numbers say about the slides' two claims, computed from them."""
    lines, hard = [], []
    by = group(rows, "c", "t", "depth")
    for c, t in tasks:
        chosen = {d: members for (c_, t_, d), members in by.items() if (c_, t_) == (c, t)}
        if len(chosen) < 2:
            continue
        l1 = {d: float(np.mean(values(members, "l1"))) for d, members in chosen.items()}
        first, last = min(chosen), max(chosen)
        most = max(max(_counted(members), default=0) for members in chosen.values())
        ratio = ratio_interval(values(chosen[last], "l1"), values(chosen[first], "l1"))
        exact = exact_depth(abs_map(c), t, config.width)
        line = (
            f"- {_task(c, t)}: the L1 error "
            f"{trend(values(chosen[first], 'l1'), values(chosen[last], 'l1'))} with depth: "
            f"{l1[first]:.3g} at l = {first}, {l1[last]:.3g} at l = {last}, a ratio of "
            f"{ratio} (95 % bootstrap interval: {_half(ratio)}). A constant (the "
            f"median of f^t) has L1 error {constant_l1(c, t, test_x):.3g}; "
            f"width-{config.width} nets of depth {exact} and more compute f^t exactly, so "
            f"wherever l ≥ {exact} the error left is the training's, not the capacity's. The "
            f"most pieces any trained net has is {most}, against a capacity of "
            f"{(2 * config.width) ** last:.3g} and c^t = {c**t:.3g}."
        )
        holding = [d for d, members in chosen.items()
                   if members[0]["l1_bound"] > 0 and members[0]["hypothesis_holds"]]  # fmt: skip
        if holding:
            ratios = [l1[d] / chosen[d][0]["l1_bound"] for d in holding]
            line += (
                f" Where (2u)^l ≤ c^t/8 holds (l = {', '.join(map(str, holding))}) the "
                f"error is {min(ratios):.2f}–{max(ratios):.2f} times the bound "
                f"{chosen[holding[0]][0]['l1_bound']:.3g}."
            )
            widest = separation_bound(config.width, min(holding), t, -1.0, c - 1.0, c, c).bound
            mse = np.mean([np.mean(values(chosen[d], "test_mse")) for d in holding])
            hard.append((min(l1[d] for d in holding), widest, mse))
        else:
            line += " The hypothesis (2u)^l ≤ c^t/8 holds at no depth measured: no bound applies."
        lines.append(line)
    beside = (
        "- Beside the slides: they show the easy-task error falling with depth and the "
        "hard-task error flat in depth and 'extremely close to the theoretical bound'. The "
        "first two are what the lines above measure. For the third, the slides give neither "
        "the oscillation levels nor the normalisation of the plotted error; the table beside "
        "the bound gives every reading we can name."
    )
    if hard:
        error, widest, mse = min(hard)
        beside += (
            f" The bound's largest value at any levels is {widest:.3g} (∫ over [−1, 1], levels "
            f"−1 and c − 1), while the least L1 error of any depth the bound covers is "
            f"{error:.3g} (∫) or {error / 2:.3g} (mean), {error / widest:.1f}x and "
            f"{error / 2 / widest:.1f}x the bound: no normalisation of the L1 error makes the "
            f"two close. The test MSE there ({mse:.3g}) is {mse / widest:.2f}x the widest-level "
            f"bound — if that is what the slides plotted, it would explain 'close'; we cannot "
            f"verify it."
        )
    lines.append(beside)
    lines.append(resolution_finding(rows, "c", "t", "depth"))
    return findings(lines)
