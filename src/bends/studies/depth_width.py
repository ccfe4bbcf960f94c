r"""Study ``depth-width``: can a shallow ReLU net follow :math:`f^t` for f(x) = c|x| − 1?

The experiment of Chatziafratis, Nagarajan and Panageas (ICML 2020 slides): the target is the
t-fold composition of :math:`f(x) = c|x| - 1` on [−1, 1], whose graph oscillates about
:math:`c^t` times (for c = φ it has :math:`2F_{t+1}` monotone pieces and a period-3 orbit;
for c = 1.618 < φ it has none). A ReLU MLP of width u and depth l has at most
:math:`(2u)^l` pieces, so once :math:`(2u)^l \le c^t/8` it cannot follow the oscillations and
its L1 error stays above

.. math:: \int_{-1}^{1} |f^t - g| \;\ge\; \frac{(high - low)^2}{16}
          \Bigl(1 - \frac{2(2u)^l}{c^t}\Bigr)

(:func:`bends.analysis.dynamics.separation_bound`, Lipschitz constant L = c, levels low < high).

Each cell trains the ``seeds`` MLPs (width ``width``, ``depth`` hidden layers, initialised by
``init``: He-normal weights and PyTorch's uniform biases by default) of one (c, t, depth)
together with Adam on ``points`` uniform random points, ``epochs`` passes in minibatches of
``batch_size`` (one shuffle per epoch, shared by the models), the rate annealed by ``schedule``
(cosine by default). Errors are measured on ``test_points`` fresh uniform points:

* ``mse`` (training points) and ``test_mse``;
* ``l1``: :math:`\int_{-1}^1 |f^t - g|`, estimated as 2 × the mean absolute test error;
* ``class_error``: the fraction of test points on the wrong side of the level midpoint
  (f^t and the trained g both thresholded there);

and the trained network's exact pieces on [−1, 1] beside its capacity :math:`(2u)^l`.

**Capacity is not what stops the easy task.** One hidden layer of width u computes any
continuous piecewise-linear function of a scalar with at most u pieces (a ReLU per breakpoint
and one for the linear part), so if :math:`f^j` has at most u pieces, a depth-l net computes
:math:`f^{jl}` exactly; the report gives the least such depth for each task
(:func:`exact_depth`).

Example:
    >>> study = DepthWidth()
    >>> config = study.Config(slopes=(1.618,), tasks=(3,), depths=(1,), seeds=1,
    ...                       seeds_per_cell=1, epochs=2, points=64, test_points=64,
    ...                       batch_size=32)
    >>> row = study.run_cell(study.cells(config)[0]).rows[0]
    >>> row["capacity"], row["pieces"] <= row["capacity"], row["hypothesis_holds"]
    (40, True, False)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from bends.analysis.dynamics import exact_depth, exact_mlp, separation_bound
from bends.constructions.maps import abs_map
from bends.errors import OverBudget
from bends.nets import MLP
from bends.nets.random import random_mlp
from bends.runner.config import StudyConfig, require, setting
from bends.runner.counting import count
from bends.runner.figures import Figures
from bends.runner.grid import grid
from bends.runner.study import Cell, CellResult, Curve, SavedNetwork, StoredCell, Study
from bends.studies._depth_width_report import report
from bends.studies._params import typed
from bends.training.loop import Minibatches
from bends.training.mlp import fit_minibatches, mlp_forward, mse, networks_of, trainable_layers


@dataclass(frozen=True)
class DepthWidthConfig(StudyConfig):
    slopes: tuple[float, ...] = setting(
        (1.618,),
        "c in f(x) = c|x| − 1 (the slides' 1.618; φ = 1.618033988…)",
        above=1,
        at_most=2,
    )
    tasks: tuple[int, ...] = setting(
        (8, 40), "compositions t of f (easy and hard task)", at_least=1, at_most=200
    )
    width: int = setting(20, "hidden width u", at_least=1)
    depths: tuple[int, ...] = setting((1, 2, 3, 4, 5), "hidden layers l", at_least=1)
    seeds: int = setting(8, "networks per (c, t, depth)")
    seeds_per_cell: int = setting(4, "networks trained together in one cell")
    init: Literal["he-bias", "he", "torch", "exact"] = setting(
        "he-bias",
        "initialisation: he-bias, he (zero biases), torch, or exact: the network that computes "
        "f^t exactly (bends.analysis.dynamics.exact_mlp) plus noise; (t, depth) it cannot "
        "represent are not run",
    )
    exact_noise: float = setting(
        0.01,
        "init exact: Gaussian noise added to each layer, relative to its RMS entry",
        at_least=0,
    )
    epochs: int = setting(3000, "Adam epochs (passes over the training points)", at_least=1)
    batch_size: int = setting(1000, "minibatch size (≥ points: full batch)", at_least=1)
    lr: float = setting(1e-2, "Adam learning rate (the start of the schedule)", above=0)
    schedule: Literal["cosine", "constant"] = setting(
        "cosine", "learning-rate schedule: cosine (to 0) or constant"
    )
    points: int = setting(10_000, "uniform random training points on [−1, 1]", at_least=2)
    test_points: int = setting(
        10_000, "fresh uniform points the errors are measured on", at_least=2
    )
    data_seed: int = setting(0, "seed of the points and of the minibatch order")
    low: float = setting(
        -0.9, "lower oscillation level (bound, classification threshold)", at_least=-1
    )
    high: float = setting(0.5, "upper oscillation level", at_most=1)
    dtype: Literal["float64", "float32"] = setting("float64", "training precision")
    curve_every: int = setting(10, "store the loss every this many epochs", at_least=1)
    device: str = setting("cpu", "torch device (cpu, cuda)")

    def validate(self) -> None:
        super().validate()
        require(self.low < self.high, "need low < high")


@dataclass(frozen=True)
class Params:
    """A cell's parameters: the task (c, t), the net (width, depth) and its training."""

    c: float
    t: int
    depth: int
    width: int
    init: str
    epochs: int
    batch_size: int
    lr: float
    schedule: str
    points: int
    test_points: int
    data_seed: int
    low: float
    high: float
    dtype: str
    curve_every: int
    device: str
    exact_noise: float = 0.0  # only the cells of init exact carry it


