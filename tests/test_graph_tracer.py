"""The graph tracer (bends.tracing._graph.tracer) on torch modules: equal to the MLP tracer on MLPs,
equal to torch's forward pass at the knots, affine between them, and no nonlinearity changes
branch inside an interval; unsupported layers are named."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import conv_pool_stack, graph_models, mlps, small_graphs
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import fx, nn

import bends
from bends.nets.graph import GraphNetwork, kind
from bends.nets.torch_io import to_torch
from bends.tracing import trace
from bends.tracing._graph.tracer import trace_graph


@settings(max_examples=60, deadline=None)
@given(net=mlps())
def test_graph_tracer_equals_the_mlp_tracer_on_mlps(net):
    start, end = np.full(net.input_dim, -1.0), np.full(net.input_dim, 1.5)
    fast = trace(net, start, end)
    graph = trace_graph(GraphNetwork.from_module(to_torch(net), (net.input_dim,)), start, end)
    assert (graph.pieces, graph.regions) == (fast.pieces, fast.regions)
    np.testing.assert_allclose(graph.knots, fast.knots, rtol=0, atol=1e-12)
    np.testing.assert_allclose(graph.values, fast.values, rtol=1e-12, atol=1e-12)


def _kinks(model: fx.GraphModule, node: fx.Node) -> list[float]:
    """Where a kink node's input changes branch (0 for a maximum's difference)."""
    module = model.get_submodule(node.target) if node.op == "call_module" else None
    if isinstance(module, nn.Hardtanh):  # ReLU6 too
        return [module.min_val, module.max_val]
    if node.target in ("clamp", torch.clamp):
        return [-0.5, 0.75]
    return [0.0]


def _kink_inputs(model: fx.GraphModule, x: torch.Tensor) -> list[tuple[torch.Tensor, list]]:
    """Every kink node's input (a maximum: its inputs' difference) at x, with its kinks."""
    seen = []

    class Recorder(fx.Interpreter):
        def run_node(self, node):
            if kind(model, node) == "kink":
                args = [self.env[a] for a in node.all_input_nodes]
                value = args[0] - args[1] if len(args) > 1 else args[0]
                seen.append((value, _kinks(model, node)))
            return super().run_node(node)

    Recorder(model).run(x)
    return seen


def _check_graph_trace(model: nn.Module, start: np.ndarray, end: np.ndarray) -> bends.Trace:
    net = GraphNetwork.from_module(model, start.shape)
    tr = trace(model, start, end)
    shape = (-1, *start.shape)
    with torch.no_grad():
        at_knots = net.module(torch.tensor(tr.points().reshape(shape)))
        np.testing.assert_allclose(tr.values, at_knots.reshape(len(tr.knots), -1),
                                   rtol=1e-12, atol=1e-12)  # fmt: skip
        # affine between knots, and on one branch of every nonlinearity inside each interval
        quarters = [tr.knots[:-1] + f * np.diff(tr.knots) for f in (0.25, 0.5, 0.75)]
        inputs = [_kink_inputs(net.module, torch.tensor(tr.points(q).reshape(shape)))
                  for q in quarters]  # fmt: skip
        for q in quarters:
            dense = net.module(torch.tensor(tr.points(q).reshape(shape))).reshape(len(q), -1)
            np.testing.assert_allclose(tr(q), dense, rtol=1e-9, atol=1e-9)
    for (first, kinks), (_, _), (third, _) in zip(*inputs, strict=True):
        for c in kinks:  # strictly opposite sides at the first and third quarter: a crossing
            changed = ((first - c) * (third - c) < 0) & ((first - c).abs() > 1e-9)
            changed &= (third - c).abs() > 1e-9
            assert not changed.any(), "a nonlinearity changes branch inside an interval"
    assert 1 <= tr.pieces <= tr.regions
    return tr


@settings(max_examples=40, deadline=None)
@given(model=graph_models(), seed=st.integers(0, 2**32 - 1))
def test_graph_traces_agree_with_torch_and_keep_every_branch(model, seed):
    start, end = np.random.default_rng(seed).normal(size=(2, 2)) * 2
    _check_graph_trace(model, start, end)


def test_a_cnn_with_batchnorm_and_max_pooling():
    torch.manual_seed(0)
    cnn = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3), nn.LeakyReLU(0.05), nn.AdaptiveMaxPool2d(1), nn.Flatten(),
        nn.Linear(6, 3),
    ).eval()  # fmt: skip
    with torch.no_grad():
        cnn[1].running_mean.uniform_(-0.5, 0.5)
    start, end = np.random.default_rng(1).normal(size=(2, 1, 8, 8))
    tr = _check_graph_trace(cnn, start, end)
    assert tr.regions > 10 and tr.pieces > 5


@pytest.mark.parametrize(
    ("module", "message"),
    [
        (nn.Sequential(nn.Linear(2, 3), nn.GELU(), nn.Linear(3, 1)), "`1` is GELU"),
        (nn.Sequential(nn.Linear(2, 3), nn.Tanh()), "`1` is Tanh"),
        (nn.Sequential(nn.Linear(2, 3), nn.LayerNorm(3)), "`1` is LayerNorm"),
        (nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)).train(), "training mode"),
        (nn.Sequential(nn.Linear(2, 3), nn.Softmax(dim=1)), "`1` is Softmax"),
    ],
)
def test_layers_that_are_not_piecewise_linear_are_named(module, message):
    with pytest.raises(bends.BendsError, match=message):
        trace(module, np.zeros(2), np.ones(2))


def test_a_product_of_two_tensors_is_refused():
    class Square(nn.Module):
        def forward(self, x):
            return x * x

    with pytest.raises(bends.BendsError, match="multiplies two tensors"):
        trace(Square(), np.zeros(2), np.ones(2))


@settings(max_examples=40, deadline=None)
@given(model=small_graphs(), seed=st.integers(0, 2**32 - 1), dyadic_ends=st.booleans())
def test_graph_traces_equal_exact_rational_arithmetic(model, seed, dyadic_ends):
    rng = np.random.default_rng(seed)
    start, end = (rng.integers(-4, 5, size=(2, 2)) / 2) if dyadic_ends else rng.normal(size=(2, 2))
    if np.array_equal(start, end):
        end = start + 1.0
    fast, exact = trace(model, start, end), trace(model, start, end, exact=True)
    assert (fast.pieces, fast.regions) == (exact.pieces, exact.regions)
    np.testing.assert_allclose(fast.knots, exact.knots, rtol=0, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), dyadic=st.booleans())
def test_conv_pool_stacks_equal_exact_rational_arithmetic(seed, dyadic):
    cnn = conv_pool_stack(seed, channels=2, dyadic=dyadic)
    start, end = np.random.default_rng(seed).normal(size=(2, 1, 4, 4))
    fast, exact = trace(cnn, start, end), trace(cnn, start, end, exact=True)
    assert (fast.pieces, fast.regions) == (exact.pieces, exact.regions)


def test_exported_programs_trace_like_their_modules(tmp_path):
    """bends count model.pt2 (torch.export.save) gives what bends.trace(module) gives."""
    import json

    from typer.testing import CliRunner

    from bends.cli import app

    torch.manual_seed(3)
    cnn = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.LeakyReLU(0.1), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(18, 3),
    ).eval()  # fmt: skip
    with torch.no_grad():
        cnn[1].running_mean.uniform_(-1, 1)
    program = torch.export.export(cnn, (torch.zeros(1, 1, 6, 6),))
    torch.export.save(program, tmp_path / "cnn.pt2")
    start, end = np.random.default_rng(0).normal(size=(2, 1, 6, 6))
    direct = trace(cnn, start, end)
    loaded = bends.load(tmp_path / "cnn.pt2")
    assert loaded.input_shape == (1, 6, 6)
    via_file = trace(loaded, start.ravel(), end.ravel())
    assert (via_file.pieces, via_file.regions) == (direct.pieces, direct.regions)
    np.testing.assert_array_equal(via_file.knots, direct.knots)
    points = [",".join(map(str, p.ravel())) for p in (start, end)]
    result = CliRunner().invoke(
        app, ["count", str(tmp_path / "cnn.pt2"), "--from", points[0], "--to", points[1], "--json"]
    )
    assert result.exit_code == 0, result.output
    counted = json.loads(result.stdout)
    assert (counted["pieces"], counted["regions"]) == (direct.pieces, direct.regions)
    exact = trace(loaded, start.ravel(), end.ravel(), exact=True)
    assert (exact.pieces, exact.regions) == (direct.pieces, direct.regions)


def test_functional_layers_with_their_own_weights():
    class Functional(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w, self.b = nn.Parameter(torch.randn(5, 2)), nn.Parameter(torch.randn(5))
            self.v = nn.Parameter(torch.randn(2, 5))

        def forward(self, x):
            h = torch.nn.functional.leaky_relu(torch.nn.functional.linear(x, self.w, self.b), 0.2)
            return torch.nn.functional.linear(torch.maximum(h, -h), self.v) + 0.5

    torch.manual_seed(4)
    model = Functional().double()
    tr = _check_graph_trace(model, np.array([-1.0, 0.5]), np.array([2.0, -1.0]))
    exact = trace(model, [-1.0, 0.5], [2.0, -1.0], exact=True)
    assert (tr.pieces, tr.regions) == (exact.pieces, exact.regions)
    assert tr.output_pieces().tolist() == exact.output_pieces().tolist()


def test_count_reads_image_ends_from_npy_and_names_bad_files(tmp_path):
    from typer.testing import CliRunner

    from bends.cli import app

    runner = CliRunner()
    torch.manual_seed(5)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1)).eval()
    torch.export.save(torch.export.export(model, (torch.zeros(1, 2, 2),)), tmp_path / "m.pt2")
    np.save(tmp_path / "a.npy", -np.ones((2, 2)))
    np.save(tmp_path / "b.npy", np.ones((2, 2)))
    ends = ["--from", str(tmp_path / "a.npy"), "--to", str(tmp_path / "b.npy")]
    counted = runner.invoke(app, ["count", str(tmp_path / "m.pt2"), *ends])
    assert counted.exit_code == 0 and "pieces" in counted.stdout
    (tmp_path / "broken.pt2").write_bytes((tmp_path / "m.pt2").read_bytes()[:300])
    for args, message in (
        (["count", str(tmp_path / "broken.pt2"), *ends], "broken.pt2"),
        (["count", str(tmp_path / "m.pt2"), "--from", str(tmp_path / "nope.npy"), "--to", "1"],
         "cannot read"),
    ):  # fmt: skip
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and message in result.stderr, result.output
        assert len(result.stderr.strip().splitlines()) == 1


class _Recurrent(nn.Module):
    def __init__(self, rnn: nn.RNNBase, last_state: bool) -> None:
        super().__init__()
        self.rnn, self.last_state, self.head = rnn, last_state, nn.Linear(rnn.hidden_size, 2)

    def forward(self, x):
        out, h = self.rnn(x)
        return self.head(
            h[-1] if self.last_state else out[:, -1] if self.rnn.batch_first else out[-1]
        )


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), layers=st.integers(1, 2), last_state=st.booleans(),
       bias=st.booleans())  # fmt: skip
def test_untied_relu_rnns_are_traced_in_the_space_of_input_sequences(
    seed, layers, last_state, bias
):
    torch.manual_seed(seed)
    rnn = nn.RNN(2, 4, num_layers=layers, nonlinearity="relu", batch_first=True, bias=bias)
    model = _Recurrent(rnn, last_state).double().eval()
    start, end = np.random.default_rng(seed).normal(size=(2, 4, 2))  # sequences of 4 steps
    tr = _check_graph_trace(model, start, end)
    exact = trace(model, start, end, exact=True)
    assert (tr.pieces, tr.regions) == (exact.pieces, exact.regions)


@pytest.mark.parametrize(
    ("rnn", "message"),
    [
        (nn.RNN(2, 3, batch_first=True), "nonlinearity='relu'"),
        (nn.RNN(2, 3, nonlinearity="relu"), "batch_first=True"),
        (nn.LSTM(2, 3, batch_first=True), "LSTM"),
        (nn.GRU(2, 3, batch_first=True), "GRU"),
    ],
)
def test_recurrent_layers_that_are_not_piecewise_linear_are_named(rnn, message):
    with pytest.raises(bends.BendsError, match=message):
        trace(_Recurrent(rnn, last_state=False), np.zeros((4, 2)), np.ones((4, 2)))


def test_onnx_models_trace_like_the_modules_they_were_exported_from(tmp_path):
    import warnings

    pytest.importorskip("onnx")
    torch.manual_seed(6)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.LeakyReLU(0.125), nn.MaxPool2d(2), nn.Conv2d(2, 3, 2),
        nn.ReLU6(), nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(3, 2),
    ).double().eval()  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(model, (torch.zeros(1, 1, 6, 6, dtype=torch.float64),),
                          tmp_path / "m.onnx", dynamo=False)  # fmt: skip
    start, end = np.random.default_rng(6).normal(size=(2, 1, 6, 6))
    # ONNX keeps attributes (LeakyReLU's slope) in float32: 0.125 is exact there
    direct, loaded = trace(model, start, end), bends.load(tmp_path / "m.onnx")
    via_onnx = trace(loaded, start.ravel(), end.ravel())
    assert (via_onnx.pieces, via_onnx.regions) == (direct.pieces, direct.regions)
    np.testing.assert_allclose(via_onnx.knots, direct.knots, rtol=0, atol=1e-12)
    (tmp_path / "bad.onnx").write_bytes(b"not a protobuf at all")
    with pytest.raises(bends.BendsError, match="not an ONNX model"):
        bends.load(tmp_path / "bad.onnx")


def test_onnx_prelu_traces_like_the_module(tmp_path):
    import warnings

    pytest.importorskip("onnx")
    torch.manual_seed(7)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.PReLU(2, 0.25), nn.Flatten(), nn.Linear(32, 3),
                          nn.PReLU(1, -0.5), nn.Linear(3, 1)).double().eval()  # fmt: skip
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([0.25, 0.5], dtype=torch.float64))  # float32-exact
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 1, 6, 6, dtype=torch.float64),),
                          tmp_path / "p.onnx", dynamo=False)  # fmt: skip
    start, end = np.random.default_rng(7).normal(size=(2, 1, 6, 6))
    direct = trace(model, start, end)
    via_onnx = trace(bends.load(tmp_path / "p.onnx"), start.ravel(), end.ravel())
    assert (via_onnx.pieces, via_onnx.regions) == (direct.pieces, direct.regions)
    np.testing.assert_allclose(via_onnx.knots, direct.knots, rtol=0, atol=1e-12)
