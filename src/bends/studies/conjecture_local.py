r"""Study ``conjecture-local``: the loss landscape of tied ReLU RNNs around a known solution W*.

For each construction (the devil's staircase, the blog's candidate, Yarotsky's x², …: any
tied RNN whose output coordinate is 0) the data set is the construction's own output at
``points`` places of its segment (:meth:`~bends.training.tied.TiedProblem.from_network`), so W*
has zero loss and zero gradient. Two parts:

**Hessian at W*.** The spectrum of :math:`\nabla^2 L(W^*)` (autograd, ReLU'(0) = 0), its zero
eigenvalues (:math:`|\lambda| \le` ``zero_tol`` · max |λ|) against the flat directions the
structure explains (:func:`~bends.training.landscape.flat_directions`: rescaling symmetries, weights
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

from bends.runner.config import setting
from bends.runner.counting import count
from bends.runner.figures import Figures, new_figure, plot_means
from bends.runner.grid import grid
from bends.runner.study import Cell, CellResult, Curve, StoredCell, Study
from bends.runner.summaries import findings, group, interval, median, rows_of, share, table
from bends.studies._tied import TrainingSettings, train_runs
from bends.training.landscape import analyse_minimum
from bends.training.tied import TiedProblem, tied_construction


@dataclass(frozen=True)
class ConjectureLocalConfig(TrainingSettings):
    constructions: tuple[str, ...] = setting(
        ("staircase-3", "candidate-3", "yarotsky-3"), "tied RNNs W* as NAME-N (first parameter)"
    )
    points: int = setting(256, "data points on the construction's segment", at_least=1)
    placement: Literal["uniform", "random", "avoid"] = setting("random", "where the t_i lie")
    data_seed: int = setting(0, "seed of random placements")
    zero_tol: float = setting(
        1e-9, "eigenvalues with |λ| ≤ zero_tol · max |λ| count as zero", above=0, below=1
    )
    epsilons: tuple[float, ...] = setting(
        (1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0), "basin test: perturbation sizes ε", above=0
    )
    seeds: int = setting(16, "basin test: perturbations per ε")
    seeds_per_cell: int = setting(16, "basin test: runs per cell")

    def validate(self) -> None:
        super().validate()
        for spec in self.constructions:
            tied_construction(spec)


TITLES = {"construction": "W*", "epsilon": "ε"}


class ConjectureLocal(Study):
    name = "conjecture-local"
    summary = "Hessian spectrum and basin of attraction at known tied-RNN solutions W*"
    Config = ConjectureLocalConfig
    guide = "studies/conjecture-local.md"
    version = 2  # 2: pieces counted on the construction's segment t ∈ [0, 1]
    demo = {"constructions": ["staircase-2", "yarotsky-2"], "epsilons": [0.01, 0.1, 1.0],  # noqa: RUF012
            "seeds": 4, "seeds_per_cell": 4, "max_evaluations": 600}  # fmt: skip

    def cells(self, config: ConjectureLocalConfig) -> list[Cell]:
        shared = config.fixed("constructions", "epsilons")
        hessians = {"part": ["hessian"], "construction": config.constructions}
        basins = {
            "part": ["basin"],
            "construction": config.constructions,
            "epsilon": config.epsilons,
        }
        return grid(self, hessians, shared=shared) + grid(
            self, basins, config.seed_groups(), shared
        )

    def run_cell(self, cell: Cell) -> CellResult:
        p = cell.params
        net = tied_construction(p["construction"])
        problem = TiedProblem.from_network(net, p["points"], p["placement"], p["data_seed"])
        # pieces on the construction's whole segment t ∈ [0, 1], not the data's range (which
        # placements other than uniform narrow): W*'s own count, 2^(j+1) − 1 for the staircase
        segment = problem.segment(0.0, 1.0)
        full = count(problem.network(net.weight), *segment).pieces
        if p["part"] == "hessian":
            local = analyse_minimum(problem, net.weight, p["zero_tol"])
            spectrum = Curve("spectrum", 0, local.pop("eigenvalues"))
            row = {"construction": p["construction"], "width": problem.width,
                   "steps": problem.steps, "pieces": full, **local}  # fmt: skip
            return CellResult([row], [spectrum])
        noise = [np.random.default_rng(s).standard_normal((net.width,) * 2) for s in cell.seeds]
        starts = np.array([net.weight + p["epsilon"] * z for z in noise])
        result = CellResult()
        for seed, start, run in zip(
            cell.seeds, starts, train_runs(problem, starts, p), strict=True
        ):
            result.rows.append(
                {
                    **{key: p[key] for key in ("construction", "epsilon")},
                    "seed": seed,
                    "full_pieces": full,
                    "pieces_start": count(problem.network(start), *segment).pieces,
                    "pieces": count(problem.network(run.weight), *segment).pieces,
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
        basin = [
            {**r, "reached": r["pieces"] >= r["full_pieces"],
             "start_reached": r["pieces_start"] >= r["full_pieces"]}
            for c in results if c.params["part"] == "basin" for r in c.rows
        ]  # fmt: skip
        parts = []
        if hessian:
            columns = {"w": "width", "k": "steps", "pieces": "pieces", "loss": "loss",
                       "‖∇L‖": "gradient_norm", "λ_max": "largest", "zero λ": "zero_eigenvalues",
                       "negative λ": "negative", "symmetry": "symmetry", "inactive": "inactive",
                       "explained": "explained", "exactly flat": "flat",
                       "L ∝ δ²": "second_order", "L ∝ δ^≥3": "higher_order",
                       "zero pre-activations": "zero_preactivations"}  # fmt: skip
            parts += [
                table(rows_of(hessian), ["construction"], columns, titles=TITLES),
                figures.add(_spectrum_figure(hessian), "hessian_spectrum",
                            "Hessian eigenvalues at W* (|λ|, sorted; hollow markers: negative), "
                            "zero threshold dashed"),
            ]  # fmt: skip
        if basin:
            columns = {"runs": len, "W* pieces": "full_pieces",
                       "start ≥ W* pieces": share(lambda r: r["start_reached"]),
                       "trained ≥ W* pieces": share(lambda r: r["reached"]),
                       "E[pieces] trained": interval("pieces"),
                       "zero loss": share(lambda r: r["zero_loss"]),
                       "median loss start": median("loss_start"),
                       "median loss trained": median("loss")}  # fmt: skip
            parts += [
                f"Basin test (trainer `{config.trainer}`):\n\n"
                + table(basin, ["construction", "epsilon"], columns, titles=TITLES),
                figures.add(_basin_figure(basin), "basin",
                            "Basin test: fraction of runs from W* + εN(0, 1) that end with W*'s "
                            "piece count (solid) or at zero loss (dashed), against the perturbed "
                            "start (dotted)"),
            ]  # fmt: skip
        parts.append(_findings(hessian, basin))
        return "\n\n".join(parts)


def _spectrum_figure(cells: list[StoredCell]):
    figure, ax = new_figure(figsize=(6, 3.8), layout="constrained")
    for i, cell in enumerate(cells):
        values = cell.curves[0].values
        order = np.argsort(-np.abs(values))
        magnitude = np.maximum(np.abs(values[order]), 1e-300)
        index = np.arange(1, len(values) + 1)
        ax.plot(index, magnitude, marker="o", ms=3, lw=0.8, color=f"C{i}",
                label=cell.params["construction"])  # fmt: skip
        negative = values[order] < 0
        ax.scatter(index[negative], magnitude[negative], facecolors="white",
                   edgecolors=f"C{i}", s=18, zorder=3)  # fmt: skip
        ax.axhline(cell.params["zero_tol"] * np.abs(values).max(), color=f"C{i}", ls="--", lw=0.6)
    top = max(np.abs(c.curves[0].values).max() for c in cells)
    ax.set(yscale="log", xlabel="eigenvalue index (by |λ|)", ylabel="|λ|", ylim=(1e-18, 10 * top))
    ax.legend(fontsize=8)
    return figure


def _basin_figure(basin: list[dict]):
    figure, ax = new_figure(figsize=(6, 3.8), layout="constrained")
    for i, (spec, rows) in enumerate(group(basin, "construction").items()):
        for key, style in (("reached", "-"), ("zero_loss", "--"), ("start_reached", ":")):
            plot_means(
                ax,
                rows,
                "epsilon",
                key,
                spread=None,
                color=f"C{i}",
                ls=style,
                marker="o" if key == "reached" else "",
                label=spec if key == "reached" else None,
            )
    ax.set(xscale="log", xlabel="perturbation ε", ylabel="fraction of runs", ylim=(-0.03, 1.03))
    ax.legend(fontsize=8)
    return figure


def _findings(hessian: list[StoredCell], basin: list[dict]) -> str:
    lines = []
    for r in rows_of(hessian):
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
    for spec, rows in group(basin, "construction").items():
        by = group(rows, "epsilon")
        kept = [f"ε = {e:g}: {share(lambda r: r['reached'])(g)}" for e, g in by.items()]
        zero = [np.mean([r["zero_loss"] for r in g]) for g in by.values()]
        lines.append(
            f"- {spec}, runs ending with at least W*'s piece count: "
            + "; ".join(kept)
            + f". Runs reaching zero loss: {min(zero):.0%}–{max(zero):.0%} per ε (a piece "
            "count at or above W*'s is not a return to W*: small perturbations tilt flat "
            "pieces and split breakpoints, so read it beside the losses in the table)."
        )
    return findings(lines)
