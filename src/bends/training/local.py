"""Local complexity over training: a callback that measures it every N steps.

:class:`LocalRecorder` is a plain callable for any torch training loop (call it after each
optimiser step; :func:`~bends.training.loop.descend` takes it as ``after_step``), and
:func:`lightning_callback` wraps it for PyTorch Lightning when that is installed. At every
record it traces the model as it is then (a float64 copy) and measures
:func:`~bends.analysis.local.local_complexity` at each named set of probe points, with the
same chords every time (one seed), so a change is the model's and not the sample's; with
``boundary_pairs`` it also finds where the decision changes along those segments *now* and
measures there. Each record adds rows (step, probe set, density, per-layer density, nearest
boundary, …) that a study returns in its CellResult, which the runner keeps in the results
store.

Example:
    >>> import numpy as np, torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(),
    ...                             torch.nn.Linear(8, 1)).double()
    >>> recorder = LocalRecorder(model, {"train": np.zeros((2, 2))}, radius=0.5, every=2)
    >>> for _ in range(4):
    ...     recorder()  # after each optimiser step
    >>> [row["step"] for row in recorder.rows]
    [0, 2, 4]
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection, Mapping
from typing import Any

import numpy as np
from torch import nn

from bends.analysis.local import decision_points, local_complexity
from bends.errors import BendsError, ResolutionWarning
from bends.nets import as_network


class LocalRecorder:
    """Measure local complexity of ``model`` at ``probes`` (name → points) at step 0 and
    every ``every`` steps after (or at the steps ``every`` lists, e.g.
    :func:`~bends.training.loop.geometric`).

    Args:
        model: the torch module being trained (read, never changed).
        probes: named sets of points, each (points, *input shape).
        radius, chords, seed: the chords of :func:`~bends.analysis.local.local_complexity`.
        every: steps between records, or the steps to record at.
        boundary_pairs: (starts, ends) of segments whose decision changes are measured too,
            as the probe set ``"boundary"``.
        extra: called with the model at each record; its dict joins every row of that record
            (accuracy, loss, …).
        steps: the run's length, for the progress bar (``progress=True``).
        device: where the traces run (a torch device).
    """

    def __init__(
        self,
        model: nn.Module,
        probes: Mapping[str, np.ndarray],
        radius: float,
        *,
        every: int | Collection[int],
        chords: int = 8,
        seed: int = 0,
        boundary_pairs: tuple[np.ndarray, np.ndarray] | None = None,
        extra: Callable[[nn.Module], dict[str, Any]] | None = None,
        steps: int | None = None,
        progress: bool = False,
        device=None,
    ) -> None:
        if isinstance(every, int) and not isinstance(every, bool):
            if every < 1:
                raise BendsError(f"every must be a positive number of steps, got {every!r}")
        elif not all(isinstance(s, int) and s >= 0 for s in every):
            raise BendsError("every must be a number of steps or a collection of steps")
        if not probes and boundary_pairs is None:
            raise BendsError("give probe points or boundary pairs to measure at")
        self.model, self.probes, self.radius = model, dict(probes), radius
        self.every, self.chords, self.seed = every, chords, seed
        self.boundary_pairs, self.extra, self.device = boundary_pairs, extra, device
        first = next(iter(self.probes.values()), None)
        self.shape = tuple((first if first is not None else boundary_pairs[0]).shape[1:])
        self.step = 0
        self.rows: list[dict[str, Any]] = []
        self._bar = _Bar(steps) if progress else None
        self.record()

    def __call__(self) -> None:
        """After an optimiser step: count it, and record if it is an ``every``-th."""
        self.step += 1
        if self._bar is not None:
            self._bar.advance(self.step)
        due = (self.step % self.every == 0) if isinstance(self.every, int) else (
            self.step in self.every)  # fmt: skip
        if due:
            self.record()

    def record(self) -> None:
        """Measure now (the rows get the current step)."""
        net = as_network(self.model, self.shape)
        extra = self.extra(self.model) if self.extra is not None else {}
        sets = dict(self.probes)
        found = True  # float64 resolved the segments the boundary points were found on
        if self.boundary_pairs is not None:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ResolutionWarning)
                sets["boundary"], _ = decision_points(net, *self.boundary_pairs,
                                                      device=self.device)  # fmt: skip
            found = not any(issubclass(w.category, ResolutionWarning) for w in caught)
        for name, points in sets.items():
            row = {"step": self.step, "probe": name, "points": len(points), **extra}
            if len(points):
                with warnings.catch_warnings():  # recorded in the row instead (``resolved``)
                    warnings.simplefilter("ignore", ResolutionWarning)
                    measured = local_complexity(net, points, self.radius, self.chords,
                                                self.seed, device=self.device)  # fmt: skip
                row.update(measured.summary())
                row["resolved"] = row["resolved"] and (found or name != "boundary")
            self.rows.append(row)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class _Bar:
    """A rich progress bar over the training steps."""

    def __init__(self, steps: int | None) -> None:
        from rich.progress import Progress

        self.progress = Progress(transient=True)
        self.task = self.progress.add_task("training (recording local complexity)", total=steps)
        self.progress.start()

    def advance(self, step: int) -> None:
        self.progress.update(self.task, completed=step)

    def close(self) -> None:
        self.progress.stop()


def lightning_callback(recorder: LocalRecorder):
    """``recorder`` as a PyTorch Lightning callback, called once per optimiser step (each
    advance of ``trainer.global_step``, not each batch: with gradient accumulation a batch
    need not step); a BendsError if Lightning is not installed."""
    try:
        import lightning.pytorch as pl
    except ImportError:
        raise BendsError("Lightning is not installed (pip install 'bends[lightning]')") from None

    class LocalComplexityCallback(pl.Callback):
        seen = 0  # the trainer's global step when the recorder was last called

        def on_train_start(self, trainer, pl_module) -> None:
            self.seen = trainer.global_step

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            while self.seen < trainer.global_step:
                self.seen += 1
                recorder()

        def on_train_end(self, trainer, pl_module) -> None:
            recorder.close()

    return LocalComplexityCallback()
