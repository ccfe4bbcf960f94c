"""``bends studies``, ``run``, ``report``, ``export`` and ``demo``: sweeps on the platform."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bends.cli._common import console, err_console, guarded
from bends.errors import BendsError


def _settings_table(study) -> Table:
    from bends.runner.config import describe

    table = Table(title=f"{study.name}: {study.summary}")
    for column in ("setting", "type", "default", "meaning"):
        table.add_column(column)
    for row in describe(study.Config):
        table.add_row(*row)
    return table


@guarded
def studies(
    name: Annotated[str | None, typer.Argument(help="show this study's settings")] = None,
) -> None:
    """List the registered studies, or the settings of one."""
    from bends.studies import STUDIES, get_study

    if name is not None:
        console.print(_settings_table(get_study(name)))
        return
    table = Table(title="studies (bends run NAME; bends studies NAME for its settings)")
    for column in ("name", "what it computes", "guide"):
        table.add_column(column)
    for study in STUDIES.values():
        table.add_row(study.name, study.summary, f"docs/{study.guide}" if study.guide else "")
    console.print(table)


def _reporting(write: Callable[[], Path], run_dir: Path) -> None:
    """Write a report; if that fails, say so in one line: the stored results are safe."""
    try:
        console.print(f"report: {write()}")
    except BendsError:
        raise
    except Exception as err:  # a bug in a study's report must not look like a lost sweep
        err_console.print(
            f"error: writing the report failed ({type(err).__name__}: {err}); the results are "
            f"stored in {run_dir}, `bends report {run_dir}` retries",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None


def _sweep(study, config, run_dir: Path, executor, fresh: bool) -> bool:
    """Run one study's sweep and say how it went; False if cells failed."""
    from bends.runner.sweep import run_sweep

    summary = run_sweep(study, config, run_dir, executor, fresh=fresh)
    console.print(
        f"{study.name}: {summary.total} cells, {summary.ran} run now, "
        f"{summary.skipped} already done in {run_dir}",
        soft_wrap=True,
    )
    for key, error in summary.failed[:3]:
        err_console.print(f"failed cell {key}: {error}", markup=False, soft_wrap=True)
    if summary.failed:
        err_console.print(
            f"{len(summary.failed)} cells failed (tracebacks in the store); "
            "rerunning the same command retries them",
            soft_wrap=True,
        )
    return not summary.failed


FreshOption = Annotated[
    bool, typer.Option("--fresh", help="discard stored results first", show_default=False)
]


@guarded
def run(
    name: Annotated[str, typer.Argument(metavar="STUDY", help="a study (see bends studies)")],
    out: Annotated[
        Path | None, typer.Option("--out", help="run directory (default runs/STUDY)")
    ] = None,
    config_file: Annotated[
        Path | None, typer.Option("--config", help="TOML file of settings")
    ] = None,
    assignments: Annotated[
        list[str] | None, typer.Option("--set", help="key=value, overrides --config")
    ] = None,
    backend: Annotated[str, typer.Option(help="local or ray")] = "local",
    workers: Annotated[int, typer.Option(help="processes (local) or CPUs (new Ray)")] = 1,
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (default: start a local one)")
    ] = None,
    fresh: FreshOption = False,
) -> None:
    """Run STUDY's sweep (resuming what is stored) and write its report."""
    from bends.runner.config import resolve
    from bends.runner.executors import make_executor
    from bends.runner.report import report_run
    from bends.studies import get_study

    study = get_study(name)
    config = resolve(study.Config, config_file, assignments or ())
    executor = make_executor(backend, workers, address)
    run_dir = out or Path("runs") / name
    finished = _sweep(study, config, run_dir, executor, fresh)
    _reporting(lambda: report_run(study, run_dir), run_dir)
    if not finished:
        raise typer.Exit(1)


RunDirArgument = Annotated[Path, typer.Argument(metavar="RUN_DIR", help="a run directory")]


@guarded
def report(run_dir: RunDirArgument) -> None:
    """Write RUN_DIR/report.md and report.html from the stored results."""
    from bends.runner.report import report_run
    from bends.runner.store import Store
    from bends.studies import get_study

    with Store.existing(run_dir) as store:
        bound = store.study()
    if bound is None:
        raise BendsError(f"{run_dir} holds no study results yet")
    _reporting(lambda: report_run(get_study(bound[0]), run_dir), run_dir)


@guarded
def export(
    run_dir: RunDirArgument,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet")] = "csv",
    out: Annotated[Path | None, typer.Option("--out", help="directory (default RUN_DIR)")] = None,
) -> None:
    """Export RUN_DIR's metric rows and curves as CSV or Parquet tables."""
    from bends.runner.export import export_run

    for path in export_run(run_dir, out, fmt):  # type: ignore[arg-type]
        console.print(str(path))


@guarded
def demo(
    out: Annotated[Path, typer.Option(help="run directory of the demo")] = Path("runs/demo"),
    fresh: FreshOption = False,
) -> None:
    """Small versions of every study, one report: OUT/report.md (and .html)."""
    from bends.runner.config import resolve
    from bends.runner.executors import LocalExecutor
    from bends.runner.report import study_section, write_report
    from bends.studies import STUDIES

    ran = [study for study in STUDIES.values() if study.demo is not None]
    finished = True
    for study in ran:
        config = resolve(study.Config, base=study.demo)
        finished &= _sweep(study, config, out / study.name, LocalExecutor(), fresh)

    def write() -> Path:
        sections = [study_section(study, out / study.name, out) for study in ran]
        return write_report(out, "bends demo", sections)

    _reporting(write, out)
    if not finished:
        raise typer.Exit(1)
