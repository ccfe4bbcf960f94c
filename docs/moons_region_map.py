"""The documentation's region map: a [2, 16, 16, 2] classifier trained on scikit-learn's
generated two moons (300 points, noise 0.15, seed 0; Adam, 1500 steps, cross-entropy),
written as bends JSON with the data beside it, for `bends plot --plane --boundary --mark`.

    python docs/moons_region_map.py OUT_DIR     # writes OUT_DIR/moons.json, OUT_DIR/moons.csv
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import make_moons

from bends import from_torch, save


def main(out: Path) -> None:
    x, y = make_moons(300, noise=0.15, random_state=0)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16),
                              torch.nn.ReLU(), torch.nn.Linear(16, 2)).double()  # fmt: skip
    optimiser = torch.optim.Adam(net.parameters(), 1e-2)
    inputs, labels = torch.tensor(x), torch.tensor(y)
    for _ in range(1500):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(inputs), labels)
        loss.backward()
        optimiser.step()
    accuracy = (net(inputs).argmax(1) == labels).double().mean().item()
    print(f"two moons: loss {loss.item():.2e}, training accuracy {accuracy:.3f}")
    save(from_torch(net), out / "moons.json")
    np.savetxt(out / "moons.csv", np.column_stack([x, y]), delimiter=",", header="x1,x2,class",
               comments="")  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]))
