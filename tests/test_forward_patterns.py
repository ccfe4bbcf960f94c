"""The forward code researchers write is read, and read the same from every file a model is
saved as: each pattern below (shape arithmetic on the batch axis, in-place and functional
ReLU, reused modules, nested Sequentials, cat/stack branches, adaptive pools, PReLU,
Linear → BatchNorm1d) is a small module whose 1-D trace equals the exact rational trace and
the region walker; the same module exported by ``torch.export`` from a batch of one (its
shapes fixed to that batch), and to ONNX by both of torch's exporters (TorchScript and
dynamo, with a fixed and with a dynamic batch), traces to the same regions and values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import bends
from bends.errors import BendsError
from bends.nets import files
from bends.nets.graph import GraphNetwork
from bends.tracing._graph.walker import walk


class ViewBySize(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.head = nn.Conv2d(1, 2, 3), nn.Linear(2 * 4 * 4, 2)

    def forward(self, x):
        x = F.relu(self.conv(x))
        return self.head(x.view(x.size(0), -1))


class ReshapeByShape(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner, self.conv, self.head = nn.Linear(6, 36), nn.Conv2d(1, 2, 3), nn.Linear(32, 1)

    def forward(self, x):
        x = F.relu(self.inner(x)).reshape(x.shape[0], 1, 6, 6)
        return self.head(torch.flatten(torch.relu(self.conv(x)), 1))


class ReshapeByLen(nn.Module):  # torch.fx cannot follow len(x): captured by torch.export
    def __init__(self) -> None:
        super().__init__()
        self.inner, self.head = nn.Linear(4, 8), nn.Linear(8, 1)

    def forward(self, x):
        x = F.relu(self.inner(x)).reshape(len(x), 2, 4)
        return self.head(x.reshape(len(x), -1))


class InPlaceReused(nn.Module):  # one in-place ReLU and one Linear, each used twice
    def __init__(self) -> None:
        super().__init__()
        self.layer, self.act = nn.Linear(3, 3), nn.ReLU(inplace=True)
        self.out = nn.Sequential(nn.Identity(), nn.Sequential(nn.Linear(3, 1)))

    def forward(self, x):
        return self.out(self.act(self.layer(self.act(self.layer(x)))))


class Branches(nn.Module):  # cat and stack of branches, a slice of one
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.ReLU(), nn.Linear(4, 2)))
        self.b, self.head = nn.Linear(3, 2), nn.Linear(6, 1)

    def forward(self, x):
        both = torch.cat([self.a(x), F.relu(self.b(x))], dim=1)
        stacked = torch.stack([self.a(x), self.b(x)], dim=1).flatten(1)
        return self.head(torch.cat([both[:, :2], stacked], 1))


class AdaptivePools(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.head = nn.Conv2d(1, 3, 3, padding=1), nn.Linear(15, 1)
        self.average, self.maximum = nn.AdaptiveAvgPool2d((2, 2)), nn.AdaptiveMaxPool2d(1)

    def forward(self, x):
        x = F.relu(self.conv(x))
        pooled = [torch.flatten(self.average(x), 1), self.maximum(x).view(x.size(0), -1)]
        return self.head(torch.cat(pooled, 1))


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.randn(4, 3)), nn.Parameter(torch.randn(4))

    def forward(self, x):
        return F.leaky_relu(F.linear(x, self.weight, self.bias), 0.2).sum(dim=1, keepdim=True)


def prelu_net() -> nn.Module:
    net = nn.Sequential(nn.Linear(3, 4), nn.PReLU(4), nn.Linear(4, 1))
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([0.25, -0.5, 2.0, 0.0]))
    return net


def linear_batch_norm() -> nn.Module:
    net = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 1))
    norm = net[1]
    with torch.no_grad():  # non-trivial statistics and affine parameters
        norm.running_mean.normal_()
        norm.running_var.uniform_(0.5, 2.0)
        norm.weight.normal_()
        norm.bias.normal_()
    return net


PATTERNS = {
    "view by size": (ViewBySize, (1, 6, 6)),
    "reshape by shape": (ReshapeByShape, (6,)),
    "reshape by len": (ReshapeByLen, (4,)),
    "in-place, reused": (InPlaceReused, (3,)),
    "branches": (Branches, (3,)),
    "adaptive pools": (AdaptivePools, (1, 6, 6)),  # 6 = 2 × 3: ONNX pools it
    "functional": (Functional, (3,)),
    "prelu": (prelu_net, (3,)),
    "linear, batchnorm": (linear_batch_norm, (3,)),
}


def _case(name: str):
    """The pattern's module (eval mode, fixed weights) and a segment through its inputs."""
    build, shape = PATTERNS[name]
    torch.manual_seed(sorted(PATTERNS).index(name))
    module = build().eval()
    ends = torch.randn(2, *shape, dtype=torch.float64) * 2
    return module, shape, ends[0].numpy(), ends[1].numpy()


