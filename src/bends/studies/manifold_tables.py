r"""Study ``manifold-tables``: Tables 1 and 2 of Milkert, Hyde & Laine, beside the paper's.

Every method trains 4-wide networks with ``depth`` (5) hidden layers by full-batch Adam on
``points`` (2^9) evenly spaced points of [0, 1], ``epochs`` per stage, float64:

=============  =========================================================  ==============
method         start                                                       stages trained
=============  =========================================================  ==============
default        PyTorch's default nn.Linear initialisation                  raw weights
raai           RAI (Lu et al. 2019; see :func:`bends.nets.random.rai_mlp`)  raw weights
stage1         peaks from the seed, scales by the manifold rule            1
stage3         same start, relaxed to raw weights                          3
free-scale     peaks from the seed, scales uniform on (0, 1)               3
free-scale2+3  the same start as free-scale                                2, 3
stage2+3       same start as stage1, relaxed to free scales                2, 3
stage1+3       same start as stage1                                        1, 3
all            same start as stage1                                        1, 2, 3
=============  =========================================================  ==============

Peaks are drawn uniformly on (``peak_low``, ``peak_high``) from the model's seed, so every
manifold method of a seed starts from the same peaks. Waves are subtracted from y = x when
the target lies below the line on average (x³, x¹¹) and added otherwise (sin, tanh). A model
is *collapsed* when its output is constant on [0, 1] (all of its ReLUs dead or frozen).

Example:
    >>> study = ManifoldTables()
    >>> config = study.Config(targets=("x**3",), methods=("stage1",), seeds=1, epochs=20)
    >>> row = study.run_cell(study.cells(config)[0]).rows[0]
    >>> row["pieces"], row["collapsed"]
    (32, False)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from bends.constructions.compositional import bend_depth
from bends.runner.config import StudyConfig, require, setting
from bends.runner.counting import count
from bends.runner.figures import Figures
from bends.runner.grid import grid
from bends.runner.study import Cell, CellResult, Curve, SavedNetwork, StoredCell, Study
from bends.studies._manifold_tables_report import LABELS, report
from bends.studies._params import typed
from bends.training.manifold import (
    STAGES,
    DifferenceModel,
    PeakMap,
    StagedModel,
    starting_models,
    train_stages,
)
from bends.training.mlp import mse
from bends.training.targets import target

Method = Literal[
    "default",
    "raai",
    "stage1",
    "stage3",
    "free-scale",
    "free-scale2+3",
    "stage2+3",
    "stage1+3",
    "all",
]
PAPER_TARGETS = ("x**3", "x**11", "sin(pi*x/2)", "tanh(3*x)")


@dataclass(frozen=True)
class ManifoldTablesConfig(StudyConfig):
    targets: tuple[str, ...] = setting(PAPER_TARGETS, "targets, NumPy expressions in x")
    methods: tuple[Method, ...] = setting(tuple(STAGES), "methods (rows of the tables)")
    # 120: the sampling distribution of a 30-model statistic (the paper's) is drawn from ours
    seeds: int = setting(120, "models per method and target")
    seeds_per_cell: int = setting(30, "models trained together in one cell")
    epochs: int = setting(1000, "Adam epochs per stage", at_least=1)
    lr: float = setting(1e-3, "Adam learning rate", above=0)
    points: int = setting(512, "evenly spaced training points on [0, 1]", at_least=2)
    sparse: int = setting(
        0, "n > 0: train on n random points, test on n others (ICML table)", at_least=0
    )
    data_seed: int = setting(0, "seed of the sparse training and test points")
    difference: bool = setting(False, "fit F_a − F_b of two compositional nets (8 wide)")
    depth: int = setting(5, "hidden layers (4 neurons each)", at_least=1)
    peak_map: Literal["sigmoid", "clamp"] = setting("clamp", "how peaks stay in (0, 1)")
    clamp_margin: float = setting(
        0.01, "clamped peaks stay in [margin, 1 − margin]", above=0, below=0.5
    )
    peak_low: float = setting(0.1, "initial peaks are uniform on (peak_low, peak_high)", above=0)
    peak_high: float = setting(0.9, "see peak_low", below=1)
    curve_every: int = setting(10, "store the loss every this many epochs", at_least=1)
    device: str = setting("cpu", "torch device (cpu, cuda)")

    def validate(self) -> None:
        super().validate()
        for expression in self.targets:
            target(expression)(np.linspace(0.0, 1.0, 5))  # rejects unsafe or non-finite ones
        require(self.sparse == 0 or self.sparse >= 2, "sparse must be 0 or at least 2")
        require(self.peak_low < self.peak_high, "need peak_low < peak_high")


@dataclass(frozen=True)
class Params:
    """A cell's parameters: the target, the method, the data and the training."""

    target: str
    method: str
    epochs: int
    lr: float
    points: int
    sparse: int
    data_seed: int
    difference: bool
    depth: int
    peak_map: str
    clamp_margin: float
    peak_low: float
    peak_high: float
    curve_every: int
    device: str


