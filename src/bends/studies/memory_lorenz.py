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

import numpy as np
import torch

from bends.runner.config import StudyConfig, require, setting
from bends.runner.report import Figures, markdown_table
from bends.runner.study import Cell, CellResult, Curve, StoredCell, Study
from bends.training.lorenz import lorenz96_data
from bends.training.memory import longest_plateau


@dataclass(frozen=True)
class MemoryLorenzConfig(StudyConfig):
    outputs: tuple[int, ...] = setting((0, 3), "coordinates x_j to predict (input enters x_0)")
    variables: int = setting(6, "Lorenz 96 variables K")
    forcing: float = setting(8.0, "F")
    strength: float = setting(2.0, "σ: how strongly the input drives x_0")
    step: float = setting(0.05, "time between samples Δ")
    sequences: int = setting(64, "training sequences (as many fresh ones for testing)")
    length: int = setting(100, "steps per sequence")
    hidden: int = setting(32, "tanh RNN hidden units")
    epochs: int = setting(3000, "full-batch Adam epochs")
    lr: float = setting(1e-3, "Adam learning rate")
    clip: float = setting(1.0, "clip the gradient norm to this (0: no clipping)")
    plateau_window: int = setting(200, "plateau: < 1 % decrease over this many epochs")
    data_seed: int = setting(0, "seed of the input signals")
    seeds: int = setting(4, "RNNs per output coordinate")
    seeds_per_cell: int = setting(1, "RNNs per cell")

    def validate(self) -> None:
        super().validate()
        require(self.variables >= 4, "Lorenz 96 needs at least 4 variables")
        require(all(0 <= j < self.variables for j in self.outputs), "outputs must be coordinates")
        require(self.step > 0 and self.sequences >= 1 and self.length >= 2, "bad data sizes")
        require(self.hidden >= 1 and self.epochs >= 1 and self.lr > 0, "bad model settings")


class MemoryLorenz(Study):
    name = "memory-lorenz"
    summary = "tanh RNN on an input-driven Lorenz 96 system: plateaus in training?"
    Config = MemoryLorenzConfig
    guide = "studies/memory-lorenz.md"
    demo = {"seeds": 1, "epochs": 300, "sequences": 16, "length": 60}  # noqa: RUF012

    def cells(self, config: MemoryLorenzConfig) -> list[Cell]:
        shared = config.fixed("outputs")
        return [
            self.cell({"output": j, **shared}, group)
            for j in dict.fromkeys(config.outputs)
            for group in config.seed_groups()
        ]

    def run_cell(self, cell: Cell) -> CellResult:
        p = cell.params
        train_x, train_y = _data(p, p["data_seed"])
        test_x, test_y = _data(p, p["data_seed"] + 1)
        result = CellResult()
        for seed in cell.seeds:
            torch.manual_seed(seed)
            rnn = torch.nn.RNN(1, p["hidden"], batch_first=True, dtype=torch.float64)
            readout = torch.nn.Linear(p["hidden"], 1, dtype=torch.float64)

            def predict(x: torch.Tensor) -> torch.Tensor:
                return readout(rnn(x)[0])[..., 0]  # noqa: B023 - used within this iteration

            optimiser = torch.optim.Adam([*rnn.parameters(), *readout.parameters()], lr=p["lr"])
            curve = []
            for _ in range(p["epochs"]):
                optimiser.zero_grad(set_to_none=True)
                loss = torch.mean((predict(train_x) - train_y) ** 2)
                loss.backward()
                if p["clip"] > 0:  # the usual guard against exploding RNN gradients
                    torch.nn.utils.clip_grad_norm_(optimiser.param_groups[0]["params"], p["clip"])
                optimiser.step()
                curve.append(loss.item())
            with torch.no_grad():
                final = torch.mean((predict(train_x) - train_y) ** 2).item()
                test = torch.mean((predict(test_x) - test_y) ** 2).item()
            curve = np.array([*curve, final])
            plateau = longest_plateau(curve, p["plateau_window"])
            result.rows.append(
                {
                    "output": p["output"],
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
        rows = [r for c in results for r in c.rows]
        body = [
            [
                r["output"],
                r["seed"],
                r["loss_start"],
                r["loss_final"],
                r["test_mse"],
                r["plateau_epochs"],
                "—" if r["plateau_level"] is None else r["plateau_level"],
            ]
            for r in sorted(rows, key=lambda r: (r["output"], r["seed"]))
        ]
        table = markdown_table(
            [
                "output x_j",
                "seed",
                "MSE at start",
                "final train MSE",
                "test MSE",
                "longest plateau (epochs)",
                "plateau level",
            ],
            body,
        )
        figure = figures.add(
            _curves_figure(results),
            "loss_curves",
            "Training MSE of the tanh RNNs (targets standardised: 1 = predicting the mean), "
            "one line per seed, colour = predicted coordinate",
        )
        return "\n\n".join([table, figure, _findings(config, rows)])


def _data(p: dict, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    u, x = lorenz96_data(
        p["sequences"], p["length"], seed, p["variables"], p["forcing"], p["strength"], p["step"]
    )
    y = x[:, :, p["output"]]
    y = (y - y.mean()) / y.std()
    return torch.from_numpy(u)[..., None], torch.from_numpy(y)


def _curves_figure(results: list[StoredCell]):
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(6, 3.8))
    outputs = sorted({c.params["output"] for c in results})
    colours = dict(zip(outputs, plt.cm.tab10(np.arange(len(outputs))), strict=True))
    for cell in results:
        for n, curve in enumerate(cell.curves):
            ax.plot(
                curve.values,
                color=colours[cell.params["output"]],
                lw=0.8,
                label=f"x_{cell.params['output']}"
                if n == 0
                and cell.seeds[0]
                == min(c.seeds[0] for c in results if c.params["output"] == cell.params["output"])
                else None,
            )
    ax.set(yscale="log", xlabel="Adam epoch", ylabel="training MSE")
    ax.legend(fontsize=8)
    return figure


def _findings(config, rows: list[dict]) -> str:
    lines = ["**What these runs show** (nothing beyond them):", ""]
    for j in sorted({r["output"] for r in rows}):
        mine = [r for r in rows if r["output"] == j]
        with_plateau = [r for r in mine if r["plateau_epochs"] > 0]
        lengths = ", ".join(str(r["plateau_epochs"]) for r in mine)
        lines.append(
            f"- x_{j}: {len(with_plateau)} of {len(mine)} runs have a plateau (the best loss so "
            f"far improves by < 1 % per {config.plateau_window} epochs for at least as long, "
            "then drops by ≥ 10 %); longest plateau "
            f"per run: {lengths} epochs; median test MSE "
            f"{np.median([r['test_mse'] for r in mine]):.3g} (1 = the mean)."
        )
    return "\n".join(lines)
