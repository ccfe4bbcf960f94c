r"""Study ``conjecture-local``: the loss landscape of tied ReLU RNNs around a known solution W*.

For each construction (the devil's staircase, the blog's candidate, Yarotsky's x², …: any
tied RNN whose output coordinate is 0) the data set is the construction's own output at
``points`` places of its segment (:meth:`~bends.training.tied.TiedProblem.from_network`), so W*
has zero loss and zero gradient. Two parts:

**Hessian at W*.** The spectrum of :math:`\nabla^2 L(W^*)` (autograd, ReLU'(0) = 0), its zero
eigenvalues (:math:`|\lambda| \le` ``zero_tol`` · max |λ|) against the flat directions the
structure explains (:func:`~bends.training.tied.flat_directions`: rescaling symmetries, weights
the data never reach), and what the loss does along each zero-eigenvalue direction v:
:math:`L(W^* + \delta v)` for δ = 10⁻³, 10⁻² gives a growth order p (L ∝ δ^p). p ≈ 2 along
a zero eigenvalue means the Hessian is blind there: some pre-activation is exactly 0 at a data
point (the staircase's kink neurons when its scale c is 0), so L is not twice differentiable
and rises at second order on one side; p ≥ 3 is a genuinely degenerate direction; a loss that
stays at round-off is an exactly flat one. Any symmetry direction makes W* a non-isolated
minimum.

**Basin test.** From :math:`W^* + \varepsilon N(0, 1)` for each ε, train (gradient flow by
default) and count pieces on the construction's segment: how often the run ends with at least
W*'s piece count, and at zero loss, against how often the perturbed start already had them.

Example:
    >>> study = ConjectureLocal()
    >>> config = study.Config(constructions=("yarotsky-2",), epsilons=(0.01,), seeds=1)
    >>> row = study.run_cell(study.cells(config)[0]).rows[0]
    >>> row["loss"] == 0.0, row["zero_eigenvalues"] >= row["symmetry"]
    (True, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from bends.analysis.stats import mean_interval
from bends.runner.config import require, setting
from bends.runner.report import Figures, markdown_table
from bends.runner.study import Cell, CellResult, Curve, StoredCell, Study
from bends.studies.conjecture import TrainingSettings, count_pieces, train_runs
from bends.training.tied import TiedProblem, flat_directions, tied_construction

#: Perturbation sizes δ whose losses L(W* + δv) give the growth order along a direction v.
PROBE_STEPS = (1e-3, 1e-2)
#: A loss below this along both probes is round-off: the direction is exactly flat.
FLAT_LOSS = 1e-25


@dataclass(frozen=True)
class ConjectureLocalConfig(TrainingSettings):
    constructions: tuple[str, ...] = setting(
        ("staircase-3", "candidate-3", "yarotsky-3"), "tied RNNs W* as NAME-N (first parameter)"
    )
    points: int = setting(256, "data points on the construction's segment")
    placement: Literal["uniform", "random", "avoid"] = setting("random", "where the t_i lie")
    data_seed: int = setting(0, "seed of random placements")
    zero_tol: float = setting(1e-9, "eigenvalues with |λ| ≤ zero_tol · max |λ| count as zero")
    epsilons: tuple[float, ...] = setting(
        (1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0), "basin test: perturbation sizes ε"
    )
    seeds: int = setting(16, "basin test: perturbations per ε")
    seeds_per_cell: int = setting(16, "basin test: runs per cell")

    def validate(self) -> None:
        super().validate()
        require(len(self.constructions) > 0, "give at least one construction")
        for spec in self.constructions:
            tied_construction(spec)
        require(self.points >= 1, "points must be positive")
        require(0 < self.zero_tol < 1, "zero_tol must lie in (0, 1)")
        require(all(e > 0 for e in self.epsilons), "epsilons must be positive")


class ConjectureLocal(Study):
    name = "conjecture-local"
    summary = "Hessian spectrum and basin of attraction at known tied-RNN solutions W*"
    Config = ConjectureLocalConfig
    guide = "studies/conjecture-local.md"
    demo = {  # noqa: RUF012
        "constructions": ["staircase-2", "yarotsky-2"],
        "epsilons": [0.01, 0.1, 1.0],
        "seeds": 4,
        "seeds_per_cell": 4,
        "max_evaluations": 600,
    }

    def cells(self, config: ConjectureLocalConfig) -> list[Cell]:
        shared = config.fixed("constructions", "epsilons")
        hessians = [
            self.cell({"part": "hessian", "construction": spec, **shared}, ())
            for spec in config.constructions
        ]
        basins = [
            self.cell({"part": "basin", "construction": spec, "epsilon": eps, **shared}, group)
            for spec in config.constructions
            for eps in config.epsilons
            for group in config.seed_groups()
        ]
        return hessians + basins

    def run_cell(self, cell: Cell) -> CellResult:
        p = cell.params
        net = tied_construction(p["construction"])
        problem = TiedProblem.from_network(net, p["points"], p["placement"], p["data_seed"])
        full = count_pieces(problem, net.weight)[0]
        if p["part"] == "hessian":
            return _hessian_cell(p, problem, net.weight, full)
        starts = np.array(
            [
                net.weight
                + p["epsilon"] * np.random.default_rng(s).standard_normal((net.width,) * 2)
                for s in cell.seeds
            ]
        )
        result = CellResult()
        for seed, start, run in zip(
            cell.seeds, starts, train_runs(problem, starts, p), strict=True
        ):
            result.rows.append(
                {
                    "construction": p["construction"],
                    "epsilon": p["epsilon"],
                    "seed": seed,
                    "full_pieces": full,
                    "pieces_start": count_pieces(problem, start)[0],
                    "pieces": count_pieces(problem, run.weight)[0],
                    "loss_start": float(run.losses[0]),
                    "loss": float(run.loss),
                    "zero_loss": bool(run.loss < p["loss_threshold"]),
                    "stopped": run.stopped,
                }
            )
            result.curves.append(Curve("loss", seed, run.losses))
        return result

    def report(
        self, config: ConjectureLocalConfig, results: list[StoredCell], figures: Figures
    ) -> str:
        hessian = [c for c in results if c.params["part"] == "hessian"]
        basin = [r for c in results if c.params["part"] == "basin" for r in c.rows]
        parts = []
        if hessian:
            parts += [
                _hessian_table(hessian),
                figures.add(
                    _spectrum_figure(hessian),
                    "hessian_spectrum",
                    "Hessian eigenvalues at W* (|λ|, sorted; hollow markers: negative), "
                    "zero threshold dashed",
                ),
            ]
        if basin:
            parts += [
                _basin_table(config, basin),
                figures.add(
                    _basin_figure(config, basin),
                    "basin",
                    "Basin test: fraction of runs from W* + εN(0, 1) that end with W*'s piece "
                    "count (solid) or at zero loss (dashed), against the perturbed start (dotted)",
                ),
            ]
        parts.append(_findings(hessian, basin))
        return "\n\n".join(parts)


def _hessian_cell(p: dict, problem: TiedProblem, weight: np.ndarray, full: int) -> CellResult:
    loss, gradient = problem.loss_and_gradient(weight)
    eigenvalues, vectors = np.linalg.eigh(problem.hessian(weight))
    tol = p["zero_tol"] * np.abs(eigenvalues).max()
    null = vectors[:, np.abs(eigenvalues) <= tol].T
    probes = np.array(
        [
            [problem.losses(weight + step * v.reshape(weight.shape)) for step in PROBE_STEPS]
            for v in null
        ]
    ).reshape(-1, len(PROBE_STEPS))
    flat = np.all(probes < FLAT_LOSS, axis=1)
    floor = np.maximum(probes, 1e-300)
    order = np.log(floor[:, 1] / floor[:, 0]) / np.log(PROBE_STEPS[1] / PROBE_STEPS[0])
    directions = flat_directions(problem, weight)
    states, zero_pre = problem.inputs, 0
    for _ in range(problem.steps):
        pre = weight @ states
        zero_pre += int(np.sum(pre == 0))
        states = pre.clip(min=0)
    row = {
        "construction": p["construction"],
        "width": problem.width,
        "steps": problem.steps,
        "pieces": full,
        "loss": float(loss),
        "gradient_norm": float(np.linalg.norm(gradient)),
        "largest": float(eigenvalues.max()),
        "zero_eigenvalues": len(null),
        "negative": int(np.sum(eigenvalues < -tol)),
        "symmetry": directions.symmetry,
        "inactive": directions.inactive,
        "explained": directions.explained,
        "flat": int(flat.sum()),
        "second_order": int(np.sum(~flat & (order < 2.5))),
        "higher_order": int(np.sum(~flat & (order >= 2.5))),
        "zero_preactivations": zero_pre,
    }
    return CellResult([row], [Curve("spectrum", 0, eigenvalues)])


def _hessian_table(cells: list[StoredCell]) -> str:
    header = [
        "W*",
        "w",
        "k",
        "pieces",
        "loss",
        "‖∇L‖",
        "λ_max",
        "zero λ",
        "negative λ",
        "symmetry",
        "inactive",
        "explained",
        "exactly flat",
        "L ∝ δ²",
        "L ∝ δ^≥3",
        "zero pre-activations",
    ]
    keys = [
        "construction",
        "width",
        "steps",
        "pieces",
        "loss",
        "gradient_norm",
        "largest",
        "zero_eigenvalues",
        "negative",
        "symmetry",
        "inactive",
        "explained",
        "flat",
        "second_order",
        "higher_order",
        "zero_preactivations",
    ]
    return markdown_table(header, [[c.rows[0][k] for k in keys] for c in cells])


def _spectrum_figure(cells: list[StoredCell]):
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(6, 3.8))
    for cell in cells:
        values = cell.curves[0].values
        order = np.argsort(-np.abs(values))
        magnitude = np.maximum(np.abs(values[order]), 1e-300)
        index = np.arange(1, len(values) + 1)
        line = ax.plot(
            index, magnitude, marker="o", ms=3, lw=0.8, label=cell.params["construction"]
        )
        negative = values[order] < 0
        ax.scatter(
            index[negative],
            magnitude[negative],
            facecolors="white",
            edgecolors=line[0].get_color(),
            s=18,
            zorder=3,
        )
        threshold = cell.params["zero_tol"] * np.abs(values).max()
        ax.axhline(threshold, color=line[0].get_color(), ls="--", lw=0.6)
    top = max(np.abs(c.curves[0].values).max() for c in cells)
    ax.set(yscale="log", xlabel="eigenvalue index (by |λ|)", ylabel="|λ|", ylim=(1e-18, 10 * top))
    ax.legend(fontsize=8)
    return figure


def _by(basin: list[dict]):
    specs = list(dict.fromkeys(r["construction"] for r in basin))
    eps = sorted({r["epsilon"] for r in basin})
    return (
        specs,
        eps,
        {
            (s, e): [r for r in basin if r["construction"] == s and r["epsilon"] == e]
            for s in specs
            for e in eps
        },
    )


def _reached(row: dict) -> bool:
    """Did the trained run end with at least W*'s piece count?"""
    return row["pieces"] >= row["full_pieces"]


