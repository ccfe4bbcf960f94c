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

**Basin test.** From :math:`W^* + \varepsilon Z` (Z with N(0, 1) entries, one Z per seed,
the same at every ε) for each ε, train by the ``conjecture`` study's trainer (the flow followed
to its end, ``limit``) and count pieces on the construction's segment. A run has *returned*
when it ends with :math:`L < ` ``return_loss`` (10⁻⁸) and exactly W*'s piece count; the same
test on the perturbed start tells a return from never having left, and the runs that end on
the step budget are counted, not dropped. Each run also records
:math:`\sup_t |f_W(t) - f_{W^*}(t)|` on the segment at its start and end (``distance_start``,
``distance``). The report estimates ε₅₀(k), the ε at which half the runs return, and the same
for L < ``return_loss`` alone, and fits how each falls with the steps k
(:mod:`~bends.studies._conjecture_local_report`).

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
from bends.runner.config import require, setting
from bends.runner.counting import count, quiet_trace
from bends.runner.figures import Figures
from bends.runner.grid import grid
from bends.runner.study import Cell, CellResult, Curve, StoredCell, Study
from bends.studies._conjecture_local_report import report
from bends.studies._params import typed
from bends.studies._tied import Training, TrainingSettings, train_runs
from bends.training.landscape import analyse_minimum
from bends.training.tied import TiedProblem, tied_construction

#: The basin test's ε, two a decade: with 8 seeds the share of runs at L < 10⁻⁸ fell
#: through ½ near ε ≈ 0.5 at k = 2 and near 10⁻⁴ at k = 8 (docs/studies/conjecture-local.md).
EPSILONS = (3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
#: Data points: 256 made a cell ~1.6× dearer (the conjecture study uses 64 too).
POINTS = 64


@dataclass(frozen=True)
class ConjectureLocalConfig(TrainingSettings):
    trainer: Literal["flow", "limit", "gd", "adam"] = setting(
        "limit", "the flow followed to its end (limit), gradient flow (SciPy RK), GD or Adam"
    )
    # 10 000, not the shared 30 000: a quarter to three quarters of the runs at and above ε₅₀
    # end on the budget, and at 30 000 steps those cells cost ~2.4× (35–45 min on 2 workers)
    max_steps: int = setting(10_000, "limit: steps per run at most", at_least=1)
    constructions: tuple[str, ...] = setting(
        (*(f"staircase-{j}" for j in range(1, 8)), "candidate-3"),
        "tied RNNs W* as NAME-N (first parameter; staircase-j and candidate-N have k = j + 1)",
    )
    points: int = setting(POINTS, "data points on the construction's segment", at_least=1)
    placement: Literal["uniform", "random", "avoid"] = setting("random", "where the t_i lie")
    data_seed: int = setting(0, "seed of random placements")
    zero_tol: float = setting(
        1e-9, "eigenvalues with |λ| ≤ zero_tol · max |λ| count as zero", above=0, below=1
    )
    epsilons: tuple[float, ...] = setting(EPSILONS, "basin test: perturbation sizes ε", above=0)
    return_loss: float = setting(
        1e-8, "basin test: returned = loss below this and W*'s exact piece count", above=0
    )
    seeds: int = setting(32, "basin test: perturbations per ε (seed s: the same Z at every ε)")
    seeds_per_cell: int = setting(16, "basin test: runs per cell")

    def validate(self) -> None:
        super().validate()
        for spec in self.constructions:
            tied_construction(spec)
        require(self.trainer not in ("flow", "limit") or self.loss_threshold <= self.return_loss,
                "loss_threshold must be at most return_loss: the flow stops there")  # fmt: skip


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
    return_loss: float


class ConjectureLocal(Study):
    name = "conjecture-local"
    summary = "Hessian spectrum and basin of attraction at known tied-RNN solutions W*"
    Config = ConjectureLocalConfig
    guide = "studies/conjecture-local.md"
    # 2: pieces counted on the construction's segment t ∈ [0, 1]; 3: ε₅₀(k) for k = 2…8
    # (staircase-1…7, candidate-3, ε from 3e-5, 32 seeds, 64 points), the `limit` flow at
    # 10 000 steps, "returned" = L < return_loss and exactly W*'s pieces (was: at least W*'s
    # pieces), zero_loss = L < return_loss (was: below loss_threshold), ‖f − f*‖∞ recorded
    version = 3
    demo = {"constructions": ["staircase-1", "staircase-3"], "epsilons": [0.01, 0.1, 1.0],  # noqa: RUF012
            "seeds": 4, "seeds_per_cell": 4, "points": 64, "max_steps": 300}  # fmt: skip

    def cells(self, config: ConjectureLocalConfig) -> list[Cell]:
        shared = config.fixed("constructions", "epsilons")
        hessians = {"part": ["hessian"], "construction": config.constructions}
        # the longest runs first (large k, large ε), so that the workers finish together
        longest = sorted(config.constructions, key=lambda c: -tied_construction(c).steps)
        basins = {"part": ["basin"], "construction": longest,
                  "epsilon": sorted(config.epsilons, reverse=True)}  # fmt: skip
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
    star = problem.network(net.weight)
    star_knots = quiet_trace(star, *segment).breakpoints
    result = CellResult()
    for seed, start, run in zip(seeds, starts, train_runs(problem, starts, training), strict=True):
        first, last = problem.network(start), problem.network(run.weight)
        traces = [quiet_trace(f, *segment) for f in (first, last)]
        pieces_start, pieces = (tr.pieces for tr in traces)
        gaps = [_distance(f, star, [tr.breakpoints, star_knots], segment)
                for f, tr in zip((first, last), traces, strict=True)]  # fmt: skip
        loss_start, loss = float(run.losses[0]), float(run.loss)
        result.rows.append(
            {
                "construction": p.construction,
                "k": problem.steps,
                "epsilon": p.epsilon,
                "seed": seed,
                "full_pieces": full,
                "pieces_start": pieces_start,
                "pieces": pieces,
                "loss_start": loss_start,
                "loss": loss,
                "distance_start": gaps[0],
                "distance": gaps[1],
                "zero_loss": bool(loss < p.return_loss),
                "start_returned": bool(loss_start < p.return_loss and pieces_start == full),
                "returned": bool(loss < p.return_loss and pieces == full),
                "stopped": run.stopped,
            }
        )
        result.curves.append(Curve("loss", seed, run.losses))
    return result


def _distance(net: TiedRNN, star: TiedRNN, knots: list[np.ndarray], segment) -> float:
    """sup over the segment t ∈ [0, 1] of |f_W − f_W*|, given the breakpoints (in t) of both:
    a difference of two piecewise-linear functions peaks at an end or at a breakpoint."""
    t = np.concatenate([[0.0, 1.0], *knots])[:, None]
    points = segment[0] + t * (segment[1] - segment[0])
    with np.errstate(over="ignore", invalid="ignore"):
        gap = np.abs(net(points) - star(points))
    return float(np.max(gap)) if np.all(np.isfinite(gap)) else float("inf")
