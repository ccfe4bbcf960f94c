"""Strategies shared by the tests (small networks, degenerate on purpose) and a shared check."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
import torch
from hypothesis import settings
from hypothesis import strategies as st
from torch import nn

from bends.errors import BendsError
from bends.nets import MLP, TiedRNN

# CI replays the same examples every run; local runs keep exploring new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Dyadic values make coincidences likely: crossings on knots, neurons crossing together,
# identically-zero neurons. Zero weights give dead neurons.
DYADIC = st.sampled_from([-3.0, -2.0, -1.5, -1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0])


#: Points of the segment (fractions of it) where a neuron may be made to vanish exactly.
THROUGH = st.sampled_from([0.0, 0.125, 0.25, 0.375, 0.5, 0.5, 0.75, 1.0])


@st.composite
def mlps(
    draw, max_depth: int = 4, max_width: int = 6, input_dims=(1, 2), segment=None,
    output_dims=(1, 2),
) -> MLP:  # fmt: skip
    """MLPs with dyadic or Gaussian weights, degenerate on purpose.

    Besides zero weights (dead neurons) and duplicated neurons, a dyadic network's neuron may
    be the difference of two neurons of the layer below or a copy of one (zero at earlier
    knots, or on whole intervals), and its bias may make it vanish exactly at a dyadic point
    of ``segment`` (several neurons crossing at one point, crossings exactly on knots).
    Everything stays dyadic, so float64 computes those coincidences exactly too.
    """
    gaussian = draw(st.booleans())
    widths = [draw(st.sampled_from(input_dims))]
    widths += [draw(st.integers(1, max_width)) for _ in range(draw(st.integers(1, max_depth)))]
    widths.append(draw(st.sampled_from(output_dims)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    start, end = segment if segment is not None else (np.zeros(widths[0]), np.ones(widths[0]))
    layers = []
    for index, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
        if gaussian:
            layers.append((rng.normal(size=(fan_out, fan_in)), rng.normal(size=fan_out)))
            continue
        size = fan_in * fan_out
        w = np.array(draw(st.lists(DYADIC, min_size=size, max_size=size)))
        w = w.reshape(fan_out, fan_in)
        b = np.array(draw(st.lists(DYADIC, min_size=fan_out, max_size=fan_out)))
        last = index == len(widths) - 2
        for row in range(fan_out):
            kind = draw(st.sampled_from(["free", "through", "through", "difference", "copy"]))
            if kind in ("difference", "copy") and index > 0 and fan_in > 1 and not last:
                a, c = draw(st.permutations(range(fan_in)))[:2]
                w[row] = 0.0
                w[row, a] = draw(DYADIC.filter(bool))
                if kind == "difference":
                    w[row, c] = -w[row, a]
                b[row] = 0.0
            elif kind == "through" and not last:
                tau = draw(THROUGH)
                x = start + tau * (end - start)
                if layers:
                    x = MLP.from_layers([*layers, (np.eye(fan_in), np.zeros(fan_in))])(x)
                b[row] = -(w[row] @ x)
        if fan_out > 1 and draw(st.booleans()):
            w[-1], b[-1] = w[0], b[0]
        layers.append((w, b))
    return MLP.from_layers(layers)


def on_a_grid(net: MLP, draw) -> MLP:
    """``net`` with weights on a dyadic grid: lines and planes through vertices, parallel and
    coincident ones."""
    grid = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    layers = []
    for w, b in zip(net.weights, net.biases, strict=True):
        picks = draw(st.lists(st.integers(0, 4), min_size=w.size + b.size,
                              max_size=w.size + b.size))  # fmt: skip
        values = grid[picks]
        layers.append((values[: w.size].reshape(w.shape), values[w.size :]))
    return MLP.from_layers(layers)


@st.composite
def tied_rnns(draw, max_width: int = 4, max_steps: int = 4) -> TiedRNN:
    width = draw(st.integers(2, max_width))
    entries = draw(st.lists(DYADIC, min_size=width * width, max_size=width * width))
    return TiedRNN(np.array(entries).reshape(width, width), draw(st.integers(1, max_steps)), 0)


@st.composite
def segments(draw, dim: int) -> tuple[np.ndarray, np.ndarray]:
    coordinate = st.sampled_from([-4.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, 5.0])
    start = np.array(draw(st.lists(coordinate, min_size=dim, max_size=dim)))
    end = np.array(draw(st.lists(coordinate, min_size=dim, max_size=dim)))
    if np.array_equal(start, end):
        end = end + 1.0
    return start, end


def assert_same_regions(only, full):
    """A regions-only trace is the full trace without its slopes, bit for bit."""
    assert not only.has_pieces and only.slopes is None
    for name in ("knots", "values", "region_breaks"):
        np.testing.assert_array_equal(getattr(only, name), getattr(full, name))
    for name in ("switches", "dead", "always_on"):
        for mine, theirs in zip(getattr(only, name), getattr(full, name), strict=True):
            np.testing.assert_array_equal(mine, theirs)
    assert (only.regions, only.merged, only.log_scale) == (
        full.regions,
        full.merged,
        full.log_scale,
    )
    with pytest.raises(BendsError, match="regions only"):
        _ = only.pieces
    with pytest.raises(BendsError, match="regions only"):
        _ = only.breakpoints
    assert only.summary()["pieces"] is None and only.summary()["breakpoints"] is None
    assert only.describe() == f"{full.regions} activation regions"
    assert full.describe() == f"{full.pieces} pieces, {full.regions} activation regions"


# Graph networks for the graph tracers: every kink type in residual blocks and branches.


class Abs(nn.Module):
    def forward(self, x):
        return torch.abs(x) - 0.5


class Maximum(nn.Module):
    def forward(self, x):
        return torch.maximum(x, 0.5 - x)


class Clamp(nn.Module):
    def forward(self, x):
        return x.clamp(-0.5, 0.75)


ACTIVATIONS = [
    nn.ReLU, lambda: nn.LeakyReLU(0.1), lambda: nn.PReLU(4, 0.3), nn.ReLU6,
    lambda: nn.Hardtanh(-0.5, 1.0), Abs, Maximum, Clamp,
]  # fmt: skip


class Residual(nn.Module):
    def __init__(self, activation: nn.Module) -> None:
        super().__init__()
        self.inner, self.act, self.outer = nn.Linear(4, 4), activation, nn.Linear(4, 4)

    def forward(self, x):
        return x + self.outer(self.act(self.inner(x)))


class Branches(nn.Module):
    """Two branches joined by concatenation, a BatchNorm in eval mode, a scaled sum."""

    def __init__(self, first: nn.Module, second: nn.Module) -> None:
        super().__init__()
        self.left, self.right = nn.Sequential(nn.Linear(4, 4), first), nn.Linear(4, 2)
        self.second, self.norm, self.out = second, nn.BatchNorm1d(6), nn.Linear(6, 4)

    def forward(self, x):
        joined = torch.cat([self.left(x), self.second(self.right(x))], dim=1)
        return 0.5 * self.out(self.norm(joined)) - x


@st.composite
def graph_models(draw):
    torch.manual_seed(draw(st.integers(0, 2**31 - 1)))
    acts = [draw(st.sampled_from(ACTIVATIONS))() for _ in range(4)]
    blocks = [nn.Linear(2, 4), acts[0]]
    for act in acts[1:3]:
        blocks.append(draw(st.sampled_from([Residual, lambda a: Branches(a, nn.ReLU())]))(act))
    blocks += [acts[3], nn.Linear(4, 2)]
    model = nn.Sequential(*blocks).double().eval()
    if draw(st.booleans()):  # degenerate weights: zeros and duplicated neurons
        with torch.no_grad():
            first = model[0]
            first.weight[1] = first.weight[0]
            first.bias[1] = first.bias[0]
            first.weight[2] = 0.0
    for module in model.modules():
        if isinstance(module, nn.BatchNorm1d):
            with torch.no_grad():
                module.running_mean.uniform_(-1, 1)
                module.running_var.uniform_(0.5, 2)
    return model


def _dyadic(model: nn.Module, draw) -> None:
    """Weights on a coarse dyadic grid: crossings on knots and neurons crossing together."""
    grid = torch.tensor([-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0], dtype=torch.float64)
    with torch.no_grad():
        for parameter in model.parameters():
            picks = draw(st.lists(st.integers(0, 6), min_size=parameter.numel(),
                                  max_size=parameter.numel()))  # fmt: skip
            parameter.copy_(grid[picks].reshape(parameter.shape))


@st.composite
def small_graphs(draw):
    model = draw(graph_models())
    if draw(st.booleans()):
        _dyadic(model, draw)
    return model


def conv_pool_stack(seed: int, channels: int, dyadic: bool) -> nn.Module:
    """Conv–BatchNorm–ReLU–MaxPool, Conv–LeakyReLU–AdaptiveMaxPool, Linear on (1, 4, 4) inputs,
    float64; ``dyadic``: parameters rounded to quarters (crossings on knots, ties)."""
    torch.manual_seed(seed)
    cnn = nn.Sequential(
        nn.Conv2d(1, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(channels, 2, 2), nn.LeakyReLU(0.25), nn.AdaptiveMaxPool2d(1),
        nn.Flatten(), nn.Linear(2, 2),
    ).double().eval()  # fmt: skip
    if dyadic:
        with torch.no_grad():
            for parameter in cnn.parameters():
                parameter.copy_(torch.round(parameter * 4) / 4)
    return cnn


@pytest.fixture(scope="session")
def demo_runs(request, tmp_path_factory):
    """The demos this session's tests read, run once (tests/_demos.py): every study's if the
    demo report test runs, else those the demo-metric guard was asked for (``-k STUDY``). Both
    live in one module, which ``--dist loadfile`` keeps on one xdist worker."""
    from _demos import run_demos

    from bends.studies import STUDIES

    names = {getattr(item, "originalname", ""): item for item in request.session.items}
    if "test_demo_runs_every_study_into_one_report" in names:
        chosen = [name for name, study in STUDIES.items() if study.demo is not None]
    else:
        chosen = sorted(
            {
                item.callspec.params["name"]
                for item in request.session.items
                if getattr(item, "originalname", "") == "test_demo_metrics_are_unchanged"
            }
        )
    root = tmp_path_factory.mktemp("demos")
    run_demos(chosen, root)
    return root
