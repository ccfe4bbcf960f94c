"""Small classifiers and their data: scikit-learn's digits (8×8 images, shipped with it) and a
two-arm spiral in the plane, the models the local-complexity study trains, and their training
by :func:`bends.training.loop.descend` (Adam on minibatches of the cross-entropy).

Example:
    >>> data = digits(seed=0)
    >>> data.train_x.shape, data.test_x.shape, data.classes
    ((1347, 1, 8, 8), (450, 1, 8, 8), 10)
    >>> model = classifier("cnn", data, seed=0)
    >>> run = train_classifier(model, data, steps=50, lr=0.01, batch=64, seed=0)
    >>> bool(run.curve[0, -1] < run.curve[0, 0])
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from bends.errors import BendsError
from bends.training.loop import Descent, Minibatches, descend

MODELS = ("cnn", "mlp")


@dataclass(frozen=True)
class Dataset:
    """Inputs (float64, (n, *shape)) and labels (int64) of a train and a test split."""

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: int

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.train_x.shape[1:])


def digits(seed: int, test_fraction: float = 0.25) -> Dataset:
    """scikit-learn's 1,797 handwritten digits as (1, 8, 8) images scaled to [0, 1], split
    at random (stratified) into train and test."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    images, labels = load_digits(return_X_y=True)
    images = (images / 16.0).reshape(-1, 1, 8, 8)
    split = train_test_split(images, labels, test_size=test_fraction, random_state=seed,
                             stratify=labels)  # fmt: skip
    train_x, test_x, train_y, test_y = split
    return Dataset("digits", train_x, train_y.astype(np.int64), test_x, test_y.astype(np.int64),
                   10)  # fmt: skip


def spiral(seed: int, points: int = 400, turns: float = 1.5, noise: float = 0.05) -> Dataset:
    r"""Two interleaved spiral arms in [-1, 1]²: class k at angle θ has radius θ / (2π·turns)
    and is turned by kπ, plus Gaussian noise of sd ``noise``; half the points are the test
    split."""
    rng = np.random.default_rng(seed)
    theta = np.sqrt(rng.uniform(0.05, 1.0, size=2 * points)) * 2 * np.pi * turns
    label = rng.integers(0, 2, size=2 * points)
    radius = theta / (2 * np.pi * turns)
    angle = theta + np.pi * label
    xy = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    xy += rng.normal(scale=noise, size=xy.shape)
    return Dataset("spiral", xy[:points], label[:points], xy[points:], label[points:], 2)


def classifier(kind: str, data: Dataset, seed: int, width: int = 32, depth: int = 3) -> nn.Module:
    """A float64 model for ``data``: ``cnn`` (two 3×3 convolutions of 8 and 16 channels, each
    followed by ReLU and 2×2 max pooling, then a linear readout; images only) or ``mlp``
    (``depth`` hidden ReLU layers of ``width``), PyTorch's default initialisation."""
    torch.manual_seed(seed)
    if kind == "cnn":
        if len(data.shape) != 3:
            raise BendsError("the cnn model takes images: use it on digits")
        channels, side = data.shape[0], data.shape[1]
        model = nn.Sequential(
            nn.Conv2d(channels, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(16 * (side // 4) ** 2, data.classes),
        )  # fmt: skip
    elif kind == "mlp":
        inputs = int(np.prod(data.shape))
        layers: list[nn.Module] = [nn.Flatten()] if len(data.shape) > 1 else []
        for k in range(depth):
            layers += [nn.Linear(inputs if k == 0 else width, width), nn.ReLU()]
        model = nn.Sequential(*layers, nn.Linear(width, data.classes))
    else:
        raise BendsError(f"the model must be one of {', '.join(MODELS)}, got {kind!r}")
    return model.double()


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """The share of ``x`` that ``model`` labels ``y``."""
    with torch.no_grad():
        predicted = model(torch.as_tensor(x)).argmax(dim=1).numpy()
    return float((predicted == y).mean())


def train_classifier(
    model: nn.Module,
    data: Dataset,
    steps: int,
    lr: float,
    batch: int,
    seed: int,
    after_step: Callable[[], None] | None = None,
) -> Descent:
    """Adam on the cross-entropy of minibatches of the train split (the order fixed by
    ``seed``) for ``steps`` steps; ``after_step`` runs after each (e.g. a
    :class:`~bends.training.local.LocalRecorder`)."""
    x, y = torch.as_tensor(data.train_x), torch.as_tensor(data.train_y)
    batches = Minibatches(seed, len(x), batch)
    loss = nn.CrossEntropyLoss()

    def losses() -> torch.Tensor:
        rows = next(batches)
        return loss(model(x[rows]), y[rows]).reshape(1)

    model.train()
    try:
        return descend(list(model.parameters()), losses, steps, lr, "adam",
                       record=range(steps), after_step=after_step)  # fmt: skip
    finally:
        model.eval()
