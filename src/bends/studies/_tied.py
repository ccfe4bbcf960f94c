"""What the two tied-RNN studies (``conjecture``, ``conjecture-local``) share: how they train."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

import numpy as np

from bends.runner.config import StudyConfig, setting
from bends.training.flows import Run, train_tied
from bends.training.tied import TiedProblem


@dataclass(frozen=True)
class TrainingSettings(StudyConfig):
    """How tied RNNs are trained (:func:`bends.training.flows.train_tied`)."""

    trainer: Literal["flow", "limit", "gd", "adam"] = setting(
        "flow", "gradient flow (SciPy RK), the flow followed to its end (limit), GD or Adam"
    )
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
    step: float = setting(0.1, "limit: a step moves W by at most this times |W|", above=0)
    tolerance: float = setting(1e-2, "limit: local error per step, relative to |W|", above=0)
    integrator: Literal["implicit", "explicit"] = setting(
        "implicit", "limit: linearly implicit (Gauss–Newton) or explicit Euler steps"
    )
    max_steps: int = setting(30_000, "limit: steps per run at most", at_least=1)
    slide: bool = setting(True, "limit: slide along switching surfaces the field points "
                                "into from both sides (Filippov), not zig-zag across")  # fmt: skip
    stall_steps: int = setting(200, "limit: a stall is checked over this many steps", at_least=2)
    stall_rtol: float = setting(1e-6, "limit: stalled when L falls less than this share",
                                above=0)  # fmt: skip
    gradient_tol: float = setting(1e-10, "limit: critical when |∇L| ≤ this · (1 + L)", at_least=0)
    stall_windows: int = setting(
        0, "limit: also stalled after this many still stall checks in a row at flow time ≥ 1 "
           "(0: only when the flow time doubled)", at_least=0)  # fmt: skip


@dataclass(frozen=True)
class Training:
    """The training settings a cell carries (those of :class:`TrainingSettings`)."""

    trainer: str
    time_limit: float
    loss_threshold: float
    rtol: float
    method: str
    max_evaluations: int
    lr: float
    train_steps: int
    record: int
    step: float
    tolerance: float
    integrator: str
    max_steps: int
    slide: bool
    stall_steps: int
    stall_rtol: float
    gradient_tol: float
    stall_windows: int


def train_runs(problem: TiedProblem, starts: np.ndarray, p: Training) -> list[Run]:
    """Train each W in ``starts`` by the training settings ``p``."""
    settings = {f.name: getattr(p, f.name) for f in fields(p) if f.name != "trainer"}
    return train_tied(problem, starts, p.trainer, **settings)
