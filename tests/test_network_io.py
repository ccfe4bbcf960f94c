"""JSON format validation, torch conversion and state_dict round trips."""

from __future__ import annotations

import json
import pickle
import warnings

import numpy as np
import pytest
import torch
from conftest import mlps, tied_rnns
from hypothesis import given, settings

from bends import MLP, BendsError, TiedRNN, load, save, trace
from bends.nets import from_dict
from bends.nets.torch_io import from_torch, to_torch
from bends.tracing._arguments import segment


@settings(max_examples=50, deadline=None)
@given(net=mlps())
def test_json_and_state_dict_round_trips_keep_every_weight(net, tmp_path_factory):
    folder = tmp_path_factory.mktemp("nets")
    for name in ("net.json", "net.pt"):
        save(net, folder / name)
        back = load(folder / name)
        for a, b in zip(net.weights + net.biases, back.weights + back.biases, strict=True):
            np.testing.assert_array_equal(a, b)


@settings(max_examples=50, deadline=None)
@given(net=mlps())
def test_torch_round_trip_computes_the_same_function(net):
    seq = to_torch(net)
    x = np.random.default_rng(0).normal(size=(64, net.input_dim))
    np.testing.assert_allclose(
        seq(torch.from_numpy(x)).detach().numpy(), net(x), rtol=1e-12, atol=1e-12
    )
    back = from_torch(seq)
    assert all(np.array_equal(a, b) for a, b in zip(net.weights, back.weights, strict=True))


@settings(max_examples=30, deadline=None)
@given(net=tied_rnns())
def test_tied_rnn_json_round_trip_and_torch_unrolling(net, tmp_path_factory):
    path = tmp_path_factory.mktemp("rnn") / "rnn.json"
    save(net, path)
    back = load(path)
    assert isinstance(back, TiedRNN) and back.steps == net.steps and back.output == net.output
    np.testing.assert_array_equal(back.weight, net.weight)
    x = np.abs(np.random.default_rng(1).normal(size=(8, net.width)))
    expected = net(x)  # the two sum in different orders: cancellation leaves ~1e-17
    atol = 1e-12 * (1 + np.abs(expected).max())
    np.testing.assert_allclose(to_torch(net)(torch.from_numpy(x)).detach().numpy(), expected,
                               atol=atol)  # fmt: skip


def test_state_dict_of_a_trained_float32_sequential_loads(tmp_path):
    torch.manual_seed(0)
    seq = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    torch.save(seq.state_dict(), tmp_path / "model.pt")
    net = load(tmp_path / "model.pt")
    assert net.widths == [8] and net.input_dim == 2
    assert trace(net, [-1.0, -1.0], [1.0, 1.0]).pieces >= 1


def test_pickled_module_is_refused_without_unpickling(tmp_path):
    seq = torch.nn.Sequential(torch.nn.Linear(1, 2))
    torch.save(seq, tmp_path / "whole_module.pt")  # a pickled object, not weights
    with pytest.raises(BendsError, match="pickled model object"):
        load(tmp_path / "whole_module.pt")


def test_batched_networks_iterate_over_models():
    w1, b1 = np.ones((3, 2, 1)), np.zeros((3, 2))
    w2, b2 = np.ones((3, 1, 2)), np.zeros((3, 1))
    batch = MLP((w1, w2), (b1, b2))
    assert batch.batch_shape == (3,) and len(list(batch)) == 3
    with pytest.raises(BendsError, match="batch shape"):
        trace(batch)


