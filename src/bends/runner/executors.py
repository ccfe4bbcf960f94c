"""Where cells run: in this process, in a pool of processes, or on a Ray cluster.

Every executor takes a study and its cells and yields ``(cell, outcome)`` as cells finish,
in any order; an outcome is a :class:`Done` or a :class:`Failed`. Executors never touch the
results store: the driver (:mod:`bends.runner.sweep`) alone writes it. A cell is a pure
function of itself, so the stored numbers do not depend on the executor.

* :class:`LocalExecutor` — one cell after the other, in this process;
* :class:`ProcessExecutor` — ``workers`` processes (spawned, one thread each);
* :class:`RayExecutor` — Ray tasks (``pip install 'bends[cluster]'``), on the cluster at
  ``address`` or on a local Ray instance; a task whose worker dies or raises is retried
  ``retries`` times before the cell counts as failed.

Example:
    >>> from bends.studies import get_study
    >>> study = get_study("selfcheck")
    >>> cells = study.cells(study.Config(seeds=2, seeds_per_cell=1))
    >>> [type(outcome).__name__ for _, outcome in LocalExecutor().run(study, cells)]
    ['Done', 'Done']
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Protocol

from bends.errors import BendsError
from bends.runner.study import Cell, CellResult, Study


@dataclass(frozen=True)
class Done:
    """A finished cell: its result, the seconds it took and the machine that ran it."""

    result: CellResult
    seconds: float
    host: str


@dataclass(frozen=True)
class Failed:
    """A cell that raised: the error's last line and the full traceback."""

    error: str
    details: str
    seconds: float
    host: str


Outcome = Done | Failed


class Executor(Protocol):
    def run(self, study: Study, cells: Sequence[Cell]) -> Iterator[tuple[Cell, Outcome]]:
        """Run ``cells`` of ``study``, yielding each with its outcome as it finishes."""
        ...


def execute(study: Study, cell: Cell) -> Done:
    """Run one cell and time it (raises what the cell raises)."""
    began = time.perf_counter()
    result = study.run_cell(cell)
    return Done(result, time.perf_counter() - began, _host())


def _failure(err: BaseException, seconds: float = 0.0) -> Failed:
    details = "".join(traceback.format_exception(err))
    message = f"{type(err).__name__}: {err}".strip().splitlines()
    return Failed(message[0] if message else type(err).__name__, details, seconds, _host())


def _host() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class LocalExecutor:
    """Cells one after the other in this process."""

    def run(self, study: Study, cells: Sequence[Cell]) -> Iterator[tuple[Cell, Outcome]]:
        for cell in cells:
            began = time.perf_counter()
            try:
                yield cell, execute(study, cell)
            except Exception as err:  # a cell's failure is recorded, the sweep goes on
                yield cell, _failure(err, time.perf_counter() - began)


def _single_threaded() -> None:
    """Worker initialiser: one BLAS/torch thread per process, so workers do not compete."""
    import torch

    torch.set_num_threads(1)


class ProcessExecutor:
    """Cells in ``workers`` spawned processes, at most ``2 × workers`` queued at a time."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise BendsError(f"--workers must be at least 1, got {workers}")
        self.workers = workers

    def run(self, study: Study, cells: Sequence[Cell]) -> Iterator[tuple[Cell, Outcome]]:
        waiting = list(reversed(cells))
        running: dict[Future[Done], Cell] = {}
        with ProcessPoolExecutor(
            self.workers, mp_context=get_context("spawn"), initializer=_single_threaded
        ) as pool:
            while waiting or running:
                while waiting and len(running) < 2 * self.workers:
                    cell = waiting.pop()
                    running[pool.submit(execute, study, cell)] = cell
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    cell = running.pop(future)
                    error = future.exception()
                    yield cell, future.result() if error is None else _failure(error)


class RayExecutor:
    """Cells as Ray tasks on the cluster at ``address`` (None: start a local Ray instance)."""

    def __init__(self, address: str | None = None, retries: int = 2, cpus: int | None = None):
        try:
            import ray
        except ImportError:
            raise BendsError(
                "the Ray backend needs the cluster extra: pip install 'bends[cluster]'"
            ) from None
        self._ray = ray
        self.address = address
        self.retries = retries
        self.cpus = cpus

    def run(self, study: Study, cells: Sequence[Cell]) -> Iterator[tuple[Cell, Outcome]]:
        ray = self._ray
        started_here = not ray.is_initialized()
        if started_here:
            try:
                ray.init(
                    address=self.address,
                    num_cpus=self.cpus if self.address is None else None,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
            except (ConnectionError, ValueError, RuntimeError) as err:
                raise BendsError(f"cannot start or reach Ray at {self.address}: {err}") from None
        try:
            task = ray.remote(num_cpus=1, max_retries=self.retries, retry_exceptions=True)(execute)
            study_ref = ray.put(study)
            pending = {task.remote(study_ref, cell): cell for cell in cells}
            while pending:
                finished, _ = ray.wait(list(pending), num_returns=1)
                for ref in finished:
                    cell = pending.pop(ref)
                    try:
                        yield cell, ray.get(ref)
                    except Exception as err:  # retries exhausted
                        cause = getattr(err, "cause", None) or err
                        yield cell, _failure(cause)
        finally:
            if started_here:
                ray.shutdown()


def make_executor(backend: str = "local", workers: int = 1, address: str | None = None) -> Executor:
    """The executor for ``--backend`` (local or ray), ``--workers`` and ``--address``."""
    if backend == "local":
        if address is not None:
            raise BendsError("--address is for --backend ray")
        return LocalExecutor() if workers == 1 else ProcessExecutor(workers)
    if backend == "ray":
        return RayExecutor(address, cpus=workers if workers > 1 else None)
    raise BendsError(f"unknown backend {backend!r}; backends: local, ray")