def _fraction(rows: list[dict], test) -> float:
    return float(np.mean([test(r) for r in rows]))


def _basin_table(config, basin: list[dict]) -> str:
    specs, eps, groups = _by(basin)
    body = []
    for s in specs:
        for e in eps:
            rows = groups[(s, e)]
            if not rows:
                continue
            full = rows[0]["full_pieces"]
            pieces = mean_interval([r["pieces"] for r in rows])
            body.append(
                [
                    s,
                    e,
                    len(rows),
                    full,
                    f"{_fraction(rows, lambda r: r['pieces_start'] >= r['full_pieces']):.0%}",
                    f"{_fraction(rows, _reached):.0%}",
                    str(pieces),
                    f"{_fraction(rows, lambda r: r['zero_loss']):.0%}",
                    f"{np.median([r['loss_start'] for r in rows]):.3g}",
                    f"{np.median([r['loss'] for r in rows]):.3g}",
                ]
            )
    header = [
        "W*",
        "ε",
        "runs",
        "W* pieces",
        "start ≥ W* pieces",
        "trained ≥ W* pieces",
        "E[pieces] trained",
        "zero loss",
        "median loss start",
        "median loss trained",
    ]
    return f"Basin test (trainer `{config.trainer}`):\n\n" + markdown_table(header, body)


