r"""Study ``memory-approx``: how many neurons does a linear RNN need as the memory grows?

Li, Han, E and Li (ICLR 2021, Theorem 4.2 and the discussion after it): a linear RNN of width m
approximates targets whose kernels decay exponentially at a rate that improves quickly with
m, but for polynomial decay :math:`(1 + s)^{-(1+\omega)}` no such rate holds, and the width
needed for a tolerance grows without bound as ω → 0 — the curse of memory in approximation.

Two kernel families with memory set by ω, both completely monotone (mixtures of decaying
exponentials, so the diagonal model can approach them):

* ``exponential``: :math:`e^{-\omega s} / (1 + s)` — memory ~1/ω, then exponential decay;
* ``polynomial``: :math:`(1 + s)^{-(1+\omega)}` — no exponential decay at all;
* ``expression``: the user's kernel, a safe NumPy expression in ``s`` and ``omega``
  (``expression``; integrated up to ``expression_horizon``).

For each (family, ω, m) the diagonal linear RNN of width m is fitted by Adam from ``seeds``
initialisations (log-rates spread over ``log_rate_low``…``log_rate_high``), and the best
relative error :math:`\sqrt{J / \int \rho^2}` is kept (:mod:`bends.training.memory`). The
report plots it against m and tabulates the smallest m reaching each tolerance.

Example:
    >>> study = MemoryApprox()
    >>> config = study.Config(families=("exponential",), omegas=(1.0,), widths=(2,), seeds=2,
    ...                       steps=200)
    >>> row = study.run_cell(study.cells(config)[0]).rows[0]
    >>> 0 < row["relative_error"] < 1
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from bends.runner.config import StudyConfig, require, setting
from bends.runner.report import Figures, markdown_table
from bends.runner.study import Cell, CellResult, Curve, StoredCell, Study
from bends.training.memory import (
    Kernel,
    init_parameters,
    polynomial_decay,
    quadrature,
    train,
    user_kernel,
    white_noise_loss,
)

Family = Literal["exponential", "polynomial", "expression"]


def family_kernel(family: str, omega: float, expression: str = "", horizon: float = 1.0) -> Kernel:
    """The kernel of ``family`` with memory parameter ω (module docstring); ``expression``:
    the user's kernel in s and omega, integrated up to ``horizon``."""
    if family == "polynomial":
        return polynomial_decay(omega)
    if family == "expression":
        return user_kernel(expression, horizon, omega=omega)
    return Kernel(f"exp({omega:g})", lambda s: np.exp(-omega * s) / (1.0 + s), 40.0 / omega + 40.0)


@dataclass(frozen=True)
class MemoryApproxConfig(StudyConfig):
    families: tuple[Family, ...] = setting(("exponential", "polynomial"), "kernel families")
    omegas: tuple[float, ...] = setting((1.0, 0.5, 0.25, 0.1), "memory parameters ω")
    widths: tuple[int, ...] = setting((1, 2, 3, 4, 6, 8), "model widths m")
    steps: int = setting(3000, "Adam steps per fit")
    lr: float = setting(0.02, "Adam learning rate")
    log_rate_low: float = setting(-6.0, "initial log decay rates spread from here …")
    log_rate_high: float = setting(2.0, "… to here")
    tolerances: tuple[float, ...] = setting((0.1, 0.03, 0.01), "relative errors for m(ε)")
    expression: str = setting(
        "exp(-omega * s) * (1 + cos(s)) / 2", "family 'expression': a kernel in s and omega"
    )
    expression_horizon: float = setting(400.0, "family 'expression': integrate up to this s")
    seeds: int = setting(8, "initialisations per fit (the best is kept)")
    seeds_per_cell: int = setting(8, "initialisations fitted together in one cell")

    def validate(self) -> None:
        super().validate()
        require(len(self.families) > 0 and len(self.omegas) > 0, "give families and omegas")
        require(min(self.omegas) > 0, "omegas must be positive")
        require(len(self.widths) > 0 and min(self.widths) >= 1, "widths must be positive")
        require(self.steps >= 1 and self.lr > 0, "need steps ≥ 1 and lr > 0")
        require(self.log_rate_low < self.log_rate_high, "need log_rate_low < log_rate_high")
        if "expression" in self.families:  # parse and evaluate once, so errors come early
            for omega in self.omegas:
                family_kernel("expression", omega, self.expression, self.expression_horizon)(
                    np.linspace(0.0, self.expression_horizon, 5)
                )