@pytest.mark.parametrize("name", PATTERNS)
def test_pattern_traces_like_exact_arithmetic_and_the_walker(name):
    module, _, start, end = _case(name)
    fast = bends.trace(module, start, end)
    exact = bends.trace(module, start, end, exact=True)
    assert fast.regions == exact.regions >= 2
    np.testing.assert_allclose(fast.knots, np.asarray(exact.knots, dtype=float), atol=1e-12)
    net = GraphNetwork.from_module(module, start.shape)
    np.testing.assert_allclose(walk(net, start, end), fast.region_boundaries, atol=1e-9)


def _same_trace(loaded, module, start, end) -> None:
    expected, found = bends.trace(module, start, end), bends.trace(loaded, start, end)
    assert found.regions == expected.regions
    np.testing.assert_allclose(found.knots, expected.knots, atol=1e-12)
    np.testing.assert_allclose(found.values, expected.values, atol=1e-10)


@pytest.mark.parametrize("name", PATTERNS)
def test_program_exported_from_a_batch_of_one_traces_like_the_module(name, tmp_path):
    module, shape, start, end = _case(name)
    program = torch.export.export(module, (torch.zeros(1, *shape),))
    torch.export.save(program, tmp_path / "model.pt2")
    _same_trace(files.load(tmp_path / "model.pt2"), module, start, end)


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
@pytest.mark.parametrize("dynamic", [False, True], ids=["batch of one", "dynamic batch"])
@pytest.mark.parametrize("name", PATTERNS)
def test_onnx_from_both_exporters_traces_like_the_module(name, dynamo, dynamic, tmp_path):
    module, shape, start, end = _case(name)
    example = torch.zeros(2 if dynamic else 1, *shape)
    options: dict = {"dynamo": dynamo}
    if dynamic and dynamo:
        options["dynamic_shapes"] = ({0: torch.export.Dim("batch")},)
    elif dynamic:
        options |= {"input_names": ["x"], "dynamic_axes": {"x": {0: "batch"}}}
    path = tmp_path / "model.onnx"
    torch.onnx.export(module, (example,), path, **options)
    _same_trace(files.load(path), module, start, end)


def test_what_is_still_refused_names_the_node():
    class Transposed(nn.Module):
        def forward(self, x):
            return x.T.relu()

    with pytest.raises(BendsError, match="attribute 'T'"):
        GraphNetwork.from_module(Transposed(), (3,))

    class FixedBatch(nn.Module):  # a literal batch of one cannot hold many knots
        def forward(self, x):
            return torch.relu(x).reshape(1, 4)

    with pytest.raises(BendsError, match="does not run on a batch"):
        GraphNetwork.from_module(FixedBatch(), (4,))

    class QuarterBatch(nn.Module):  # 0 at batches 2 and 3: a third batch tells
        def forward(self, x):
            return torch.relu(x)[: x.size(0) // 4]

    with pytest.raises(BendsError, match="uses the batch size"):
        GraphNetwork.from_module(QuarterBatch(), (4,))

    class ReluOnASlice(nn.Module):  # in place on a view: a scatter once functional
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Linear(3, 4)

        def forward(self, x):
            h = self.layer(x)
            h[:, :2].relu_()
            return h

    program = torch.export.export(ReluOnASlice(), (torch.zeros(2, 3),))
    with pytest.raises(BendsError, match="slice_scatter"):
        GraphNetwork.from_exported(program)
