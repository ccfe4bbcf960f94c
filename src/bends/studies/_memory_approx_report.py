"""The report of ``memory-approx``: the best relative error by width and the width needed
for each tolerance (Adam's fits and the same fits polished by variable projection), error
against width, the power and exponential rate fits, and findings on Theorem 4.2."""

from __future__ import annotations

import itertools
from typing import Any

import matplotlib
import numpy as np

from bends.analysis.stats import AIC_EVIDENCE, line_fit
from bends.runner.figures import Figures, new_figure
from bends.runner.study import StoredCell
from bends.runner.summaries import findings, group, markdown_table, rows_of, values
from bends.studies._stored import memory_approx_error


def report(config: Any, results: list[StoredCell], figures: Figures) -> str:
    best, projected = _best(rows_of(results)), _best(rows_of(results), "projected_error")
    rates = {key: _rate_fits(errors) for key, errors in projected.items()}
    caption = (
        "Best relative error √(J/∫ρ²) of the width-m diagonal linear RNN, per memory ω; "
        "left: exponential decay e^{−ωs}/(1+s), right: (1+s)^{−(1+ω)}; solid: Adam, "
        "dashed: polished by variable projection"
    )
    return "\n\n".join([
        "Adam's fits:\n\n" + _needed_table(config, best),
        "The same fits polished by variable projection (exact coefficients for the rates, "
        "L-BFGS on the log-rates from Adam's end; `bends.training.memory.projected_fit`): "
        "where this is much lower, Adam's curve shows the optimiser, not the model:\n\n"
        + _needed_table(config, projected),
        figures.add(_error_figure(best, projected), "error_vs_width", caption),
        _rate_table(rates),
        _findings(config, best, projected, rates),
    ])  # fmt: skip


def _best(rows, key: str = "relative_error") -> dict[tuple[str, float], dict[int, float]]:
    """The best ``key`` over the starts (seeds), per (family, ω) and width, with the
    families in the order they ran and ω from short memory to long."""
    found = group(rows, "family", "omega", "width")
    best: dict[tuple[str, float], dict[int, float]] = {}
    for family in dict.fromkeys(values(rows, "family")):
        for omega in sorted({o for f, o, _ in found if f == family}, reverse=True):
            best[family, omega] = {
                m: min(memory_approx_error(r, key) for r in g)
                for (f, o, m), g in found.items() if (f, o) == (family, omega)
            }  # fmt: skip
    return best


def _needed(errors: dict[int, float], tolerance: float) -> int | None:
    """The smallest width whose best error is at most ``tolerance``."""
    return next((m for m, error in errors.items() if error <= tolerance), None)


def _needed_table(config, best) -> str:
    body = [
        [family, omega, " / ".join(f"{e:.3g}" for e in errors.values()),
         *[f"> {max(errors)}" if (n := _needed(errors, eps)) is None else n
           for eps in config.tolerances]]
        for (family, omega), errors in best.items()
    ]  # fmt: skip
    header = ["family", "ω", f"relative error at m = {', '.join(map(str, sorted(config.widths)))}",
              *[f"m for ε = {eps:g}" for eps in config.tolerances]]  # fmt: skip
    return markdown_table(header, body)


def _rate_fits(errors: dict[int, float]) -> dict[str, float] | None:
    """Power law e ≈ A m^{−α} and exponential e ≈ A e^{−κm} fitted by least squares on
    log e, on the running minimum over m (a width-m model contains every narrower one, so
    the best error of width m is at most the best narrower one's); the local power slope on
    the narrowest and the widest three widths; ΔAIC = AIC(power) − AIC(exponential)."""
    widths = np.array(sorted(errors), dtype=np.float64)
    if len(widths) < 4:
        return None
    logs = np.log(np.minimum.accumulate([errors[int(m)] for m in widths]))
    power, exponential = line_fit(np.log(widths), logs), line_fit(widths, logs)

    def rss(x, fit) -> float:
        return float(np.sum((logs - fit.intercept - fit.slope * x) ** 2))

    n = len(widths)
    return {
        "alpha": -power.slope, "alpha_low": -power.high, "alpha_high": -power.low,
        "kappa": -exponential.slope,
        "delta_aic": n * np.log(rss(np.log(widths), power) / rss(widths, exponential)),
        "first": -line_fit(np.log(widths[:3]), logs[:3]).slope,
        "last": -line_fit(np.log(widths[-3:]), logs[-3:]).slope,
    }  # fmt: skip


