"""What a newcomer meets in the first hour: help and version, flags shown as flags, torch
modules traced directly, one-line reprs, refusals that give their reason, honest notes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import bends
from bends.cli import app
from bends.constructions import devils_staircase, sawtooth

runner = CliRunner()


def test_help_and_version():
    for args in (["-h"], ["--help"], ["count", "-h"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and "Usage:" in result.stdout
    assert runner.invoke(app, ["--version"]).stdout.strip() == f"bends {bends.__version__}"


@pytest.mark.parametrize("flag", ["--json", "--exact", "--regions-only"])
def test_flags_are_not_shown_as_taking_a_value(flag):
    line = next(
        line for line in runner.invoke(app, ["count", "-h"]).stdout.splitlines()
        if line.split()[:1] == [flag]
    )  # fmt: skip
    assert "<" not in line and "[default" not in line


def test_construct_help_says_which_construction_takes_each_option():
    text = " ".join(runner.invoke(app, ["construct", "-h"]).stdout.split())
    assert "--j <int> Cantor iterate index [staircase]" in text
    assert "--ratio <float> scale ratio [compositional-rnn]" in text


def test_trace_takes_a_torch_module_and_names_what_it_cannot_take():
    torch.manual_seed(0)
    seq = torch.nn.Sequential(torch.nn.Linear(1, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
    direct, converted = (
        bends.trace(seq, [-3.0], [3.0]),
        bends.trace(bends.from_torch(seq), [-3.0], [3.0]),
    )
    assert direct.pieces == converted.pieces and np.array_equal(direct.knots, converted.knots)
    with pytest.raises(bends.BendsError, match="got str"):
        bends.trace("net.json")
    with pytest.raises(bends.BendsError, match="give the segment's start and end"):
        bends.trace(torch.nn.Linear(2, 2))
    assert bends.trace(torch.nn.Linear(2, 2), [0.0, 0.0], [1.0, 1.0]).pieces == 1  # a graph


def test_reprs_are_one_line():
    assert repr(sawtooth(3)) == "MLP [1, 2, 2, 2, 1]"
    assert repr(devils_staircase(2)) == "TiedRNN width 7, 3 steps, output 0"
    text = repr(bends.trace(sawtooth(3)))
    assert "\n" not in text and "8 pieces, 8 activation regions" in text and len(text) < 120


def test_a_tied_rnn_refuses_a_state_dict_with_the_reason(tmp_path):
    result = runner.invoke(app, ["construct", "staircase", "-o", str(tmp_path / "s.pt")])
    assert result.exit_code == 2 and "saved as .json" in result.stderr
    assert not (tmp_path / "s.pt").exists()


def test_plot_layers_says_what_it_leaves_out_and_writes_svg(tmp_path):
    net = tmp_path / "s.json"
    bends.save(devils_staircase(4), net)
    partial = runner.invoke(
        app, ["plot", str(net), "-o", str(tmp_path / "l.svg"), "--layers", "--neurons", "3"]
    )
    assert partial.exit_code == 0 and "--neurons 7 draws all" in partial.stdout
    assert (tmp_path / "l.svg").read_text().startswith("<?xml")
    whole = runner.invoke(app, ["plot", str(net), "-o", str(tmp_path / "l.png"), "--layers"])
    assert whole.exit_code == 0 and "note:" not in whole.stdout


def test_merged_counts_near_coincidences_only(tmp_path):
    """Duplicated neurons cross at exactly the same t: nothing was approximated."""
    exact = bends.TiedRNN(np.array([[1.0, -0.5], [1.0, -0.5]]), 1, 0)
    near = bends.TiedRNN(np.array([[1.0, -0.5], [1.0, -0.5 - 3e-15]]), 1, 0)
    assert bends.trace(exact).merged == 0 and bends.trace(near).merged == 1
    bends.save(exact, tmp_path / "dup.json")
    assert "note:" not in runner.invoke(app, ["count", str(tmp_path / "dup.json")]).stdout
