"""The sweep driver: expand a study into cells, skip the finished ones, run the rest, store.

``run_sweep(study, config, run_dir, executor)`` is what ``bends run`` does:

1. claim the directory (:func:`~bends.runner.store.claimed`: a ``fresh`` run, which empties
   the store first, is refused while another run works there), open
   ``run_dir/results.sqlite`` and record the study and its settings;
2. expand the settings into cells; cells already ``done`` in the store are skipped, so a
   killed sweep resumes where it stopped;
3. hand the rest to the executor and store each outcome the moment it arrives, under a
   progress bar (cells done / total, elapsed, remaining time).

Failed cells are stored with their error and run again on the next resume.

Example:
    >>> import tempfile
    >>> from bends.studies import get_study
    >>> from bends.runner.executors import LocalExecutor
    >>> study = get_study("selfcheck")
    >>> run_dir = Path(tempfile.mkdtemp())
    >>> config = study.Config(seeds=3, seeds_per_cell=1)
    >>> run_sweep(study, config, run_dir, LocalExecutor(), progress=False).ran
    3
    >>> run_sweep(study, config, run_dir, LocalExecutor(), progress=False).skipped
    3
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bends.runner.config import StudyConfig
from bends.runner.executors import Done, Executor, Failed
from bends.runner.store import Store, claimed
from bends.runner.study import Study


@dataclass(frozen=True)
class SweepSummary:
    """How a sweep went: cells in total, skipped (done before), run now, failed now."""

    total: int
    skipped: int
    ran: int
    failed: list[tuple[str, str]]  # (cell key, error)


def run_sweep(
    study: Study,
    config: StudyConfig,
    run_dir: Path,
    executor: Executor,
    fresh: bool = False,
    progress: bool = True,
) -> SweepSummary:
    """Run the cells of ``study`` under ``config`` not yet done in ``run_dir``'s store."""
    with claimed(run_dir, exclusive=fresh), Store.in_run_dir(run_dir, fresh=fresh) as store:
        store.bind(study.name, config.as_dict())
        cells = study.cells(config)
        done = store.done_keys()
        todo = [cell for cell in cells if cell.key not in done]
        store.add_pending(todo)
        failed: list[tuple[str, str]] = []
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("cells"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[failures]}"),
            disable=not progress,
        ) as bar:
            task = bar.add_task(
                study.name, total=len(cells), completed=len(cells) - len(todo), failures=""
            )
            for cell, outcome in executor.run(study, todo):
                if isinstance(outcome, Done):
                    store.record(cell, outcome.result, outcome.seconds, outcome.host)
                else:
                    assert isinstance(outcome, Failed)
                    store.record_failure(cell, outcome.details, outcome.seconds, outcome.host)
                    failed.append((cell.key, outcome.error))
                    bar.update(task, failures=f"[red]{len(failed)} failed")
                bar.advance(task)
        return SweepSummary(len(cells), len(cells) - len(todo), len(todo), failed)
