"""The documentation's region maps: small ReLU classifiers trained on generated 2-D data,
written as bends JSON with the data beside them, for `bends plot --plane --boundary --mark`.

* moons: [2, 16, 16, 2] on scikit-learn's two moons (300 points, noise 0.15, seed 0);
* spiral: [2, 32, 32, 3] on three interleaved spiral arms (100 points each, seed 0).

Adam (lr 1e-2), full batch, cross-entropy; 1500 steps (moons), 3000 (spiral).

    python docs/region_maps.py OUT_DIR   # writes OUT_DIR/{moons,spiral}.{json,csv}
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import make_moons

from bends import from_torch, save


def spiral(per_arm: int = 100, arms: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points on ``arms`` spiral arms of one turn each, radius 0.1–1, with 0.04 noise."""
    rng = np.random.default_rng(seed)
    radius = np.linspace(0.1, 1.0, per_arm)
    points, labels = [], []
    for arm in range(arms):
        angle = 2 * np.pi * (radius + arm / arms) + rng.normal(0, 0.2, per_arm)
        points.append(np.column_stack([radius * np.cos(angle), radius * np.sin(angle)]))
        labels.append(np.full(per_arm, arm))
    return np.concatenate(points), np.concatenate(labels)


def fit(x, y, widths, steps) -> torch.nn.Sequential:
    torch.manual_seed(0)
    layers = []
    for fan_in, fan_out in itertools.pairwise(widths):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers[:-1]).double()
    optimiser = torch.optim.Adam(net.parameters(), 1e-2)
    inputs, labels = torch.tensor(x), torch.tensor(y)
    for _ in range(steps):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(inputs), labels)
        loss.backward()
        optimiser.step()
    accuracy = (net(inputs).argmax(1) == labels).double().mean().item()
    print(f"{widths}: loss {loss.item():.2e}, training accuracy {accuracy:.3f}")
    return net


def main(out: Path) -> None:
    for name, (x, y), widths, steps in (
        ("moons", make_moons(300, noise=0.15, random_state=0), [2, 16, 16, 2], 1500),
        ("spiral", spiral(), [2, 32, 32, 3], 3000),
    ):
        save(from_torch(fit(x, y, widths, steps)), out / f"{name}.json")
        np.savetxt(out / f"{name}.csv", np.column_stack([x, y]), delimiter=",",
                   header="x1,x2,class", comments="")  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]))