class DepthWidth(Study):
    name = "depth-width"
    summary = "error vs depth on f^t, f = c|x| − 1: easy (t = 8) vs hard (t = 40) task"
    Config = DepthWidthConfig
    version = 2  # v2: He init, cosine-annealed lr 1e-2, 3000 epochs, 8 seeds
    guide = "studies/depth-width.md"
    demo = {"slopes": [1.618], "seeds": 2, "seeds_per_cell": 2, "epochs": 150,  # noqa: RUF012
            "points": 2000, "test_points": 2000, "batch_size": 500}  # fmt: skip

    def cells(self, config: DepthWidthConfig) -> list[Cell]:
        # deepest (slowest) first, so parallel workers finish together
        axes = {"depth": sorted(set(config.depths), reverse=True), "c": config.slopes,
                "t": config.tasks}  # fmt: skip
        shared = config.fixed("slopes", "tasks", "depths", "exact_noise")
        if config.init != "exact":  # the setting enters only the cells it changes
            return grid(self, axes, config.seed_groups(), shared, order=("c", "t", "depth"))
        noisy = {**shared, "exact_noise": config.exact_noise}
        cells = grid(self, axes, config.seed_groups(), noisy, order=("c", "t", "depth"))
        return [c for c in cells if _representable(c.params)]

    def run_cell(self, cell: Cell) -> CellResult:
        p = typed(Params, cell.params)
        dtype = getattr(torch, p.dtype)
        f = abs_map(p.c)
        train_x, test_x = _points(p.data_seed, p.points, p.test_points)

        def tensors(points: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
            x = torch.from_numpy(points)[:, None].to(dtype=dtype, device=p.device)
            y = torch.from_numpy(f.iterate(points, p.t)).to(dtype=dtype, device=p.device)
            return x, y.expand(len(cell.seeds), -1)

        x, y = tensors(train_x)
        nets = [_initial(p, s) for s in cell.seeds]
        layers = trainable_layers(nets, dtype, p.device)
        with torch.no_grad():
            tx, ty = tensors(test_x)
            l1_start = 2 * (mlp_forward(layers, tx)[..., 0] - ty).abs().mean(dim=-1).cpu().numpy()
        batches = Minibatches(p.data_seed, p.points, p.batch_size)
        curve = fit_minibatches(layers, x, y, batches, p.epochs, p.lr, p.schedule)
        with torch.no_grad():
            train_error = mse(mlp_forward(layers, x)[..., 0], y).cpu().numpy()
            g = mlp_forward(layers, tx)[..., 0]
            test_error = mse(g, ty).cpu().numpy()
            l1 = 2 * (g - ty).abs().mean(dim=-1).cpu().numpy()
            threshold = (p.low + p.high) / 2
            wrong = ((g >= threshold) != (ty >= threshold)).double().mean(dim=-1).cpu().numpy()
        bound = separation_bound(p.width, p.depth, p.t, p.low, p.high, p.c, p.c)
        result = CellResult()
        for m, (seed, net) in enumerate(zip(cell.seeds, networks_of(layers), strict=True)):
            try:
                counted = count(net, [-1.0], [1.0])
            except OverBudget:  # a near-exact f^t of large t: ~2F_{t+1} pieces, recorded as None
                counted = None
            result.rows.append(
                {
                    "c": p.c,
                    "t": p.t,
                    "depth": p.depth,
                    "seed": seed,
                    "mse": float(train_error[m]),
                    "test_mse": float(test_error[m]),
                    "l1": float(l1[m]),
                    "l1_start": float(l1_start[m]),
                    "class_error": float(wrong[m]),
                    "pieces": None if counted is None else counted.pieces,
                    "resolved": None if counted is None else counted.resolved,
                    "capacity": round(bound.capacity),
                    "oscillations_bound": bound.oscillations,
                    "hypothesis_holds": bound.hypothesis_holds,
                    "l1_bound": bound.bound,
                }
            )
            result.curves.append(Curve("loss", seed, curve[m, :: p.curve_every]))
            result.networks.append(SavedNetwork("trained", seed, net))
        return result

    def report(self, config: DepthWidthConfig, results: list[StoredCell], figures: Figures) -> str:
        _, test_x = _points(config.data_seed, config.points, config.test_points)
        return report(config, results, figures, test_x)


def _representable(params) -> bool:
    """A width-u net of this depth computes f^t exactly (init exact needs it)."""
    least = exact_depth(abs_map(params["c"]), params["t"], params["width"])
    return least is not None and least <= params["depth"]


def _initial(p: Params, seed: int):
    """The cell's starting network for ``seed``: random, or f^t exactly plus relative noise."""
    if p.init != "exact":
        return random_mlp([1, *[p.width] * p.depth, 1], seed, p.init)
    net = exact_mlp(abs_map(p.c), p.t, p.depth, p.width)
    rng = np.random.default_rng(seed)
    noisy = []
    for w, b in zip(net.weights, net.biases, strict=True):
        scale = p.exact_noise * np.sqrt(np.mean(np.concatenate([w.ravel(), b]) ** 2))
        noisy.append((w + scale * rng.standard_normal(w.shape),
                      b + scale * rng.standard_normal(b.shape)))  # fmt: skip
    return MLP.from_layers(noisy)


def _points(seed: int, points: int, test_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform random training and test points on [−1, 1] (independent streams of one seed)."""
    train_rng, test_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    return train_rng.uniform(-1, 1, points), test_rng.uniform(-1, 1, test_points)
