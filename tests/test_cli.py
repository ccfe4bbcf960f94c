"""`bends count`, `construct`, `plot`: answers, JSON, plots, and one-line errors with status 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from bends import MLP, save
from bends.cli import app
from bends.constructions import sawtooth
from bends.nets import TiedRNN

runner = CliRunner()


@pytest.fixture
def saw(tmp_path):
    path = tmp_path / "saw.json"
    save(sawtooth(6), path)
    return path


def test_count_json_reports_pieces_regions_and_breakpoints(saw):
    result = runner.invoke(app, ["count", str(saw), "--json"])
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert out["pieces"] == out["regions"] == 64
    assert out["breakpoints"] == [j / 64 for j in range(1, 64)]


def test_count_regions_only_reports_regions_and_marks_their_boundaries(saw, tmp_path):
    plot = tmp_path / "saw.png"
    result = runner.invoke(
        app, ["count", str(saw), "--regions-only", "--json", "--plot", str(plot)]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["regions"] == 64 and out["pieces"] is None and out["breakpoints"] is None
    assert plot.stat().st_size > 1000
    text = runner.invoke(app, ["count", str(saw), "--regions-only"])
    assert text.exit_code == 0 and "64 activation regions" in text.stdout
    assert "pieces" not in text.stdout


def test_count_exact_and_custom_segment_and_plot(saw, tmp_path):
    plot = tmp_path / "saw.pdf"
    args = ["count", str(saw), "--from", "-1", "--to", "2", "--exact", "--json", "--plot", plot]
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["pieces"] == 64 + 2 and json.loads(result.stdout)["exact"]
    assert plot.stat().st_size > 1000


def test_count_reads_state_dicts_and_tied_rnns(tmp_path):
    save(sawtooth(3), tmp_path / "saw.pt")
    assert (
        json.loads(runner.invoke(app, ["count", str(tmp_path / "saw.pt"), "--json"]).stdout)[
            "pieces"
        ]
        == 8
    )
    save(TiedRNN(np.eye(2), steps=3), tmp_path / "rnn.json")
    result = runner.invoke(
        app, ["count", str(tmp_path / "rnn.json"), "--from", "0,1", "--to", "1,1", "--json"]
    )
    assert json.loads(result.stdout)["pieces"] == 1


def _big_rnn(tmp_path):
    path = tmp_path / "big.json"
    save(TiedRNN(np.eye(7), steps=1000), path)
    return path


def _bad(tmp_path, text, name="bad.json"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda p, s: [str(p / "missing.json")], "no such file"),
        (lambda p, s: [str(p)], "not a network file"),
        (lambda p, s: [str(_bad(p, "{not json"))], "not valid JSON"),
        (
            lambda p, s: [
                str(
                    _bad(
                        p,
                        '{"format": "bends-network", "version": 1, "layers": '
                        '[{"weight": [[NaN]]}]}',
                    )
                )
            ],
            "NaN",
        ),
        (
            lambda p, s: [
                str(
                    _bad(
                        p,
                        '{"format": "bends-network", "version": 1, "layers": '
                        '[{"weight": [[1], [2]]}, {"weight": [[1]]}]}',
                    )
                )
            ],
            "inputs",
        ),
        (
            lambda p, s: [
                str(
                    _bad(
                        p,
                        '{"format": "bends-network", "version": 1, "tied": '
                        '{"weight": [[1]], "steps": -1}}',
                    )
                )
            ],
            "steps",
        ),
        (lambda p, s: [str(_bad(p, "garbage", "x.pt"))], "state_dict"),
        (lambda p, s: [str(s), "--from", "0,0", "--to", "1,1"], "coordinates"),
        (lambda p, s: [str(s), "--from", "0.5", "--to", "0.5"], "same point"),
        (lambda p, s: [str(s), "--from", "a", "--to", "1"], "comma-separated"),
        (lambda p, s: [str(s), "--from", "inf", "--to", "1"], "infinite"),
        (lambda p, s: [str(s), "--from", "0"], "both ends"),
        (lambda p, s: [str(s), "--plot", str(p / "x.gif")], ".png, .svg or .pdf"),
        (lambda p, s: [str(_big_rnn(p)), "--exact"], "exact mode is for small networks"),
    ],
)
def test_bad_input_gets_one_line_and_status_2(tmp_path, saw, make_args, message):
    result = runner.invoke(app, ["count", *make_args(tmp_path, saw)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]


def test_resolution_problems_are_reported_as_one_warning_line(tmp_path):
    steep = 2.0**45  # two bends 2^-45 apart
    w, b = np.array([[steep], [steep]]), np.array([-steep / 2, -steep / 2 - 1])
    save(MLP.from_layers([(w, b), (np.array([[1.0, -1.0]]), np.zeros(1))]), tmp_path / "deep.json")
    result = runner.invoke(app, ["count", str(tmp_path / "deep.json"), "--json"])
    assert result.exit_code == 0
    assert result.stderr.startswith("warning:") and "cannot resolve" in result.stderr
    assert json.loads(result.stdout)["resolved"] is False
    fine = runner.invoke(app, ["count", str(tmp_path / "deep.json"), "--json", "--exact"])
    assert json.loads(fine.stdout)["resolved"] is True and fine.stderr == ""


def test_construct_list_save_count_and_plot_layers(tmp_path):
    listing = runner.invoke(app, ["construct", "--list"])
    assert (
        listing.exit_code == 0
        and "yarotsky" in listing.stdout
        and "compositional" in listing.stdout
    )
    net = tmp_path / "y.json"
    built = runner.invoke(app, ["construct", "yarotsky", "--m", "5", "--rnn", "-o", str(net)])
    assert built.exit_code == 0 and "32 pieces (closed form: 32)" in built.stdout
    staircase = runner.invoke(app, ["construct", "staircase", "--j", "3", "-o", str(net)])
    assert "15 pieces (closed form: 15)" in staircase.stdout
    built = runner.invoke(app, ["construct", "yarotsky", "--m", "5", "--rnn", "-o", str(net)])
    counted = runner.invoke(app, ["count", str(net), "--json"])  # uses the stored segment
    assert json.loads(counted.stdout)["pieces"] == 32
    for figure, extra in ((tmp_path / "y.png", []), (tmp_path / "layers.pdf", ["--layers"])):
        drawn = runner.invoke(app, ["plot", str(net), "-o", str(figure), *extra])
        assert drawn.exit_code == 0, drawn.output
        assert figure.stat().st_size > 1000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["construct", "nope", "-o", "x.json"], "unknown construction"),
        (["construct", "yarotsky", "--depth", "3", "-o", "x.json"], "takes m, rnn"),
        (["construct", "compositional", "--peaks", "0.5,1.5", "-o", "x.json"], "between 0 and 1"),
        (["construct", "sawtooth", "--depth", "0", "-o", "x.json"], "positive integer"),
        (["construct", "sawtooth"], "-o FILE"),
        (["construct", "tent", "--slope", "3", "-o", "x.json"], "slope <= 2"),
        (["construct", "orbit", "--orbit", "1,1", "-o", "x.json"], "distinct"),
    ],
)
def test_construct_bad_parameters_get_one_line_and_status_2(tmp_path, args, message):
    result = runner.invoke(app, [a if a != "x.json" else str(tmp_path / a) for a in args])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_dynamics_commands_answer_and_reject_bad_maps():
    periods = runner.invoke(app, ["dynamics", "periods", "--p", "3"])
    assert periods.exit_code == 0 and "1 orbit(s) of minimal period 3" in periods.stdout
    assert "-1 → 0.61803398875 → 0" in periods.stdout
    none = runner.invoke(app, ["dynamics", "periods", "--c", "1.618"])
    assert "0 orbit(s)" in none.stdout
    laps = runner.invoke(app, ["dynamics", "oscillations", "--t", "10"])
    assert "178" in laps.stdout  # 2·F(11)
    growth = runner.invoke(app, ["dynamics", "growth", "--p", "5"])
    assert "1.3802775691" in growth.stdout and "1.5128763969" in growth.stdout
    bound = runner.invoke(app, ["dynamics", "bound", "--width", "2", "--depth", "2", "--t", "20",
                                "--c", "1.618", "--lipschitz", "1.618"])  # fmt: skip
    assert "(2u)^l ≤ c^t/8 holds" in bound.stdout
    for args, message in [
        (["dynamics", "periods", "--c", "3"], "only for 0 < c ≤ 2"),
        (["dynamics", "growth", "--p", "4"], "odd periods"),
        (["dynamics", "periods", "--points", "0,1"], "go together"),
        (["dynamics", "periods", "--c", "1.5", "--slope", "2"], "give one map"),
    ]:
        result = runner.invoke(app, args)
        assert (
            result.exit_code == 2
            and result.stderr.startswith("error:")
            and message in result.stderr
        )


def test_count_box_and_whole_report_the_complex_as_json(tmp_path):
    path = tmp_path / "cube.json"
    save(MLP.from_layers([(np.eye(3), -0.5 * np.ones(3)), (np.ones((1, 3)), np.zeros(1))]), path)
    result = runner.invoke(app, ["count", str(path), "--box", "0;1", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["regions"], out["pieces"], out["vertices"], out["edges"]) == (8, 8, 27, 54)
    assert out["layer_regions"] == [8] and out["unbounded"] == 0
    result = runner.invoke(app, ["count", str(path), "--whole", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["regions"], out["unbounded"], out["vertices"], out["edges"]) == (8, 8, 1, 6)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--box", "0;1;2"], "--box needs two points"),
        (["--box", "0,0;1,1"], "low has 2 coordinates"),
        (["--box", "1;0"], "need low < high"),
        (["--box", "0;1", "--whole"], "give one of --plane, --box and --whole"),
    ],
)
def test_count_box_refuses_bad_boxes_in_one_line(tmp_path, flags, message):
    path = tmp_path / "cube.json"
    save(MLP.from_layers([(np.eye(3), np.zeros(3)), (np.ones((1, 3)), np.zeros(1))]), path)
    result = runner.invoke(app, ["count", str(path), *flags])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
