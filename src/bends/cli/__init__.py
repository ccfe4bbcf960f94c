"""The ``bends`` command line: count, construct, plot, local; studies, run, report, export,
demo; dynamics.

Every user error (missing or malformed file, wrong shapes, bad segment) prints one line on
stderr and exits with status 2; float64 resolution problems print one warning line.

Example:
    >>> from typer.testing import CliRunner
    >>> print(CliRunner().invoke(app, ["--version"]).output.strip())
    bends 0.1.0
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from bends._version import __version__
from bends.cli import dynamics, local, networks, studies
from bends.cli._common import err_console

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: flags shown as flags, no boxes in pipes
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Exact affine pieces (bends) of ReLU networks and tied ReLU RNNs.",
)
for command in (networks.count, networks.construct, networks.plot, local.local):
    app.command()(command)
for command in (studies.studies, studies.run, studies.report, studies.export, studies.demo):
    app.command()(command)
app.add_typer(dynamics.dynamics_app, name="dynamics")


def _print_version(asked: bool) -> None:
    if asked:
        print(f"bends {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="print the version and exit", callback=_print_version,
            is_eager=True, show_default=False,
        ),
    ] = False,
) -> None:  # fmt: skip
    """Exact affine pieces (bends) of ReLU networks and tied ReLU RNNs."""


def main() -> None:
    """Entry point of the ``bends`` console script."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
