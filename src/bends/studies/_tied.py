"""What the two tied-RNN studies (``conjecture``, ``conjecture-local``) share: how they train."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from bends.runner.config import StudyConfig, require, setting
from bends.training.flows import Run, train_tied
from bends.training.tied import TiedProblem


@dataclass(frozen=True)
class TrainingSettings(StudyConfig):
    """How tied RNNs are trained (:func:`bends.training.flows.train_tied`)."""

    trainer: Literal["flow", "gd", "adam"] = setting("flow", "gradient flow, GD or Adam")
    time_limit: float = setting(100.0, "flow: stop at this flow time")
    loss_threshold: float = setting(1e-10, "stop (and count as zero loss) below this loss")
    rtol: float = setting(1e-3, "flow: relative tolerance of the RK solver")
    method: Literal["RK23", "RK45", "DOP853"] = setting("RK23", "flow: SciPy RK solver")
    max_evaluations: int = setting(3000, "flow: gradient evaluations per run at most")
    lr: float = setting(1e-3, "gd/adam: learning rate")
    train_steps: int = setting(3000, "gd/adam: steps")
    record: int = setting(32, "loss (and W) recorded at this many times per run")

    def validate(self) -> None:
        super().validate()
        require(self.time_limit > 0 and self.loss_threshold >= 0, "need time_limit > 0")
        require(0 < self.rtol < 1, "rtol must lie in (0, 1)")
        require(self.max_evaluations >= 10, "max_evaluations must be at least 10")
        require(self.lr > 0 and self.train_steps >= 1, "need lr > 0 and train_steps ≥ 1")
        require(self.record >= 2, "record must be at least 2")


_TRAINING = ("time_limit", "loss_threshold", "rtol", "method", "max_evaluations", "lr",
             "train_steps", "record")  # fmt: skip


def train_runs(problem: TiedProblem, starts: np.ndarray, p: dict) -> list[Run]:
    """Train each W in ``starts`` by the training settings in cell parameters ``p``."""
    return train_tied(problem, starts, p["trainer"], **{k: p[k] for k in _TRAINING})
