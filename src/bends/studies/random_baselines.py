r"""Study ``random-baselines``: pieces of random networks at initialisation and after training.

The baselines the conjecture's numbers are read against, on the same data (default: the
Cantor function at 256 evenly spaced points of [0, 1]) and counted the same way (exactly, on
the data's range and on a wide window):

* **MLPs** with biases, input dimension 1 (the line is the input space), ``depths`` ×
  ``widths`` hidden layers, PyTorch's default initialisation or He-normal weights with
  PyTorch's biases (``he-bias``) or Hanin & Rolnick's biases N(0, 10⁻⁶) (``hanin-rolnick``;
  plain ``he`` has zero biases, which puts every breakpoint at x = 0, and near-zero biases
  crowd them there: :mod:`bends.nets.random`), trained by full-batch Adam (all seeds of a cell
  as one batch, :mod:`bends.training.mlp`); pieces against depth, width and total neurons.
* **Tied RNNs** :math:`f_k(W, x)` with standard normal W of each width w, on the line
  x(t) = (t, 1, 0, …) as in ``conjecture`` (seed s gives the same W for every k), trained by
  Adam (:func:`bends.training.flows.descend_tied`); pieces against k and w.

Example:
    >>> study = RandomBaselines()
    >>> config = study.Config(depths=(2,), widths=(4,), inits=("he",), rnn_widths=(3,),
    ...                       steps=(2,), seeds=2, epochs=5)
    >>> [sorted(study.run_cell(cell).rows[0])[:3] for cell in study.cells(config)][0]
    ['depth', 'family', 'init']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bends.nets.random import Init, random_mlp
from bends.runner.config import StudyConfig, require, setting
from bends.runner.counting import count
from bends.runner.figures import Figures
from bends.runner.grid import grid
from bends.runner.study import Cell, CellResult, Curve, StoredCell, Study
from bends.studies._params import typed
from bends.studies._random_baselines_report import report
from bends.training.flows import descend_tied
from bends.training.loop import descend
from bends.training.mlp import mlp_forward, mse, networks_of, trainable_layers
from bends.training.tied import TiedProblem, outputs, placement_points, target_values


@dataclass(frozen=True)
class RandomBaselinesConfig(StudyConfig):
    inits: tuple[Init, ...] = setting(
        ("torch", "he-bias", "hanin-rolnick"), "MLP initialisations (bends.nets.random)"
    )
    depths: tuple[int, ...] = setting((1, 2, 3, 4, 6, 8), "MLP hidden layers", at_least=1)
    widths: tuple[int, ...] = setting((4, 8, 16, 32), "MLP hidden widths", at_least=1)
    rnn_widths: tuple[int, ...] = setting((2, 4, 7, 12), "tied-RNN widths w", at_least=2)
    steps: tuple[int, ...] = setting(tuple(range(1, 17)), "tied-RNN steps k", at_least=1)
    seeds: int = setting(16, "networks per setting")
    seeds_per_cell: int = setting(16, "networks trained together in one cell")
    target: str = setting("cantor", "training data (as in conjecture)")
    points: int = setting(256, "data points, evenly spaced on t ∈ [0, 1]", at_least=2)
    epochs: int = setting(1000, "full-batch Adam steps", at_least=0)
    lr: float = setting(1e-3, "Adam learning rate", above=0)
    window_low: float = setting(-1.0, "wide window: lowest t")
    window_high: float = setting(2.0, "wide window: highest t")

    def validate(self) -> None:
        super().validate()
        require(self.window_low < self.window_high, "need window_low < window_high")


@dataclass(frozen=True)
class Fit:
    """What both families' cells share: the data, Adam's steps and rate, the wide window."""

    target: str
    points: int
    epochs: int
    lr: float
    window_low: float
    window_high: float


@dataclass(frozen=True)
class MlpParams(Fit):
    """An MLP cell's parameters: ``depth`` hidden layers of ``width``, initialised by ``init``."""

    family: str
    init: str
    depth: int
    width: int


@dataclass(frozen=True)
class RnnParams(Fit):
    """A tied-RNN cell's parameters: width w and steps k."""

    family: str
    width: int
    k: int