DOC = {"format": "bends-network", "version": 1}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "JSON object"),
        ({**DOC, "format": "onnx"}, "format"),
        ({**DOC, "version": 2}, "version"),
        (DOC, "exactly one of"),
        ({**DOC, "layers": []}, "non-empty"),
        ({**DOC, "layers": [{"weight": [[1, 2], [3]]}]}, "same, non-zero length"),
        ({**DOC, "layers": [{"weight": [[1, "a"]]}]}, "only numbers"),
        ({**DOC, "layers": [{"weight": [[1]], "bias": [1, 2]}]}, "bias has 2 entries"),
        ({**DOC, "layers": [{"weight": [[1]]}, {"weight": [[1, 1]]}]}, "takes 2 inputs"),
        ({**DOC, "layers": [{"weight": [[1]], "extra": 1}]}, "unknown keys"),
        ({**DOC, "tied": {"weight": [[1, 2]], "steps": 2}}, "square"),
        ({**DOC, "tied": {"weight": [[1]], "steps": -3}}, "at least 1"),
        ({**DOC, "tied": {"weight": [[1]], "steps": 1.5}}, "integer"),
        ({**DOC, "tied": {"weight": [[1]], "steps": 1, "output": 4}}, "not a coordinate"),
    ],
)
def test_malformed_documents_get_one_clear_message(doc, message):
    with pytest.raises(BendsError, match=message):
        from_dict(json.loads(json.dumps(doc)))


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ([[0.0]], [1.0], r"start has shape \(1, 1\) but the network takes 1 input$"),
        ([0.0, 1.0], [1.0], "start has 2 coordinates but the network takes 1 input$"),
        (["a"], [1.0], "list of numbers"),
        ([np.inf], [1.0], "NaN or infinite"),
        ([[0.0]], [[1.0]], r"start has shape \(1, 1\)"),
        ([np.inf], [1.0], "start contains NaN or infinite"),
        ([1.0], [np.nan], "end contains NaN or infinite"),
        ([0.5], [0.5], "same point"),
        ([0.0], [-0.0], "same point"),
        ([-1e308], [1e308], "overflows"),
        ([0.0], None, "both ends"),
    ],
)
def test_bad_segments_get_one_clear_message(start, end, message):
    with pytest.raises(BendsError, match=message):
        trace(_hinge(), start, end)


@pytest.mark.parametrize(
    ("start", "end"),
    [(0.0, 1.0), ([0.0], 1.0), (np.zeros(1), [1.0]), ([-1e307], [1e307]), ([0.0], [1e-300])],
)
def test_any_segment_of_finite_distinct_ends_is_accepted(start, end):
    """Scalars and lists mixed, ends 2e307 apart, ends 1e-300 apart."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings from the checks either
        checked = segment(_hinge(), start, end)
    assert [p.tolist() for p in checked] == [np.ravel(start).tolist(), np.ravel(end).tolist()]


def test_network_arrays_are_read_only():
    """A network is a value (the tracer keeps what it derives from one): change a copy."""
    net = _hinge()
    with pytest.raises(ValueError, match="read-only"):
        net.weights[0][0, 0] = 2.0
    tied = TiedRNN(np.eye(2), steps=3)
    with pytest.raises(ValueError, match="read-only"):
        tied.weight[0, 0] = 2.0
    for copy in (pickle.loads(pickle.dumps(net)), pickle.loads(pickle.dumps(tied))):
        with pytest.raises(ValueError, match="read-only"):
            next(copy.hidden_layers())[0][0, 0] = 2.0


def _hinge() -> MLP:
    return MLP.from_layers(
        [(np.ones((2, 1)), np.array([0.0, -0.5])), (np.ones((1, 2)), np.zeros(1))]
    )


def test_state_dicts_under_prefixes_in_checkpoints_and_with_any_suffix(tmp_path):
    from bends.errors import AssumptionWarning

    torch.manual_seed(0)
    seq = torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.ReLU(), torch.nn.Linear(5, 1))
    wrapped = torch.nn.Module()
    wrapped.body = seq
    expected = from_torch(seq)
    cases = {
        "plain.pt": seq.state_dict(),
        "wrapped.pth": wrapped.state_dict(),  # body.0.weight, ...
        "checkpoint.ckpt": {"model": wrapped.state_dict(), "epoch": 3, "lr": 1e-3},
        "weights.bin": {"state_dict": seq.state_dict()},
        "no_suffix": seq.state_dict(),
    }
    for name, payload in cases.items():
        torch.save(payload, tmp_path / name)
        with pytest.warns(AssumptionWarning, match="assuming ReLU"):
            net = load(tmp_path / name)
        for a, b in zip(net.weights + net.biases, expected.weights + expected.biases, strict=True):
            np.testing.assert_array_equal(a, b)


def test_files_torch_cannot_load_safely_get_one_line(tmp_path):
    seq = torch.nn.Sequential(torch.nn.Linear(2, 1))
    torch.save(seq, tmp_path / "model.ckpt")
    with pytest.raises(BendsError, match=r"pickled model object.*state_dict\(\)"):
        load(tmp_path / "model.ckpt")
    torch.save({"epoch": 3, "optimizer": {"lr": 1.0}}, tmp_path / "other.pt")
    with pytest.raises(BendsError, match="without a state_dict"):
        load(tmp_path / "other.pt")
    torch.save({"0.weight": torch.ones(2, 2, dtype=torch.complex64)}, tmp_path / "complex.pt")
    with pytest.raises(BendsError, match="complex or sparse"):
        load(tmp_path / "complex.pt")
    (tmp_path / "text.pt").write_text("not torch")
    with pytest.raises(BendsError, match=r"not a file torch\.save wrote"):
        load(tmp_path / "text.pt")
