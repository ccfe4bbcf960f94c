r"""Study ``memory-lorenz``: does a tanh RNN's training plateau on a Lorenz 96 task?

The paper's Figure 1(c) trains a nonlinear RNN with Adam on a Lorenz 96 system and sees
plateaus. Its input/output mapping is not recoverable from the text, so ours is documented in
:mod:`bends.training.lorenz`: an input signal forces coordinate 0 of a K-variable Lorenz 96 system
(F = 8), every sequence starts from the same point on the attractor, and the target is one
coordinate x_j (standardised) at every step. Coordinates farther from 0 respond to the input
later, through the hidden ones: ``outputs`` = (0, 3) compares a short-memory and a
long-memory version of the task.

Each seed trains a ``torch.nn.RNN`` (tanh, ``hidden`` units, float64) with a linear readout by
full-batch Adam (gradient norm clipped to ``clip``) on ``sequences`` training sequences and
reports the test MSE on fresh ones.
The longest plateau of each loss curve (:func:`bends.training.memory.longest_plateau`: the best
loss so far improves by < 1 % per ``plateau_window`` epochs for at least that long, then drops by at
least 10 %) is reported.

Example:
    >>> study = MemoryLorenz()
    >>> config = study.Config(outputs=(0,), seeds=1, epochs=5, sequences=4, length=20)
    >>> row = study.run_cell(study.cells(config)[0]).rows[0]
    >>> row["output"], row["loss_final"] > 0
    (0, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bends.runner.config import StudyConfig, require, setting
from bends.runner.figures import Figures
from bends.runner.grid import grid
from bends.runner.study import Cell, CellResult, Curve, StoredCell, Study
from bends.studies._memory_lorenz_report import report
from bends.studies._params import typed
from bends.training.loop import descend
from bends.training.lorenz import lorenz96_data
from bends.training.memory import longest_plateau


@dataclass(frozen=True)
class MemoryLorenzConfig(StudyConfig):
    outputs: tuple[int, ...] = setting(
        (0, 3), "coordinates x_j to predict (input enters x_0)", at_least=0
    )
    variables: int = setting(6, "Lorenz 96 variables K", at_least=4)
    forcing: float = setting(8.0, "F")
    strength: float = setting(2.0, "σ: how strongly the input drives x_0")
    step: float = setting(0.05, "time between samples Δ", above=0)
    sequences: int = setting(64, "training sequences (as many fresh ones for testing)", at_least=1)
    length: int = setting(100, "steps per sequence", at_least=2)
    hidden: int = setting(32, "tanh RNN hidden units", at_least=1)
    epochs: int = setting(3000, "full-batch Adam epochs", at_least=1)
    lr: float = setting(1e-3, "Adam learning rate", above=0)
    clip: float = setting(1.0, "clip the gradient norm to this (0: no clipping)", at_least=0)
    plateau_window: int = setting(200, "plateau: < 1 % decrease over this many epochs")
    data_seed: int = setting(0, "seed of the input signals")
    seeds: int = setting(4, "RNNs per output coordinate")
    seeds_per_cell: int = setting(1, "RNNs per cell")

    def validate(self) -> None:
        super().validate()
        require(max(self.outputs) < self.variables, "outputs must be coordinates 0..variables − 1")


@dataclass(frozen=True)
class Params:
    """A cell's parameters: the coordinate predicted, the Lorenz 96 data and the training."""

    output: int
    variables: int
    forcing: float
    strength: float
    step: float
    sequences: int
    length: int
    hidden: int
    epochs: int
    lr: float
    clip: float
    plateau_window: int
    data_seed: int


class MemoryLorenz(Study):
    name = "memory-lorenz"
    summary = "tanh RNN on an input-driven Lorenz 96 system: plateaus in training?"
    Config = MemoryLorenzConfig
    guide = "studies/memory-lorenz.md"
    demo = {"seeds": 1, "epochs": 300, "sequences": 16, "length": 60}  # noqa: RUF012

    def cells(self, config: MemoryLorenzConfig) -> list[Cell]:
        shared = config.fixed("outputs")
        return grid(self, {"output": config.outputs}, config.seed_groups(), shared)

    def run_cell(self, cell: Cell) -> CellResult:
        p = typed(Params, cell.params)
        train_x, train_y = _data(p, p.data_seed)
        test_x, test_y = _data(p, p.data_seed + 1)
        result = CellResult()
        for seed in cell.seeds:
            torch.manual_seed(seed)
            rnn = torch.nn.RNN(1, p.hidden, batch_first=True, dtype=torch.float64)
            readout = torch.nn.Linear(p.hidden, 1, dtype=torch.float64)

            def predict(x: torch.Tensor) -> torch.Tensor:
                return readout(rnn(x)[0])[..., 0]  # noqa: B023 - used within this iteration

            parameters = [*rnn.parameters(), *readout.parameters()]

            def losses() -> torch.Tensor:
                return torch.mean((predict(train_x) - train_y) ** 2)

            curve = descend(parameters, losses, p.epochs, p.lr, clip=p.clip).curve
            with torch.no_grad():
                test = torch.mean((predict(test_x) - test_y) ** 2).item()
            final = float(curve[-1])
            plateau = longest_plateau(curve, p.plateau_window)
            result.rows.append(
                {
                    "output": p.output,
                    "seed": seed,
                    "loss_start": float(curve[0]),
                    "loss_final": final,
                    "test_mse": test,
                    "plateau_epochs": 0 if plateau is None else plateau.length,
                    "plateau_start": None if plateau is None else plateau.start,
                    "plateau_level": None if plateau is None else plateau.level,
                }
            )
            result.curves.append(Curve("loss", seed, curve))
        return result

    def report(
        self, config: MemoryLorenzConfig, results: list[StoredCell], figures: Figures
    ) -> str:
        return report(config, results, figures)


def _data(p: Params, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    u, x = lorenz96_data(p.sequences, p.length, seed, p.variables, p.forcing, p.strength, p.step)
    y = x[:, :, p.output]
    y = (y - y.mean()) / y.std()
    return torch.from_numpy(u)[..., None], torch.from_numpy(y)
