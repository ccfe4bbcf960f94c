"""Two experiments of ``memory-plateau`` at a fixed step (the flow parts are in
``_memory_plateau_flow``): a linear RNN on the white-noise loss of the delayed-bump target
(``plateau``) and a tanh RNN with unrestricted W on sampled paths (``figure four``); and when a
loss curve enters and leaves the plateau band, which both record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bends.runner.study import CellResult, Curve
from bends.training.memory import (
    Kernel,
    bump_energy,
    hitting_index,
    init_parameters,
    init_path_rnn,
    path_rnn_outputs,
    plateau_kernel,
    quadrature,
    sampled_plateau_level,
    target_outputs,
    train,
    white_noise,
    white_noise_loss,
)


@dataclass(frozen=True)
class WhiteNoiseParams:
    """A cell of the ``plateau`` part: a linear RNN trained on the white-noise loss."""

    part: str
    trainer: str
    model: str
    width: int
    gd_lr: float
    adam_lr: float
    steps: int
    record_every: int
    band: float
    plateau_factor: float
    learned: float
    init_scale: float
    memory: float | None = None


@dataclass(frozen=True)
class FourParams:
    """A cell of the ``figure four`` part: a tanh RNN trained by Adam on sampled paths."""

    part: str
    memory: float
    trainer: str
    four_steps: int
    paths: int
    path_step: float
    path_length: int
    band: float
    learned: float
    plateau_factor: float
    adam_lr: float
    width: int
    init_scale: float
    record_every: int


def trainer_steps(config: Any, trainer: str) -> int:
    """The steps a trainer runs: ``steps`` for GD, ``adam_steps`` for Adam."""
    return config.steps if trainer == "gd" else config.adam_steps


def band_crossings(curve: np.ndarray, energy: float, steps: int, record_every: int,
                   band: float, learned: float) -> dict[str, Any]:  # fmt: skip
    """When a run of ``steps`` steps (its loss recorded every ``record_every``) enters and
    leaves the plateau band (1 ± ``band``) × ``energy`` and learns the bump (J ≤ ``learned``
    × ``energy``): steps, None if never; and its plateau ratio (τ − enter)/enter (the steps it
    ran if it never left)."""

    def step(level: float) -> int | None:
        index = hitting_index(curve, level * energy)
        return None if index is None else index * record_every

    enter, leave = step(1 + band), step(1 - band)
    ratio = None
    if enter is not None and enter > 0:
        ratio = ((steps if leave is None else leave) - enter) / enter
    return {"enter_step": enter, "hit_step": leave, "learn_step": step(learned),
            "plateau_ratio": ratio}  # fmt: skip


def plateau(p: WhiteNoiseParams, seeds: tuple[int, ...]) -> CellResult:
    """The delayed-bump target of memory 1/ω: the loss curves, when each run enters and
    leaves the band around the bump's energy, and the leave step in GD's flow time."""
    time_per_step = p.gd_lr if p.trainer == "gd" else 1  # GD's flow time; Adam counts steps
    result = _white_noise_run(p, seeds, plateau_kernel(1.0 / p.memory))
    for row, curve in zip(result.rows, result.curves, strict=True):
        row.update(band_crossings(curve.values, bump_energy(), p.steps, p.record_every, p.band,
                                  p.learned))  # fmt: skip
        row["hit_time"] = None if row["hit_step"] is None else row["hit_step"] * time_per_step
    return result


def _white_noise_run(p: WhiteNoiseParams, seeds: tuple[int, ...], kernel: Kernel) -> CellResult:
    """All ``seeds`` as one batch, trained on the white-noise loss of ``kernel``."""
    lr = p.gd_lr if p.trainer == "gd" else p.adam_lr
    parameters = init_parameters(p.model, p.width, seeds, p.init_scale)
    nodes = quadrature(kernel.horizon)
    losses = train(parameters, lambda: white_noise_loss(parameters, kernel, nodes),
                   p.trainer, lr, p.steps, p.record_every)  # fmt: skip
    result = CellResult()
    for seed, curve in zip(seeds, losses, strict=True):
        result.rows.append({"part": p.part, "target": kernel.name, "memory": p.memory,
                            "trainer": p.trainer, "seed": seed, "loss_start": float(curve[0]),
                            "loss_final": float(curve[-1])})  # fmt: skip
        result.curves.append(Curve("loss", seed, curve))
    return result


def figure_four(p: FourParams, seeds: tuple[int, ...]) -> CellResult:
    """Adam on the sampled-path MSE of a tanh RNN with unrestricted W (the paper's Figure 4:
    no white-noise simplification, no diagonal or stable W, a nonlinearity): the loss curve
    relative to the sampled plateau level, and when it enters and leaves the band."""
    kernel = plateau_kernel(1.0 / p.memory)
    x = white_noise(p.paths, p.path_length, p.path_step, seed=0)
    inputs = torch.from_numpy(x)
    targets = torch.from_numpy(target_outputs(kernel, x, p.path_step))
    parameters = init_path_rnn(p.width, seeds, p.init_scale)

    def losses() -> torch.Tensor:
        outputs = path_rnn_outputs(parameters, inputs, p.path_step, "tanh")
        return ((outputs - targets[None]) ** 2).mean(dim=(1, 2))

    curve = train(parameters, losses, "adam", p.adam_lr, p.four_steps, p.record_every)
    level = sampled_plateau_level(kernel, p.path_length, p.path_step)
    result = CellResult()
    for seed, values in zip(seeds, curve, strict=True):
        row = {"part": "figure four", "target": kernel.name, "memory": p.memory,
               "trainer": "adam", "seed": seed, "loss_start": float(values[0]),
               "loss_final": float(values[-1]), "plateau_level": level}  # fmt: skip
        row.update(band_crossings(values, level, p.four_steps, p.record_every, p.band,
                                  p.learned))  # fmt: skip
        result.rows.append(row)
        result.curves.append(Curve("loss", seed, values))
    return result
