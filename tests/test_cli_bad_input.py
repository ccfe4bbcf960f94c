"""What a hostile user tried (issue 25), command by command: each ends in one line naming
the problem and exit status 2, never a traceback, a hang or a wrong answer with exit 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from bends.cli import app

LAYERS = [
    {"weight": [[2.0], [4.0]], "bias": [0.0, -2.0]},
    {"weight": [[1.0, -1.0]], "bias": [0.0]},
]
SAWTOOTH = {"format": "bends-network", "version": 1, "layers": LAYERS}


@pytest.fixture
def place(tmp_path):
    (tmp_path / "net.json").write_text(json.dumps(SAWTOOTH))
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    big = json.loads(json.dumps(SAWTOOTH))
    big["layers"][0]["weight"][0][0] = int("9" * 400)
    (tmp_path / "big400.json").write_text(json.dumps(big))
    (tmp_path / "bad.toml").write_bytes(b"\xff\xfe = 1\n")
    (tmp_path / "huge.toml").write_text("seeds = 100000000000000000000\n")
    (tmp_path / "afile").write_text("x")
    os.symlink(tmp_path / "loop_b", tmp_path / "loop_a")
    os.symlink(tmp_path / "loop_a", tmp_path / "loop_b")
    return tmp_path


BAD = [
    (["construct", "sawtooth", "--depth", "3", "-o", "/proc/bends/x.json"], "cannot write"),
    (["construct", "sawtooth", "--depth", "3", "-o", "{tmp}"], "not a regular file"),
    (["construct", "sawtooth", "--depth", "3", "-o", "/dev/null"], "not a regular file"),
    (["construct", "sawtooth", "--depth", "3", "-o", "{tmp}/loop_a/x.json"], "cannot write"),
    (
        ["construct", "sawtooth", "--depth", "99999999999999999999999", "-o", "{tmp}/s.json"],
        "out of range",
    ),
    (["count", "{tmp}/loop_a"], "loop_a"),
    (["count", "{tmp}/deep.json"], "nested too deeply"),
    (["count", "{tmp}/big400.json"], ""),
    (["count", "{tmp}/net.json", "--plot", "/dev/null"], "--plot needs"),
    (["run", "selfcheck", "--out", "{tmp}/afile"], "is not a folder"),
    (["run", "selfcheck", "--config", "{tmp}/bad.toml", "--out", "{tmp}/r"], "not UTF-8"),
    (
        ["run", "selfcheck", "--config", "{tmp}/huge.toml", "--out", "{tmp}/r"],
        "seeds must be at most",
    ),
    (["run", "selfcheck", "--config", "/dev/zero", "--out", "{tmp}/r"], "not a regular file"),
    (
        ["run", "selfcheck", "--set", "first_seed=99999999999999999999", "--out", "{tmp}/r"],
        "first_seed",
    ),
    (
        ["run", "selfcheck", "--set", "seeds=1000000000", "--out", "{tmp}/r"],
        "seeds must be at most",
    ),
    (["run", "selfcheck", "--set", "delay=inf", "--out", "{tmp}/r"], "delay must be finite"),
    (["run", "selfcheck", "--set", "steps=100000000", "--out", "{tmp}/r"], "steps must"),
    (["run", "selfcheck", "--set", "crash_marker=/proc/x", "--out", "{tmp}/r"], "crash_marker"),
    (["run", "count-depth", "--set", "radius=inf", "--out", "{tmp}/r"], "radius must be finite"),
    (["run", "count-depth", "--set", "width=99999999999", "--out", "{tmp}/r"], "width must"),
    (["run", "count-depth", "--set", "depths=40", "--out", "{tmp}/r"], "depths must lie in"),
    (["export", "{tmp}/nothing", "--out", "/proc/xx"], "holds no results"),
    ("dynamics bound --width 4 --depth 3 --t 10 --c nan --lipschitz 2".split(), "finite"),
    # refused from the slopes' growth before any iterate is computed (once 45 s and 5 GB)
    ("dynamics periods --p 40".split(), "needs more than"),
    ("dynamics periods --p 1000000".split(), "needs more than"),
    ("dynamics oscillations --t 100".split(), "needs more than"),
    ("dynamics oscillations --high inf".split(), "levels must be finite"),
    ("dynamics oscillations --low nan".split(), "levels must be finite"),
]


@pytest.mark.parametrize("command, words", BAD, ids=[" ".join(c[:3]) for c, _ in BAD])
def test_bad_input_is_one_line_and_exit_2(place, command, words):
    args = [part.format(tmp=place) for part in command]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and words in lines[0], result.output


def test_a_fifo_as_config_is_refused_without_reading_it(place):
    os.mkfifo(place / "fifo.toml")
    result = subprocess.run([sys.executable, "-m", "bends", "run", "selfcheck", "--config",
                             str(place / "fifo.toml"), "--out", str(place / "r")],
                            capture_output=True, text=True, timeout=30)  # fmt: skip
    assert result.returncode == 2 and "not a regular file" in result.stderr


def test_answers_that_used_to_be_wrong_with_exit_0(place):
    runner = CliRunner()
    out = runner.invoke(app, ["construct", "compositional-rnn", "--ratio", "0.5",
                              "-o", str(place / "c.json")]).output  # fmt: skip
    assert "closed form" not in out  # ratio > peak/2 breaks the triangles: no claim made
    out = runner.invoke(app, ["construct", "compositional-rnn", "--ratio", "0.25",
                              "-o", str(place / "c.json")]).output  # fmt: skip
    assert "16 pieces (closed form: 16)" in out
    out = runner.invoke(app, ["dynamics", "bound", "--width", "4", "--depth", "3", "--t",
                              "100000", "--c", "10", "--lipschitz", "10"]).output  # fmt: skip
    assert "c^t = 10^100000" in out and "holds" in out
    out = runner.invoke(app, ["dynamics", "growth", "--p", "1000001"]).output
    assert "1.0000113834" in out and "1.4142135624" in out


def test_a_ray_address_nothing_answers_at_is_refused_at_once(place):
    pytest.importorskip("ray")
    result = CliRunner().invoke(app, ["run", "selfcheck", "--backend", "ray", "--address",
                                      "127.0.0.1:1", "--out", str(place / "r")])  # fmt: skip
    assert result.exit_code == 2 and "cannot reach Ray at 127.0.0.1:1" in result.output
