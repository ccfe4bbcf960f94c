"""Where cells run: in this process, in a pool of processes, or on a Ray cluster.

Every executor takes a study and its cells and yields ``(cell, outcome)`` as cells finish,
in any order; an outcome is a :class:`Done` or a :class:`Failed`. Executors never touch the
results store: the driver (:mod:`bends.runner.sweep`) alone writes it. A cell is a pure
function of itself, so the stored numbers do not depend on the executor.

* :class:`LocalExecutor` — one cell after the other, in this process;
* :class:`ProcessExecutor` — ``workers`` processes (spawned, one thread each); a worker that
  dies is replaced and its cell run again, and workers exit when the driver dies;
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
import signal
import socket
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
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


def _worker_setup(parent: int) -> None:
    """Worker initialiser: one BLAS/torch thread per process, so workers do not compete, and
    a watch on the driver: a worker whose driver is gone (even by SIGKILL, which runs no
    cleanup) exits within a second instead of living on as an orphan."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    # NumPy's BLAS too: two workers with two BLAS threads each on two cores ran the
    # conjecture's small solves 8x slower than one thread each
    threadpool_limits(1)
    # Ctrl-C reaches the whole process group: the driver alone answers it (and ends the
    # workers), so that workers print no traceback of their own
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(ORPHAN_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="bends-parent-watch").start()


ORPHAN_CHECK_S = 0.25
WORKER_LOSSES = 3  # a cell that killed its worker this often, running alone, has failed


class ProcessExecutor:
    """Cells in ``workers`` spawned processes, one cell per worker at a time.

    A worker that dies (killed, out of memory, a crash in compiled code) breaks the pool and
    every cell in flight with it. The pool is rebuilt and those cells become suspects, run
    again one at a time with nothing beside them, so that the cell that kills its worker is
    told apart from the ones that happened to run next to it; a cell whose worker dies
    ``WORKER_LOSSES`` times while it runs alone fails with that reason, and the sweep goes on."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise BendsError(f"--workers must be at least 1, got {workers}")
        self.workers = workers

    def run(self, study: Study, cells: Sequence[Cell]) -> Iterator[tuple[Cell, Outcome]]:
        waiting, suspects = list(reversed(cells)), []
        losses: dict[str, int] = {}
        while waiting or suspects:
            pool = ProcessPoolExecutor(
                self.workers,
                mp_context=get_context("spawn"),
                initializer=_worker_setup,
                initargs=(os.getpid(),),
            )
            running: dict[Future[Done], Cell] = {}
            alone = False  # whether what runs is one suspect by itself
            finished_normally = False
            try:
                while waiting or suspects or running:
                    if suspects and not running:
                        cell = suspects.pop()
                        running[pool.submit(execute, study, cell)], alone = cell, True
                    elif not suspects:
                        while waiting and len(running) < self.workers:
                            cell = waiting.pop()
                            running[pool.submit(execute, study, cell)], alone = cell, False
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    broken = False
                    for future in finished:
                        error = future.exception()
                        if isinstance(error, BrokenProcessPool):
                            broken = True  # a worker died: the cells in flight die with it
                            continue
                        cell = running.pop(future)
                        yield cell, future.result() if error is None else _failure(error)
                    if broken:
                        break
                finished_normally = True
            finally:
                if not finished_normally:  # interrupted or abandoned: do not wait for cells
                    for process in list(getattr(pool, "_processes", {}).values()):
                        process.terminate()
                pool.shutdown(wait=finished_normally, cancel_futures=True)
            for cell in running.values():
                if alone:
                    losses[cell.key] = losses.get(cell.key, 0) + 1
                if losses.get(cell.key, 0) >= WORKER_LOSSES:
                    message = f"its worker process died {WORKER_LOSSES} times"
                    yield cell, Failed(message, message, 0.0, _host())
                else:
                    suspects.append(cell)


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
        if started_here and self.address not in (None, "auto", "local"):
            _reachable(self.address)
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


def _reachable(address: str, seconds: float = 5.0) -> None:
    """Refuse a Ray address nothing answers at within ``seconds`` (Ray itself retries for
    minutes, printing connection warnings)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=seconds):
            pass
    except ValueError:
        raise BendsError(f"--address {address!r}: give HOST:PORT") from None
    except OSError as err:
        raise BendsError(f"cannot reach Ray at {address}: {err.strerror or err}") from None


def make_executor(backend: str = "local", workers: int = 1, address: str | None = None) -> Executor:
    """The executor for ``--backend`` (local or ray), ``--workers`` and ``--address``."""
    if backend == "local":
        if address is not None:
            raise BendsError("--address is for --backend ray")
        return LocalExecutor() if workers == 1 else ProcessExecutor(workers)
    if backend == "ray":
        return RayExecutor(address, cpus=workers if workers > 1 else None)
    raise BendsError(f"unknown backend {backend!r}; backends: local, ray")
