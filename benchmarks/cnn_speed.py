"""A LeNet-style CNN on scikit-learn's digits: bends' graph tracer against a region walker.

The CNN (Conv–BatchNorm–ReLU–MaxPool twice, then Linear) is trained briefly on the digits
that scikit-learn ships (8×8 images, no download), then traced along the segments between 100
pairs of test digits. The baseline walks the segment region by region as Gamba et al. count
along paths between samples: one forward pass and one Jacobian-vector product per region give
every ReLU input and every pooling window with their derivatives along the segment, hence the
next boundary; it steps just past it and repeats. Both count pieces (changes of the output's
slope) and regions; the table says whether they agree on every segment.

    python benchmarks/cnn_speed.py            # 100 segments
    python benchmarks/cnn_speed.py --pairs 20
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from sklearn.datasets import load_digits
from torch import nn

from bends.nets.graph import GraphNetwork
from bends.tracing import trace

#: The walker steps this far (in t) past each boundary to read the next region.
STEP = 1e-12


def lenet() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64, 10),
    )  # fmt: skip


def trained_cnn(steps: int = 300) -> tuple[nn.Sequential, np.ndarray, float]:
    """The CNN after ``steps`` Adam steps on 1,500 digits; the other digits; test accuracy."""
    digits = load_digits()
    images = torch.tensor(digits.images / 16.0, dtype=torch.float32)[:, None]
    labels = torch.tensor(digits.target)
    torch.manual_seed(0)
    model = lenet()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        batch = torch.randint(0, 1500, (128,))
        loss = nn.functional.cross_entropy(model(images[batch]), labels[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        accuracy = float((model(images[1500:]).argmax(1) == labels[1500:]).float().mean())
    return model.double(), images[1500:].double().numpy(), accuracy


def walk(model: nn.Sequential, a: torch.Tensor, b: torch.Tensor) -> tuple[int, int]:
    """Pieces and regions of ``model`` from a to b, one forward pass and one jvp per region."""
    direction = b - a

    def kink_inputs(x):
        seen, h = [], x[None]
        for layer in model:
            if isinstance(layer, nn.ReLU | nn.MaxPool2d):
                seen.append(h)
            h = layer(h)
        return (*seen, h)

    t, regions, pieces, slope = 0.0, 0, 0, None
    while t < 1.0:
        with torch.no_grad():
            values, slopes = torch.func.jvp(kink_inputs, (a + t * direction,), (direction,))
        regions += 1
        out = slopes[-1].reshape(-1)
        # the output bends where its slope changes by more than 1e-9 of its size (bends' rule)
        if (
            slope is not None
            and ((out - slope).abs() > 1e-9 * torch.maximum(out.abs(), slope.abs())).any()
        ):
            pieces += 1
        slope = out
        exits = []
        for layer, z, dz in zip(
            [m for m in model if isinstance(m, nn.ReLU | nn.MaxPool2d)], values, slopes,
            strict=False,
        ):  # fmt: skip
            if isinstance(layer, nn.ReLU):  # the next zero of each pre-activation
                time_to = -z / dz
                exits.append(time_to[(time_to > 0) & (dz != 0)])
            else:  # the next time a window's leader is overtaken
                n, c, h, w = z.shape
                wz = z.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 2, 4, 3, 5).reshape(-1, 4)
                wd = dz.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 2, 4, 3, 5).reshape(-1, 4)
                lead = wz.argmax(dim=1, keepdim=True)
                gap = wz.gather(1, lead) - wz
                gain = wd - wd.gather(1, lead)
                time_to = gap / gain
                exits.append(time_to[(gain > 0) & (gap > 0)])
        ahead = torch.cat(exits)
        step = float(ahead.min()) if len(ahead) else np.inf
        t = t + step + STEP
    return pieces + 1, regions


def check(model: nn.Sequential, tr, a: torch.Tensor, b: torch.Tensor) -> tuple[int, int, bool]:
    """An independent count on bends' own intervals: the activation pattern (ReLU signs, pool
    winners) and the output's slope (jvp) at each interval's midpoint give pieces and regions;
    ``steady`` says the pattern at the quarter points equals the midpoint's (no region was
    missed inside an interval)."""

    def pattern(x):
        signs, h = [], x[None]
        for layer in model:
            if isinstance(layer, nn.ReLU):
                signs.append((h > 0).reshape(-1))
            if isinstance(layer, nn.MaxPool2d):
                n, c, hh, w = h.shape
                windows = h.reshape(n, c, hh // 2, 2, w // 2, 2).permute(0, 1, 2, 4, 3, 5)
                signs.append(windows.reshape(-1, 4).argmax(1))
            h = layer(h)
        return torch.cat([s.to(torch.int64) for s in signs])

    cuts = tr.knots
    with torch.no_grad():
        at = {f: [pattern(a + (c0 + f * (c1 - c0)) * (b - a))
                  for c0, c1 in itertools.pairwise(cuts)]
              for f in (0.25, 0.5, 0.75)}  # fmt: skip
        slopes = torch.stack([
            torch.func.jvp(lambda x: model(x[None])[0], (a + 0.5 * (c0 + c1) * (b - a),),
                           (b - a,))[1]
            for c0, c1 in itertools.pairwise(cuts)
        ])  # fmt: skip
    mids = at[0.5]
    regions = 1 + sum(not torch.equal(p, q) for p, q in itertools.pairwise(mids))
    change = (slopes[1:] - slopes[:-1]).abs()
    pieces = 1 + int(
        (change > 1e-9 * torch.maximum(slopes[1:].abs(), slopes[:-1].abs())).any(1).sum()
    )
    steady = all(torch.equal(p, q) and torch.equal(q, r)
                 for p, q, r in zip(at[0.25], mids, at[0.75], strict=False))  # fmt: skip
    return pieces, regions, steady


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100)
    args = parser.parse_args()
    model, tests, accuracy = trained_cnn()
    net = GraphNetwork.from_module(model, (1, 8, 8))
    pairs = [(tests[2 * i], tests[2 * i + 1]) for i in range(args.pairs)]
    trace(net, *pairs[0])  # warm-up (first use of torch's kernels)
    began = time.perf_counter()
    ours = [trace(net, a, b) for a, b in pairs]
    bends_seconds = time.perf_counter() - began
    began = time.perf_counter()
    theirs = [walk(model, torch.tensor(a), torch.tensor(b)) for a, b in pairs]
    walker_seconds = time.perf_counter() - began
    same_regions = sum(tr.regions == r for tr, (_, r) in zip(ours, theirs, strict=True))
    same_pieces = sum(tr.pieces == p for tr, (p, _) in zip(ours, theirs, strict=True))
    differ = [i for i, (tr, counts) in enumerate(zip(ours, theirs, strict=True))
              if (tr.pieces, tr.regions) != counts]  # fmt: skip
    checks = {i: check(model, ours[i], torch.tensor(pairs[i][0]), torch.tensor(pairs[i][1]))
              for i in differ}  # fmt: skip
    bends_right = sum(checks[i][:2] == (ours[i].pieces, ours[i].regions) and checks[i][2]
                      for i in differ)  # fmt: skip
    walker_right = sum(checks[i][:2] == theirs[i] for i in differ)
    thin = sum(not tr.resolved for tr in ours)
    table = Table(title=f"LeNet on digits (test accuracy {accuracy:.1%}), {len(pairs)} segments "
                        "between test digits")  # fmt: skip
    for column in ("method", "seconds", "mean regions", "mean pieces", "speed-up"):
        table.add_column(column, justify="right")
    table.add_row("bends graph tracer", f"{bends_seconds:.2f}",
                  f"{np.mean([tr.regions for tr in ours]):.1f}",
                  f"{np.mean([tr.pieces for tr in ours]):.1f}",
                  f"{walker_seconds / bends_seconds:.1f}x")  # fmt: skip
    table.add_row("region walker (forward + jvp per region)", f"{walker_seconds:.2f}",
                  f"{np.mean([r for _, r in theirs]):.1f}",
                  f"{np.mean([p for p, _ in theirs]):.1f}", "1.0x")  # fmt: skip
    console = Console(width=120)
    console.print(table)
    console.print(f"regions equal on {same_regions} of {len(pairs)} segments, "
                  f"pieces equal on {same_pieces} of {len(pairs)}; on the {len(differ)} where "
                  f"they differ, an independent count (pattern and jvp slope at the midpoint of "
                  f"every bends interval, pattern steady at its quarter points) agrees with "
                  f"bends on {bends_right} and with the walker on {walker_right}. "
                  f"{thin} segments have knots closer than float64 resolves (2^-40 in t), where "
                  f"the walker's step ({STEP:g}) can jump over a region.")  # fmt: skip


if __name__ == "__main__":
    main()
