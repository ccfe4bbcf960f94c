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
from bends.runner.figures import Figures
from bends.runner.study import Cell, CellResult, Curve, StoredCell, Study
from bends.studies._memory_approx_report import report
from bends.training.memory import (
    family_kernel,
    init_parameters,
    projected_fit,
    quadrature,
    train,
    white_noise_loss,
)

Family = Literal["exponential", "polynomial", "expression"]


@dataclass(frozen=True)
class MemoryApproxConfig(StudyConfig):
    families: tuple[Family, ...] = setting(("exponential", "polynomial"), "kernel families")
    omegas: tuple[float, ...] = setting((1.0, 0.5, 0.25, 0.1), "memory parameters ω", above=0)
    widths: tuple[int, ...] = setting((1, 2, 3, 4, 6, 8), "model widths m", at_least=1)
    steps: int = setting(3000, "Adam steps per fit", at_least=1)
    lr: float = setting(0.02, "Adam learning rate", above=0)
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
        require(self.log_rate_low < self.log_rate_high, "need log_rate_low < log_rate_high")
        if "expression" in self.families:  # parse and evaluate once, so errors come early
            for omega in self.omegas:
                family_kernel("expression", omega, self.expression, self.expression_horizon)(
                    np.linspace(0.0, self.expression_horizon, 5)
                )


@dataclass(frozen=True)
class Params:
    """A cell's parameters: the kernel (family, ω; the expression family's own expression and
    horizon, which the other families' cells do not carry) and the width and fit."""

    family: str
    omega: float
    width: int
    steps: int
    lr: float
    log_rate_low: float
    log_rate_high: float
    expression: str = ""
    horizon: float = 1.0


class MemoryApprox(Study):
    name = "memory-approx"
    summary = "best linear-RNN error vs width for exponential and polynomial memory"
    Config = MemoryApproxConfig
    guide = "studies/memory-approx.md"
    version = 2  # 2: each fit polished by variable projection (projected_error)
    demo = {"omegas": [1.0, 0.25], "widths": [1, 2, 4], "seeds": 3,  # noqa: RUF012
            "seeds_per_cell": 3, "steps": 600}  # fmt: skip

    def cells(self, config: MemoryApproxConfig) -> list[Cell]:
        shared = config.fixed(
            "families", "omegas", "widths", "tolerances", "expression", "expression_horizon"
        )
        user = {"expression": config.expression, "horizon": config.expression_horizon}
        return [  # only the expression family's cells depend on the expression
            self.cell({"family": f, "omega": omega, "width": m, **shared,
                       **(user if f == "expression" else {})}, group)
            for m in sorted(set(config.widths), reverse=True)
            for f in dict.fromkeys(config.families)
            for omega in dict.fromkeys(config.omegas)
            for group in config.seed_groups()
        ]  # fmt: skip

    def run_cell(self, cell: Cell) -> CellResult:
        p = Params(**cell.params)
        kernel = family_kernel(p.family, p.omega, p.expression, p.horizon)
        parameters = init_parameters("diagonal", p.width, cell.seeds)
        with torch.no_grad():  # spread the decay rates over the range, jittered per start
            spread = np.linspace(p.log_rate_low, p.log_rate_high, p.width)
            jitter = np.array(
                [np.random.default_rng([seed, 1]).normal(0, 0.3, p.width) for seed in cell.seeds]
            )
            parameters["theta"].copy_(torch.from_numpy(spread + jitter))
        nodes = quadrature(kernel.horizon)
        curve = train(parameters, lambda: white_noise_loss(parameters, kernel, nodes), "adam",
                      p.lr, p.steps, max(1, p.steps // 200))  # fmt: skip
        s, w = nodes
        energy = float(np.sum(w * kernel(s) ** 2))
        result = CellResult()
        log_rates = parameters["theta"].detach().numpy()
        for seed, losses, start in zip(cell.seeds, curve, log_rates, strict=True):
            projected, _ = projected_fit(kernel, start, nodes)
            result.rows.append(
                {
                    "family": p.family,
                    "omega": p.omega,
                    "width": p.width,
                    "seed": seed,
                    "kernel_energy": energy,
                    "loss": float(losses[-1]),
                    "relative_error": float(np.sqrt(max(losses[-1], 0.0) / energy)),
                    "projected_error": float(np.sqrt(max(projected, 0.0) / energy)),
                }
            )
            result.curves.append(Curve("loss", seed, losses))
        return result

    def report(
        self, config: MemoryApproxConfig, results: list[StoredCell], figures: Figures
    ) -> str:
        return report(config, results, figures)
