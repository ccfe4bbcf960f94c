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
from bends.training.memory_flow import (
    gradient_flow,
    loss_and_gradient,
    numpy_parameters,
    path_gram,
    sampled_objective,
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
        return first_step(curve, level * energy, record_every)

    enter, leave = step(1 + band), step(1 - band)
    ratio = None
    if enter is not None and enter > 0:
        ratio = ((steps if leave is None else leave) - enter) / enter
    return {"enter_step": enter, "hit_step": leave, "learn_step": step(learned),
            "plateau_ratio": ratio}  # fmt: skip


def first_step(curve: np.ndarray, level: float, record_every: int) -> int | None:
    """The first step at which a curve recorded every ``record_every`` steps is ≤ level."""
    index = hitting_index(curve, level)
    return None if index is None else index * record_every


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


@dataclass(frozen=True)
class CaseParams:
    """A cell of the ``four cases`` part: the theorem's diagonal model with one of Figure 4's
    changes — ``sampled paths`` (the flow on the MSE over sampled input paths instead of the
    white-noise loss) or ``adam`` (Adam on the closed-form loss instead of the flow)."""

    part: str
    case: str
    memory: float
    width: int
    init_scale: float
    flow_time: float
    flow_tolerance: float
    band: float
    plateau_factor: float
    adam_lr: float
    adam_steps: int
    record_every: int
    paths: int
    path_step: float
    path_length: int


def four_case(p: CaseParams, seeds: tuple[int, ...]) -> CellResult:
    """One of Figure 4's changes on its own, on the real diagonal model: when each run enters
    and leaves the band around its plateau level (flow time, or Adam steps)."""
    kernel = plateau_kernel(1.0 / p.memory)
    parameters = numpy_parameters(init_parameters("diagonal", p.width, seeds, p.init_scale))
    if p.case == "sampled paths":
        x = white_noise(p.paths, p.path_length, p.path_step, seed=0)
        s = p.path_step * np.arange(p.path_length)
        bump = kernel(s) - np.exp(-s)
        level = float(bump @ path_gram(x, p.path_step) @ bump)

        def left(loss, crossings, time):
            return ~np.isnan(crossings[:, 1])

        run = gradient_flow(parameters, sampled_objective(kernel, x, p.path_step), p.flow_time,
                            np.array([1 + p.band, 1 - p.band]) * level,
                            tolerance=p.flow_tolerance, stop=left)  # fmt: skip
        crossings, start, end = run.crossings, run.losses[:, 0], run.final
        budget = p.flow_time
    else:
        level, budget = bump_energy(), p.adam_steps
        curves = _adam(parameters, p)
        crossings = np.array([[first_step(c, (1 + sign * p.band) * level, p.record_every)
                               for sign in (1, -1)] for c in curves], dtype=float)  # fmt: skip
        start, end = curves[:, 0], curves[:, -1]
    result = CellResult()
    for m, seed in enumerate(seeds):
        enter, leave = (None if np.isnan(t) else float(t) for t in crossings[m])
        result.rows.append({
            "part": "four cases", "case": p.case, "memory": p.memory, "seed": seed,
            "plateau_level": level, "loss_start": float(start[m]), "loss_end": float(end[m]),
            "enter_time": enter, "leave_time": leave, "censored": leave is None,
            "plateau_ratio": None if not enter else ((leave or budget) - enter) / enter,
        })  # fmt: skip
    return result


def _adam(parameters: dict[str, np.ndarray], p: CaseParams) -> np.ndarray:
    """torch's Adam on the closed-form loss of the plateau family: the loss curves, recorded
    every ``record_every`` steps."""
    # the tensors share the arrays' memory: Adam's steps move ``parameters`` in place
    tensors = {name: torch.from_numpy(values) for name, values in parameters.items()}
    optimiser = torch.optim.Adam(list(tensors.values()), lr=p.adam_lr)
    delays = np.full(len(parameters["c"]), p.memory)
    curve = []
    for step in range(p.adam_steps + 1):
        loss, gradient = loss_and_gradient(parameters, delays)
        if step % p.record_every == 0 or step == p.adam_steps:
            curve.append(loss)
        if step == p.adam_steps:
            break
        for name, tensor in tensors.items():
            tensor.grad = torch.from_numpy(gradient[name])
        optimiser.step()
    return np.array(curve).T
