"""Local complexity around digits: the batched tracer against one-by-one traces and a region
walker, in one run; and one checkpoint's measurements.

The digits CNN of the ``local-complexity`` study (two conv–ReLU–max-pool blocks, 8 and 16
channels) is trained for ``--steps`` Adam steps on scikit-learn's digits. Around each of
``--points`` test digits, ``--chords`` diameters of the ball of radius ``--radius`` (the
study's chords) are traced three ways, each counting the regions of every chord:

* batched: ``trace_segments`` on all chords at once (its default batch of 256);
* one by one: the same tracer on one chord at a time (``trace`` does this for one segment);
* walker: ``bends.tracing._graph.walker.walk``, one forward pass per region.

The table gives seconds, mean regions per chord, whether every chord's count agrees with the
batched one, and the speed-up of the batched tracer. Then one checkpoint of the study's
recorder: local complexity at ``--points`` train points, plus finding the decision points
along ``--points`` test pairs and measuring there.

    python benchmarks/local_complexity.py              # 100 digits x 10 chords
    python benchmarks/local_complexity.py --points 20  # quicker
    python benchmarks/local_complexity.py --device cuda  # and the batched tracer on a GPU
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from rich.console import Console
from rich.table import Table

from bends.analysis.local import chord_ends, decision_points, local_complexity
from bends.nets.graph import GraphNetwork
from bends.tracing import trace_segments
from bends.tracing._graph.walker import walk
from bends.training.classifiers import accuracy, classifier, digits, train_classifier


def timed(run):
    began = time.perf_counter()
    result = run()
    return time.perf_counter() - began, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--chords", type=int, default=10)
    parser.add_argument("--radius", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--device", default=None, help="also time the batched tracer there")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    data = digits(seed=0)
    model = classifier("cnn", data, seed=0)
    train_classifier(model, data, args.steps, lr=0.003, batch=64, seed=0)
    net = GraphNetwork.from_module(model, data.shape)
    points = data.test_x[: args.points]
    starts, ends = chord_ends(points, args.radius, args.chords, seed=0)
    centres = np.repeat(points, args.chords, axis=0)
    count = len(starts)

    batched_s, batched = timed(lambda: trace_segments(net, starts, ends, pieces=False,
                                                      centres=centres).regions)  # fmt: skip
    single_s, single = timed(lambda: np.array([
        trace_segments(net, starts[i : i + 1], ends[i : i + 1], pieces=False,
                       centres=centres[i : i + 1]).regions[0] for i in range(count)]))  # fmt: skip
    pairs_of_ends = list(zip(starts, ends, strict=True))
    walker_s, walked = timed(lambda: np.array([len(walk(net, a, b)) + 1 for a, b in pairs_of_ends]))

    score = accuracy(model, data.test_x, data.test_y)
    table = Table(title=f"{count} chords (radius {args.radius}) around {args.points} test "
                  f"digits; CNN at {score:.1%} test accuracy")  # fmt: skip
    for column in ("method", "seconds", "mean regions per chord", "agrees on", "batched speed-up"):
        table.add_column(column, justify="left" if column == "method" else "right")
    methods = [("batched (trace_segments)", batched_s, batched),
               ("one by one (same tracer)", single_s, single),
               ("region walker", walker_s, walked)]  # fmt: skip
    if args.device is not None:
        import torch

        if args.device.startswith("cuda") and not torch.cuda.is_available():
            raise SystemExit(f"no {args.device} here")
        trace_segments(net, starts[:8], ends[:8], device=args.device, centres=centres[:8])

        def on(device):
            return trace_segments(net, starts, ends, pieces=False, centres=centres,
                                  device=device).regions  # fmt: skip

        device_s, on_device = timed(lambda: on(args.device))
        methods.insert(1, (f"batched on {args.device}", device_s, on_device))
    for name, seconds, regions in methods:
        table.add_row(name, f"{seconds:.2f}", f"{regions.mean():.2f}",
                      f"{int((regions == batched).sum())}/{count}",
                      f"{seconds / batched_s:.1f}x")  # fmt: skip
    console = Console(width=120)
    console.print(table)

    pairs = (data.test_x[-args.points :], data.test_x[-2 * args.points : -args.points])
    train = data.train_x[: args.points]

    def checkpoint():
        local_complexity(net, train, args.radius, 8)
        found, _ = decision_points(net, *pairs)
        local_complexity(net, found, args.radius, 8)
        return len(found)

    seconds, found = timed(checkpoint)
    console.print(f"one checkpoint: {args.points} train points and {found} decision points "
                  f"(from {args.points} pairs), 8 chords each: {seconds:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
