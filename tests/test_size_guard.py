"""The memory guard: its estimate brackets the measured peak of real traces, and work over
the budget is refused in one line before it takes the memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bends.budget import check_memory, memory_budget
from bends.errors import BendsError

MEASURE = r"""
import json, resource, sys
def high_water_mark():  # VmHWM: peak resident memory of this program (reset by exec)
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM"))
from bends import trace
from bends.constructions import sawtooth
from bends.tracing import estimated_bytes
trace(sawtooth(3))  # load the kernels before the baseline
with open("/proc/self/statm") as f:
    before = int(f.read().split()[1]) * resource.getpagesize()
tr = trace(sawtooth(int(sys.argv[1])))
peak = high_water_mark()
print(json.dumps({"used": peak - before, "estimate": estimated_bytes(tr.network, len(tr.knots))}))
"""


@pytest.mark.parametrize("depth", [18, 20, 21])
def test_the_estimate_brackets_the_measured_peak(depth):
    out = subprocess.run([sys.executable, "-c", MEASURE, str(depth)], capture_output=True,
                         text=True, check=True, timeout=120).stdout  # fmt: skip
    measured = json.loads(out.strip().splitlines()[-1])
    ratio = measured["estimate"] / measured["used"]
    assert 1.0 <= ratio <= 1.5, measured  # never under, at most half again over


REFUSED = r"""
import resource, sys
def high_water_mark():  # VmHWM: peak resident memory of this program (reset by exec)
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM"))
from bends import trace
from bends.constructions import sawtooth
from bends.errors import BendsError
trace(sawtooth(3))
try:
    trace(sawtooth(24))
except BendsError as err:
    print(err)
print(high_water_mark())
"""


def test_a_trace_over_the_budget_is_refused_before_it_takes_the_memory():
    budget = 64 * 2**20
    result = subprocess.run(
        [sys.executable, "-c", REFUSED], capture_output=True, text=True, timeout=120,
        env={**os.environ, "BENDS_MEMORY_BUDGET": str(budget)},
    )  # fmt: skip
    message, peak = result.stdout.strip().splitlines()
    assert "needs more than" in message and "BENDS_MEMORY_BUDGET=" in message
    baseline = 400 * 2**20  # Python, NumPy, numba and the kernels, generously
    assert int(peak) < baseline + budget  # the full trace would need 1.8 GiB


@pytest.mark.parametrize(
    "command",
    [
        ["construct", "sawtooth", "--depth", "40", "-o", "{tmp}/n.json"],
        ["construct", "staircase", "--j", "40", "-o", "{tmp}/n.json"],
        ["construct", "yarotsky", "--m", "45", "-o", "{tmp}/n.json"],
        ["construct", "candidate", "--m", "30", "--rnn", "-o", "{tmp}/n.json"],
        ["dynamics", "oscillations", "--t", "100"],
        ["dynamics", "periods", "--p", "40"],
    ],
)
def test_cli_work_over_the_budget_is_one_line(command, tmp_path):
    args = [part.format(tmp=tmp_path) for part in command]
    result = subprocess.run([sys.executable, "-m", "bends", *args], capture_output=True,
                            text=True, timeout=60,
                            env={**os.environ, "BENDS_MEMORY_BUDGET": "1G"})  # fmt: skip
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "BENDS_MEMORY_BUDGET=" in line


def test_a_tied_rnn_of_a_billion_steps_is_refused_at_once(tmp_path):
    import numpy as np

    from bends import TiedRNN, trace

    with pytest.raises(BendsError, match=r"needs about .* GiB"):
        trace(TiedRNN(np.eye(3), 10**9, 0))


def test_the_budget_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("BENDS_MEMORY_BUDGET", "1.5G")
    assert memory_budget() == int(1.5 * 2**30)
    with pytest.raises(BendsError, match=r"over the budget of 1\.5 GiB"):
        check_memory(2 * 2**30, "this")
    for bad in ("lots", "-1G", "nan"):
        monkeypatch.setenv("BENDS_MEMORY_BUDGET", bad)
        with pytest.raises(BendsError, match="BENDS_MEMORY_BUDGET"):
            memory_budget()
    monkeypatch.delenv("BENDS_MEMORY_BUDGET")
    assert 0 < memory_budget() < os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