class RandomBaselines(Study):
    name = "random-baselines"
    summary = "pieces of random MLPs (depth, width) and tied RNNs (k, w), at init and trained"
    Config = RandomBaselinesConfig
    guide = "studies/random-baselines.md"
    version = 3  # 2: live_init, and E[pieces | live] in the report; 3: hanin-rolnick
    demo = {"inits": ["torch"], "depths": [1, 2, 4], "widths": [8], "rnn_widths": [4],  # noqa: RUF012
            "steps": [1, 2, 4, 8], "seeds": 4, "seeds_per_cell": 4, "epochs": 200}  # fmt: skip

    def cells(self, config: RandomBaselinesConfig) -> list[Cell]:
        shared = config.fixed("inits", "depths", "widths", "rnn_widths", "steps")
        groups = config.seed_groups()
        mlps = {"family": ["mlp"], "depth": sorted(set(config.depths), reverse=True),
                "width": config.widths, "init": config.inits}  # fmt: skip
        rnns = {"family": ["rnn"], "k": sorted(set(config.steps), reverse=True),
                "width": config.rnn_widths}  # fmt: skip
        order = ("family", "init", "depth", "width")
        return grid(self, mlps, groups, shared, order) + grid(
            self, rnns, groups, shared, order=("family", "width", "k")
        )

    def run_cell(self, cell: Cell) -> CellResult:
        if cell.params["family"] == "mlp":
            return _mlp_cell(typed(MlpParams, cell.params), cell.seeds)
        return _rnn_cell(typed(RnnParams, cell.params), cell.seeds)

    def report(
        self, config: RandomBaselinesConfig, results: list[StoredCell], figures: Figures
    ) -> str:
        return report(config, results, figures)


def _mlp_cell(p: MlpParams, seeds: tuple[int, ...]) -> CellResult:
    t = placement_points("uniform", p.points)
    y = target_values(p.target, t)
    nets = [random_mlp([1, *[p.width] * p.depth, 1], seed, p.init) for seed in seeds]
    layers = trainable_layers(nets)
    x = torch.from_numpy(t)[:, None]
    target = torch.from_numpy(y).expand(len(nets), -1)

    def losses() -> torch.Tensor:
        return mse(mlp_forward(layers, x)[..., 0], target)

    curve = descend([a for layer in layers for a in layer], losses, p.epochs, p.lr).curve
    result = CellResult()
    trained = networks_of(layers)
    for m, (seed, start, net) in enumerate(zip(seeds, nets, trained, strict=True)):
        row = {"family": p.family, "init": p.init, "depth": p.depth, "width": p.width,
               "neurons": p.depth * p.width, "seed": seed}  # fmt: skip
        for label, network in (("_init", start), ("", net)):
            row[f"pieces{label}"] = count(network, [0.0], [1.0]).pieces
            row[f"wide_pieces{label}"] = count(network, [p.window_low], [p.window_high]).pieces
        row["loss_init"], row["loss"] = float(curve[m, 0]), float(curve[m, -1])
        result.rows.append(row)
        if p.epochs:
            result.curves.append(Curve("loss", seed, curve[m, :: max(1, p.epochs // 100)]))
    return result


def _rnn_cell(p: RnnParams, seeds: tuple[int, ...]) -> CellResult:
    problem = TiedProblem.from_target(p.target, p.width, p.k, p.points)
    starts = np.array([np.random.default_rng(s).standard_normal((p.width, p.width)) for s in seeds])
    run = descend_tied(problem, starts, "adam", p.lr, p.epochs) if p.epochs else None
    wide = problem.segment(p.window_low, p.window_high)
    result = CellResult()
    for m, (seed, start) in enumerate(zip(seeds, starts, strict=True)):
        end = start if run is None else run.weight[m]
        first, last = problem.network(start), problem.network(end)
        result.rows.append(
            {
                "family": p.family,
                "width": p.width,
                "k": p.k,
                "neurons": p.width * p.k,
                "seed": seed,
                "pieces_init": count(first).pieces,
                "pieces": count(last).pieces,
                "wide_pieces_init": count(first, *wide).pieces,
                "wide_pieces": count(last, *wide).pieces,
                "loss_init": float(problem.losses(start)),
                "loss": float(problem.losses(end)),
                "live_init": bool(np.any(outputs(start, problem.inputs, p.k) != 0)),
            }
        )
        if run is not None:
            result.curves.append(Curve("loss", seed, run.losses[:, m]))
    return result