class MemoryApprox(Study):
    name = "memory-approx"
    summary = "best linear-RNN error vs width for exponential and polynomial memory"
    Config = MemoryApproxConfig
    guide = "studies/memory-approx.md"
    demo = {  # noqa: RUF012
        "omegas": [1.0, 0.25],
        "widths": [1, 2, 4],
        "seeds": 3,
        "seeds_per_cell": 3,
        "steps": 600,
    }

    def cells(self, config: MemoryApproxConfig) -> list[Cell]:
        shared = config.fixed(
            "families", "omegas", "widths", "tolerances", "expression", "expression_horizon"
        )
        user = {"expression": config.expression, "horizon": config.expression_horizon}
        return [  # only the expression family's cells depend on the expression
            self.cell(
                {
                    "family": f,
                    "omega": omega,
                    "width": m,
                    **shared,
                    **(user if f == "expression" else {}),
                },
                group,
            )
            for m in sorted(set(config.widths), reverse=True)
            for f in dict.fromkeys(config.families)
            for omega in dict.fromkeys(config.omegas)
            for group in config.seed_groups()
        ]

    def run_cell(self, cell: Cell) -> CellResult:
        p = cell.params
        kernel = family_kernel(
            p["family"], p["omega"], p.get("expression", ""), p.get("horizon", 1.0)
        )
        parameters = init_parameters("diagonal", p["width"], cell.seeds)
        with torch.no_grad():  # spread the decay rates over the range, jittered per start
            spread = np.linspace(p["log_rate_low"], p["log_rate_high"], p["width"])
            jitter = np.array(
                [np.random.default_rng([seed, 1]).normal(0, 0.3, p["width"]) for seed in cell.seeds]
            )
            parameters["theta"].copy_(torch.from_numpy(spread + jitter))
        nodes = quadrature(kernel.horizon)
        curve = train(
            parameters,
            lambda: white_noise_loss(parameters, kernel, nodes),
            "adam",
            p["lr"],
            p["steps"],
            max(1, p["steps"] // 200),
        )
        s, w = nodes
        energy = float(np.sum(w * kernel(s) ** 2))
        result = CellResult()
        for seed, losses in zip(cell.seeds, curve, strict=True):
            result.rows.append(
                {
                    "family": p["family"],
                    "omega": p["omega"],
                    "width": p["width"],
                    "seed": seed,
                    "kernel_energy": energy,
                    "loss": float(losses[-1]),
                    "relative_error": float(np.sqrt(max(losses[-1], 0.0) / energy)),
                }
            )
            result.curves.append(Curve("loss", seed, losses))
        return result

    def report(
        self, config: MemoryApproxConfig, results: list[StoredCell], figures: Figures
    ) -> str:
        rows = [r for c in results for r in c.rows]
        return "\n\n".join(
            [
                _needed_table(config, rows),
                figures.add(
                    _error_figure(rows),
                    "error_vs_width",
                    "Best relative error √(J/∫ρ²) of the width-m diagonal linear RNN, per "
                    "memory ω; left: exponential decay e^{−ωs}/(1+s), right: (1+s)^{−(1+ω)}",
                ),
                _findings(config, rows),
            ]
        )


def _widths(rows, family, omega) -> list[int]:
    return sorted({r["width"] for r in rows if (r["family"], r["omega"]) == (family, omega)})


def _error(rows, family, omega, m) -> float:
    """The best relative error over the starts (seeds)."""
    return min(
        r["relative_error"]
        for r in rows
        if (r["family"], r["omega"], r["width"]) == (family, omega, m)
    )


def _needed(rows, family, omega, tolerance) -> int | None:
    widths = _widths(rows, family, omega)
    return next((m for m in widths if _error(rows, family, omega, m) <= tolerance), None)


def _needed_table(config, rows) -> str:
    body = []
    for family in dict.fromkeys(r["family"] for r in rows):
        for omega in sorted({r["omega"] for r in rows if r["family"] == family}, reverse=True):
            widths = _widths(rows, family, omega)
            errors = [f"{_error(rows, family, omega, m):.3g}" for m in widths]
            needed = [_needed(rows, family, omega, eps) for eps in config.tolerances]
            body.append(
                [
                    family,
                    omega,
                    " / ".join(errors),
                    *[f"> {max(widths)}" if n is None else n for n in needed],
                ]
            )
    header = [
        "family",
        "ω",
        f"relative error at m = {', '.join(map(str, sorted(config.widths)))}",
        *[f"m for ε = {eps:g}" for eps in config.tolerances],
    ]
    return markdown_table(header, body)


def _error_figure(rows):
    import matplotlib.pyplot as plt

    families = list(dict.fromkeys(r["family"] for r in rows))
    figure, axes = plt.subplots(1, len(families), figsize=(5 * len(families), 3.8), squeeze=False)
    for ax, family in zip(axes[0], families, strict=True):
        omegas = sorted({r["omega"] for r in rows if r["family"] == family}, reverse=True)
        for omega, colour in zip(
            omegas, plt.cm.viridis(np.linspace(0, 0.9, len(omegas))), strict=True
        ):
            widths = _widths(rows, family, omega)
            errors = [_error(rows, family, omega, m) for m in widths]
            ax.plot(widths, errors, marker="o", color=colour, label=f"ω = {omega:g}")
        ax.set(yscale="log", xlabel="width m", ylabel="relative error", title=family)
        ax.legend(fontsize=8)
    return figure


def _findings(config, rows) -> str:
    lines = ["**What these runs show** (nothing beyond them):", ""]
    eps = min(config.tolerances)
    for family in dict.fromkeys(r["family"] for r in rows):
        omegas = sorted({r["omega"] for r in rows if r["family"] == family}, reverse=True)
        widths = sorted({r["width"] for r in rows if r["family"] == family})
        needed = [_needed(rows, family, omega, eps) for omega in omegas]
        text = ", ".join(
            f"ω = {omega:g}: {'> ' + str(max(widths)) if n is None else n}"
            for omega, n in zip(omegas, needed, strict=True)
        )
        worst = [_error(rows, family, omega, max(widths)) for omega in omegas]
        lines.append(
            f"- {family}: width needed for relative error {eps:g}: {text}; at m = {max(widths)} "
            f"the error goes from {worst[0]:.2g} (ω = {omegas[0]:g}) to {worst[-1]:.2g} "
            f"(ω = {omegas[-1]:g})."
        )
    lines.append(
        "- Fits are by Adam from a few starts: they bound the best error from above, so a "
        "larger m that does worse than a smaller one is an optimisation failure, not a law."
    )
    return "\n".join(lines)