def _rate_table(rates) -> str:
    """The fitted rates beside what Theorem 4.2 says about each family."""
    theorem = {
        "exponential": "every α (β < ω): faster than any power of m",
        "polynomial": "none ((13) fails); truncation: m(ε) bound grows exponentially in 1/ω",
    }
    body = []
    for (family, omega), fits in rates.items():
        if fits is None:
            continue
        body.append([
            family, omega,
            f"{fits['alpha']:.2f} [{fits['alpha_low']:.2f}, {fits['alpha_high']:.2f}]",
            f"{fits['first']:.2f} → {fits['last']:.2f}", f"{fits['kappa']:.2f}",
            f"{fits['delta_aic']:+.1f}", theorem.get(family, "not covered"),
        ])  # fmt: skip
    if not body:
        return "(Rates are fitted only on four widths or more.)"
    header = ["family", "ω", "power α (e ∝ m^−α) [95 %]", "local α, narrow → wide",
              "exponential κ (e ∝ e^−κm)", "ΔAIC power − exp.", "Theorem 4.2's rate"]  # fmt: skip
    return (
        "**Rates beside Theorem 4.2** (fitted on the polished errors' running minimum over m; "
        f"ΔAIC < 0 favours the power law, > 0 the exponential, |ΔAIC| < {AIC_EVIDENCE:g} "
        "neither). The "
        "theorem bounds the best error of width m by C(α)γd/(β m^α) when the kernel's first "
        "α + 1 derivatives decay like e^{−βt}: an upper bound, so a measured fall faster than "
        "its rate is consistent with it, a slower one (at the best fit) would contradict it. "
        "On m ≤ 8 'faster than any power' can only show as a local power slope that "
        "steepens with m and an exponential law fitting at least as well.\n\n"
        + markdown_table(header, body)
    )


def _error_figure(best, projected):
    families = list(dict.fromkeys(family for family, _ in best))
    figure, axes = new_figure(1, len(families), figsize=(5 * len(families), 3.8), squeeze=False,
                              layout="constrained")  # fmt: skip
    for ax, family in zip(axes[0], families, strict=True):
        omegas = [omega for f, omega in best if f == family]
        palette = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, len(omegas)))
        for omega, colour in zip(omegas, palette, strict=True):
            errors, polished = best[family, omega], projected[family, omega]
            ax.plot(list(errors), list(errors.values()), marker="o", color=colour,
                    label=f"ω = {omega:g}, Adam")  # fmt: skip
            ax.plot(list(polished), list(polished.values()), marker="s", mfc="none", ls="--",
                    color=colour, label=f"ω = {omega:g}, polished")  # fmt: skip
        ax.set(yscale="log", xlabel="width m", ylabel="relative error", title=family)
        ax.legend(fontsize=6, ncol=2)
    return figure


def _findings(config, best, projected, rates) -> str:
    lines = []
    eps = min(config.tolerances)
    for family in dict.fromkeys(family for family, _ in best):
        mine = {omega: errors for (f, omega), errors in best.items() if f == family}
        widest = max(max(errors) for errors in mine.values())
        needed = ", ".join(
            f"ω = {omega:g}: {'> ' + str(widest) if (n := _needed(e, eps)) is None else n}"
            for omega, e in mine.items()
        )
        omegas, worst = list(mine), [e.get(widest, np.nan) for e in mine.values()]
        lines.append(
            f"- {family}: width needed for relative error {eps:g}: {needed}; at m = {widest} "
            f"the error goes from {worst[0]:.2g} (ω = {omegas[0]:g}) to {worst[-1]:.2g} "
            f"(ω = {omegas[-1]:g})."
        )
    for family in dict.fromkeys(family for family, _ in projected):
        fitted = {omega: fits for (f, omega), fits in rates.items()
                  if f == family and fits is not None}  # fmt: skip
        if len(fitted) < 2:
            continue
        alphas = [fits["alpha"] for fits in fitted.values()]  # ω from short memory to long
        aics = [fits["delta_aic"] for fits in fitted.values()]
        falling = all(a > b for a, b in itertools.pairwise(alphas))
        law = ("the power law" if max(aics) < -AIC_EVIDENCE else "the exponential law"
               if min(aics) > AIC_EVIDENCE else "neither law consistently")  # fmt: skip
        lines.append(
            f"- {family} rates: over m ≤ {max(next(iter(projected.values())))} {law} fits "
            f"better (ΔAIC {min(aics):+.1f} to {max(aics):+.1f}); the power α goes "
            f"{' → '.join(f'{a:.2f}' for a in alphas)} for ω = "
            f"{' → '.join(f'{o:g}' for o in fitted)}"
            f"{', falling with every step to longer memory' if falling else ''}."
        )
    ratios = [best[key][m] / max(projected[key][m], 1e-300) for key in best for m in best[key]]
    worst_key, worst_m = max(((key, m) for key in best for m in best[key]),
                             key=lambda km: best[km[0]][km[1]] / max(projected[km[0]][km[1]],
                                                                      1e-300))  # fmt: skip
    lines.append(
        f"- Optimiser floor: polishing Adam's ends by variable projection lowers the best error "
        f"by a median factor {np.median(ratios):.2g} and at most {max(ratios):.3g} "
        f"({worst_key[0]}, ω = {worst_key[1]:g}, m = {worst_m}: {best[worst_key][worst_m]:.2g} "
        f"→ {projected[worst_key][worst_m]:.2g}). Both bound the best error of width m from "
        "above; where they agree, the curve is the model's, where they part, Adam's."
    )
    return findings(lines)
