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

from bends.nets import TiedRNN
from bends.runner.config import setting
from bends.runner.counting import count
from bends.runner.figures import Figures
from bends.runner.grid import grid
from bends.runner.study import Cell, CellResult, Curve, StoredCell, Study
from bends.studies._conjecture_local_report import report
from bends.studies._params import typed
from bends.studies._tied import Training, TrainingSettings, train_runs
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


@dataclass(frozen=True)
class HessianParams:
    """A Hessian cell's parameters: the construction W*, its data and the zero threshold."""

    construction: str
    points: int
    placement: str
    data_seed: int
    zero_tol: float


@dataclass(frozen=True)
class BasinParams:
    """A basin cell's parameters: the construction W*, its data and the perturbation ε (how
    the runs train: :class:`~._tied.Training`)."""

    construction: str
    points: int
    placement: str
    data_seed: int
    epsilon: float


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
        if cell.params["part"] == "hessian":
            return _hessian(typed(HessianParams, cell.params))
        return _basin(typed(BasinParams, cell.params), typed(Training, cell.params), cell.seeds)

    def report(
        self, config: ConjectureLocalConfig, results: list[StoredCell], figures: Figures
    ) -> str:
        return report(config, results, figures)


def _construction(
    p: HessianParams | BasinParams,
) -> tuple[TiedRNN, TiedProblem, tuple[np.ndarray, np.ndarray], int]:
    """W*, its data set, its segment t ∈ [0, 1] and its pieces there: pieces are counted on
    the construction's whole segment, not the data's range (which placements other than
    uniform narrow), so W*'s own count is 2^(j+1) − 1 for the staircase."""
    net = tied_construction(p.construction)
    problem = TiedProblem.from_network(net, p.points, p.placement, p.data_seed)
    segment = problem.segment(0.0, 1.0)
    return net, problem, segment, count(problem.network(net.weight), *segment).pieces


def _hessian(p: HessianParams) -> CellResult:
    net, problem, _, full = _construction(p)
    local = analyse_minimum(problem, net.weight, p.zero_tol)
    spectrum = Curve("spectrum", 0, local.pop("eigenvalues"))
    row = {"construction": p.construction, "width": problem.width, "steps": problem.steps,
           "pieces": full, **local}  # fmt: skip
    return CellResult([row], [spectrum])


def _basin(p: BasinParams, training: Training, seeds: tuple[int, ...]) -> CellResult:
    net, problem, segment, full = _construction(p)
    noise = [np.random.default_rng(s).standard_normal((net.width,) * 2) for s in seeds]
    starts = np.array([net.weight + p.epsilon * z for z in noise])
    result = CellResult()
    for seed, start, run in zip(seeds, starts, train_runs(problem, starts, training), strict=True):
        result.rows.append(
            {
                "construction": p.construction,
                "epsilon": p.epsilon,
                "seed": seed,
                "full_pieces": full,
                "pieces_start": count(problem.network(start), *segment).pieces,
                "pieces": count(problem.network(run.weight), *segment).pieces,
                "loss_start": float(run.losses[0]),
                "loss": float(run.loss),
                "zero_loss": bool(run.loss < training.loss_threshold),
                "stopped": run.stopped,
            }
        )
        result.curves.append(Curve("loss", seed, run.losses))
    return result