def _basin_figure(config, basin: list[dict]):
    import matplotlib.pyplot as plt

    specs, eps, groups = _by(basin)
    figure, ax = plt.subplots(figsize=(6, 3.8))
    for s in specs:
        present = [e for e in eps if groups[(s, e)]]
        curves = [
            [_fraction(groups[(s, e)], test) for e in present]
            for test in (
                _reached,
                lambda r: r["zero_loss"],
                lambda r: r["pieces_start"] >= r["full_pieces"],
            )
        ]
        line = ax.plot(present, curves[0], marker="o", label=s)
        colour = line[0].get_color()
        ax.plot(present, curves[1], ls="--", color=colour)
        ax.plot(present, curves[2], ls=":", color=colour)
    ax.set(xscale="log", xlabel="perturbation ε", ylabel="fraction of runs", ylim=(-0.03, 1.03))
    ax.legend(fontsize=8)
    return figure


def _findings(hessian: list[StoredCell], basin: list[dict]) -> str:
    lines = ["**What these runs show** (nothing beyond them):", ""]
    for cell in hessian:
        r = cell.rows[0]
        unexplained = r["zero_eigenvalues"] - r["explained"]
        isolation = (
            "is not an isolated minimum (rescaling symmetries move it without changing f)"
            if r["symmetry"]
            else "has no rescaling symmetry"
        )
        lines.append(
            f"- {r['construction']}: {r['zero_eigenvalues']} of {r['width'] ** 2} Hessian "
            f"eigenvalues are zero, {r['explained']} explained by symmetries or unused weights, "
            f"{max(unexplained, 0)} not; along the zero directions the loss is exactly flat in "
            f"{r['flat']}, rises like δ² in {r['second_order']} (the Hessian misses them: "
            f"{r['zero_preactivations']} pre-activations are exactly 0 at the data, where ReLU "
            f"is not differentiable) and at higher order in {r['higher_order']}; W* {isolation}."
        )
    if basin:
        specs, eps, groups = _by(basin)
        for s in specs:
            kept = [
                f"ε = {e:g}: {_fraction(groups[(s, e)], _reached):.0%}"
                for e in eps
                if groups[(s, e)]
            ]
            zero = [
                _fraction(groups[(s, e)], lambda r: r["zero_loss"]) for e in eps if groups[(s, e)]
            ]
            lines.append(
                f"- {s}, runs ending with at least W*'s piece count: "
                + "; ".join(kept)
                + f". Runs reaching zero loss: {min(zero):.0%}–{max(zero):.0%} per ε (a piece "
                "count at or above W*'s is not a return to W*: small perturbations tilt flat "
                "pieces and split breakpoints, so read it beside the losses in the table)."
            )
    return "\n".join(lines)