class ManifoldTables(Study):
    name = "manifold-tables"
    summary = "manifold training vs baselines: the paper's Tables 1 and 2 (min/mean MSE)"
    Config = ManifoldTablesConfig
    guide = "studies/manifold-tables.md"
    demo = {"targets": ["x**3"], "seeds": 4, "seeds_per_cell": 4, "epochs": 300}  # noqa: RUF012

    def cells(self, config: ManifoldTablesConfig) -> list[Cell]:
        # Longest cells first (most stages), so parallel workers finish together.
        methods = sorted(dict.fromkeys(config.methods), key=lambda m: -len(STAGES[m]))
        axes = {"method": methods, "target": config.targets}
        shared = config.fixed("targets", "methods")
        return grid(self, axes, config.seed_groups(), shared, order=("target", "method"))

    def run_cell(self, cell: Cell) -> CellResult:
        p = typed(Params, cell.params)
        dtype, device = torch.float64, p.device
        inputs, tests = _data(p)
        f = target(p.target)
        subtract = bool(np.mean(f(inputs) - inputs) < 0)
        models = len(cell.seeds)

        def tensors(points: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
            x = torch.from_numpy(points)[:, None].to(device)
            return x, torch.from_numpy(f(points)).to(device).expand(models, -1)

        x, y = tensors(inputs)
        start = starting_models(
            p.method, cell.seeds, p.depth, subtract, p.difference,
            (p.peak_low, p.peak_high), PeakMap(p.peak_map, p.clamp_margin),
            dtype, device,
        )  # fmt: skip
        counted = {}

        def after(stage: int, model: StagedModel | DifferenceModel) -> None:
            counted[stage] = [count(net, [0.0], [1.0]) for net in model.networks()]

        model, curve = train_stages(start, STAGES[p.method], x, y, p.epochs, p.lr, after)
        with torch.no_grad():
            errors = mse(model.forward(x)[..., 0], y).cpu().numpy()
            test_errors = None
            if tests is not None:
                test_errors = mse(model.forward(tensors(tests)[0])[..., 0], tensors(tests)[1])
            dense = model.forward(torch.linspace(0, 1, 513, dtype=dtype, device=device)[:, None])
            spread = (dense.amax(dim=(1, 2)) - dense.amin(dim=(1, 2))).cpu().numpy()
        result, trained = CellResult(), model.networks()
        for m, seed in enumerate(cell.seeds):
            row = {
                "target": p.target,
                "method": p.method,
                "seed": seed,
                "mse": float(errors[m]),
                "test_mse": None if test_errors is None else float(test_errors[m]),
                "collapsed": bool(spread[m] <= 1e-12),
            }
            for stage, models in counted.items():
                row[f"pieces_stage{stage}"] = models[m].pieces
            final = counted[STAGES[p.method][-1]][m]
            row["pieces"] = final.pieces
            row["resolved"] = all(models[m].resolved for models in counted.values())
            row["bend_depth"] = bend_depth(final.switches)
            row |= {f"switches_layer{k + 1}": v for k, v in enumerate(final.switches)}
            result.rows.append(row)
            result.curves.append(Curve("loss", seed, curve[m, :: p.curve_every]))
            result.networks.append(SavedNetwork("trained", seed, trained[m]))
        return result

    def report(
        self, config: ManifoldTablesConfig, results: list[StoredCell], figures: Figures
    ) -> str:
        return report(config, results, figures)


def _data(p: Params) -> tuple[np.ndarray, np.ndarray | None]:
    """Training points, and test points when the data are sparse (shared by all models)."""
    if not p.sparse:
        return np.linspace(0.0, 1.0, p.points), None
    drawn = np.random.default_rng(p.data_seed).uniform(0.0, 1.0, 2 * p.sparse)
    return np.sort(drawn[: p.sparse]), np.sort(drawn[p.sparse :])


__all__ = ["LABELS", "PAPER_TARGETS", "ManifoldTables", "ManifoldTablesConfig"]
