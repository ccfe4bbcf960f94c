"""A graph trace cut into parts to stay within the memory budget equals the trace run whole:
under a budget that holds only a few knots per node, the 1-D graph tracer cuts its knots in
two at a knot (again and again) and runs the rest of the graph on each part in turn; on
hypothesis-generated graphs (every kink type, residual blocks, branches, zero and duplicated
neurons, dyadic weights whose crossings fall on knots and tie) and on conv/pool stacks
(ties in max-pool windows), the knots, region and piece breaks and every per-neuron
statistic equal the unbounded run's, for one segment and for a batch of segments. A budget
that cannot hold even one interval is refused in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import conv_pool_stack, small_graphs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bends
from bends.errors import BendsError
from bends.nets.graph import GraphNetwork
from bends.tracing._graph import tracer
from bends.tracing._graph.knots import Knots

_SPLIT = Knots.split


def _traces(net: GraphNetwork, starts, ends, budget: int | None, monkeypatch):
    """The traces under ``budget`` bytes (None: unbounded), and how often they were cut."""
    if budget is None:
        monkeypatch.delenv("BENDS_MEMORY_BUDGET", raising=False)
    else:
        monkeypatch.setenv("BENDS_MEMORY_BUDGET", str(budget))
    cuts = []

    def counted(self):
        cuts.append(len(self.t))
        return _SPLIT(self)

    monkeypatch.setattr(Knots, "split", counted)
    return tracer.trace_graph_segments(net, starts, ends), len(cuts)


def _assert_same(split, whole) -> None:
    """Equal traces: knots, breaks, counts and every kink statistic. Not ``merged``, the count
    of crossings merged within rounding: a cut recomputes crossings from a shorter interval,
    and two that rounding put 10⁻¹⁶ apart in one run can coincide in the other."""
    np.testing.assert_array_equal(split.offsets, whole.offsets)
    np.testing.assert_allclose(split.knots, whole.knots, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(split.region_breaks, whole.region_breaks)
    np.testing.assert_array_equal(split.piece_breaks, whole.piece_breaks)
    np.testing.assert_array_equal(split.regions, whole.regions)
    np.testing.assert_array_equal(split.pieces, whole.pieces)
    for found, expected in zip(split.switches, whole.switches, strict=True):
        np.testing.assert_array_equal(found, expected)
    for found, expected in zip(split.dead, whole.dead, strict=True):
        np.testing.assert_array_equal(found, expected)
    for found, expected in zip(split.always_on, whole.always_on, strict=True):
        np.testing.assert_array_equal(found, expected)


def _small_budget(net: GraphNetwork, knots: int) -> int:
    """A budget that holds ``knots`` knots at the node needing most per knot (a batch of
    three segments starts with six knots: it is cut at once)."""
    return int(knots * max(tracer._knot_bytes(net)))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(model=small_graphs(), seed=st.integers(0, 2**16), knots=st.sampled_from([2, 3, 5]))
def test_a_split_trace_equals_the_whole_on_generated_graphs(model, seed, knots, monkeypatch):
    net = GraphNetwork.from_module(model, (2,))
    ends = np.random.default_rng(seed).normal(scale=3.0, size=(2, 3, 2))
    whole, uncut = _traces(net, ends[0], ends[1], None, monkeypatch)
    split, cuts = _traces(net, ends[0], ends[1], _small_budget(net, knots), monkeypatch)
    assert uncut == 0 and cuts >= 1
    _assert_same(split, whole)


@pytest.mark.parametrize("dyadic", [False, True], ids=["random", "dyadic: ties"])
def test_a_split_trace_through_max_pools_equals_the_whole(dyadic, monkeypatch):
    net = GraphNetwork.from_module(conv_pool_stack(3, 4, dyadic), (1, 4, 4))
    rng = np.random.default_rng(3)
    starts, ends = rng.normal(size=(2, 4, 1, 4, 4))
    if dyadic:  # quarter-grid inputs: windows tie, crossings land on knots
        starts, ends = np.round(starts * 4) / 4, np.round(ends * 4) / 4
    whole, _ = _traces(net, starts, ends, None, monkeypatch)
    split, cuts = _traces(net, starts, ends, _small_budget(net, 4), monkeypatch)
    assert cuts > 10
    _assert_same(split, whole)


def test_a_budget_that_cannot_hold_one_interval_is_one_line(monkeypatch):
    net = GraphNetwork.from_module(conv_pool_stack(0, 4, False), (1, 4, 4))
    monkeypatch.setenv("BENDS_MEMORY_BUDGET", "1000")
    with pytest.raises(BendsError, match=r"needs about .* over the budget"):
        bends.trace(net, torch.zeros(1, 4, 4).numpy(), torch.ones(1, 4, 4).numpy())
