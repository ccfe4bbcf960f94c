"""What the two tied-RNN studies (``conjecture``, ``conjecture-local``) share: how they train."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from bends.runner.config import StudyConfig, setting
from bends.training.flows import Run, train_tied
from bends.training.tied import TiedProblem


@dataclass(frozen=True)
class TrainingSettings(StudyConfig):
    """How tied RNNs are trained (:func:`bends.training.flows.train_tied`)."""

    trainer: Literal["flow", "gd", "adam"] = setting("flow", "gradient flow, GD or Adam")
    time_limit: float = setting(100.0, "flow: stop at this flow time", above=0)
    loss_threshold: float = setting(
        1e-10, "stop (and count as zero loss) below this loss", at_least=0
    )
    rtol: float = setting(1e-3, "flow: relative tolerance of the RK solver", above=0, below=1)
    method: Literal["RK23", "RK45", "DOP853"] = setting("RK23", "flow: SciPy RK solver")
    max_evaluations: int = setting(3000, "flow: gradient evaluations per run at most", at_least=10)
    lr: float = setting(1e-3, "gd/adam: learning rate", above=0)
    train_steps: int = setting(3000, "gd/adam: steps", at_least=1)
    record: int = setting(32, "loss (and W) recorded at this many times per run", at_least=2)


_TRAINING = ("time_limit", "loss_threshold", "rtol", "method", "max_evaluations", "lr",
             "train_steps", "record")  # fmt: skip


def train_runs(problem: TiedProblem, starts: np.ndarray, p: dict) -> list[Run]:
    """Train each W in ``starts`` by the training settings in cell parameters ``p``."""
    return train_tied(problem, starts, p["trainer"], **{k: p[k] for k in _TRAINING})
