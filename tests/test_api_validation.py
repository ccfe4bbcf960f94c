"""The public API validates at the edge: every wrong type is a TypeError, every wrong value a
BendsError, each naming what was wrong, never an AttributeError from deep inside."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bends import (
    MLP,
    BendsError,
    TiedRNN,
    from_torch,
    load,
    save,
    to_torch,
    trace,
    trace_plane,
    trace_segments,
)

NET = MLP.from_layers([(np.ones((2, 1)), np.zeros(2)), (np.ones((1, 2)), np.zeros(1))])

BAD_CALLS = [
    # (call, error type, words the message must contain)
    (lambda: trace(None), BendsError, "expected a network"),
    (lambda: trace("net.json"), BendsError, "expected a network"),
    (lambda: trace({}), BendsError, "expected a network"),
    (lambda: trace(NET, "a", [1.0]), BendsError, "start"),
    (lambda: trace(NET, [0.0], [0.0, 1.0]), BendsError, "end has 2 coordinates"),
    (lambda: trace(NET, [np.nan], [1.0]), BendsError, "start contains NaN"),
    (lambda: trace(NET, [0.0], [np.inf]), BendsError, "end contains NaN or infinite"),
    (lambda: trace(NET, [0j], [1.0]), BendsError, "start"),
    (lambda: trace(NET, [0.0], [0.0]), BendsError, "the same point"),
    (lambda: trace(NET, zero_tol=-1), BendsError, "zero_tol must lie in [0, 1)"),
    (lambda: trace(NET, zero_tol=float("nan")), BendsError, "zero_tol"),
    (lambda: trace(NET, slope_rtol=2.0), BendsError, "slope_rtol must lie in [0, 1)"),
    (lambda: trace(NET, slope_rtol="a"), TypeError, "slope_rtol must be a number"),
    (lambda: trace(NET, exact="yes"), TypeError, "exact must be True or False"),
    (lambda: trace(NET, pieces=None), TypeError, "pieces must be True or False"),
    (lambda: MLP(("a",), (np.zeros(1),)), BendsError, "layer 0 weight"),
    (lambda: MLP.from_layers([]), BendsError, "at least one layer"),
    (lambda: MLP.from_layers([(np.array([[np.inf]]), np.zeros(1))]), BendsError, "infinite"),
    (lambda: MLP.from_layers([(np.array([[1 + 1j]]), np.zeros(1))]), BendsError, "complex"),
    (
        lambda: MLP.from_layers([(np.zeros((0, 1)), np.zeros(0)), (np.zeros((1, 0)), np.zeros(1))]),
        BendsError,
        "every layer needs neurons",
    ),
    (lambda: MLP.from_layers([(np.ones((2, 1)), np.zeros(3))]), BendsError, "bias has 3"),
    (lambda: TiedRNN(np.eye(2), -1, 0), BendsError, "steps must be at least 1"),
    (lambda: TiedRNN(np.eye(2), 1.5, 0), BendsError, "steps must be an integer"),
    (lambda: TiedRNN(np.eye(2), "a", 0), BendsError, "steps must be an integer"),
    (lambda: TiedRNN(np.eye(2), 2, 5), BendsError, "output 5"),
    (lambda: TiedRNN(np.ones((2, 3)), 2, 0), BendsError, "square"),
    (lambda: TiedRNN(np.eye(2) * 1j, 2, 0), BendsError, "complex"),
    (lambda: load(None), TypeError, "NoneType"),
    (lambda: load("/no/such/file.json"), BendsError, "no such file"),
    (lambda: save(None, "net.json"), TypeError, "net must be a bends MLP or TiedRNN"),
    (lambda: from_torch(None), BendsError, "expected nn.Sequential"),
    (lambda: to_torch(None), TypeError, "net must be a bends MLP or TiedRNN"),
    (lambda: to_torch(NET, dtype="float64"), TypeError, "dtype"),
    (lambda: to_torch(NET, dtype=torch.int64), TypeError, "dtype"),
]


@pytest.mark.parametrize("call, error, words", BAD_CALLS)
def test_bad_arguments_are_refused_by_name(call, error, words):
    with pytest.raises(error) as caught:
        call()
    assert words in str(caught.value)


def test_complex_weights_in_a_torch_module_are_refused_not_dropped():
    module = torch.nn.Sequential(torch.nn.Linear(1, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    leaky = torch.nn.Sequential(torch.nn.Linear(1, 3), torch.nn.LeakyReLU(), torch.nn.Linear(3, 1))
    for m in (module, leaky):
        m[0].weight.data = m[0].weight.data.to(torch.complex128)
    with pytest.raises(BendsError, match="complex"):
        from_torch(module)
    with pytest.raises(BendsError, match=r"`0\.weight` is complex"):
        trace(leaky, [0.0], [1.0])


def test_subnormal_weights_are_flagged_as_unresolved():
    from bends.errors import ResolutionWarning

    net = MLP.from_layers([(np.array([[1e-310], [1.0]]), np.array([0.0, -0.5])),
                           (np.array([[1.0, 1.0]]), np.zeros(1))])  # fmt: skip
    with pytest.warns(ResolutionWarning, match="subnormal"):
        trace(net, [-1.0], [1.0])


def test_a_ragged_bias_is_a_user_error():
    """A list numpy cannot make an array of (found by the CLI fuzzer in a JSON file)."""
    with pytest.raises(BendsError, match="layer 0 bias must be an array of numbers"):
        MLP((np.eye(2),), ([None, []],))


PLANE_NET = MLP.from_layers([(np.eye(2), np.zeros(2)), (np.ones((1, 2)), np.zeros(1))])
ENTRY_POINTS = {
    "trace_plane": lambda **k: trace_plane(PLANE_NET, [0, 0], [1, 0], [0, 1], **k),
    "trace_segments": lambda **k: trace_segments(NET, [[0.0]], [[1.0]], **k),
}


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_every_entry_point_checks_its_tolerances_and_flags(name):
    """trace_plane and trace_segments check what trace checks, in the same words."""
    call = ENTRY_POINTS[name]
    with pytest.raises(BendsError, match="zero_tol must lie in"):
        call(zero_tol=-1.0)
    with pytest.raises(BendsError, match="slope_rtol must lie in"):
        call(slope_rtol=1.5)
    with pytest.raises(TypeError, match="slope_rtol must be a number"):
        call(slope_rtol="a")
    with pytest.raises(TypeError, match="exact must be True or False"):
        call(exact="yes")


def test_tolerances_are_keyword_only():
    with pytest.raises(TypeError):
        trace_plane(PLANE_NET, [0, 0], [1, 0], [0, 1], 2**-40)
