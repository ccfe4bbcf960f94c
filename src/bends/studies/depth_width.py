r"""Study ``depth-width``: can a shallow ReLU net follow :math:`f^t` for f(x) = c|x| − 1?

The experiment of Chatziafratis, Nagarajan and Panageas (ICML 2020 slides): the target is the
t-fold composition of :math:`f(x) = c|x| - 1` on [−1, 1], whose graph oscillates about
:math:`c^t` times (for c = φ it has :math:`2F_{t+1}` monotone pieces and a period-3 orbit;
for c = 1.618 < φ it has none). A ReLU MLP of width u and depth l has at most
:math:`(2u)^l` pieces, so once :math:`(2u)^l \le c^t/8` it cannot follow the oscillations and
its L1 error stays above

.. math:: \int_{-1}^{1} |f^t - g| \;\ge\; \frac{(high - low)^2}{16}
          \Bigl(1 - \frac{2(2u)^l}{c^t}\Bigr)

(:func:`bends.analysis.dynamics.separation_bound`, Lipschitz constant L = c, levels low < high).

Each cell trains the ``seeds`` MLPs (width ``width``, ``depth`` hidden layers, PyTorch's
default initialisation) of one (c, t, depth) together with Adam on ``points`` uniform random
points, ``epochs`` passes in minibatches of ``batch_size`` (one shuffle per epoch, shared by
the models). Errors are measured on ``test_points`` fresh uniform points:

* ``mse`` (training points) and ``test_mse``;
* ``l1``: :math:`\int_{-1}^1 |f^t - g|`, estimated as 2 × the mean absolute test error;
* ``class_error``: the fraction of test points on the wrong side of the level midpoint
  (f^t and the trained g both thresholded there);

and the trained network's exact pieces on [−1, 1] beside its capacity :math:`(2u)^l`.

Example:
    >>> study = DepthWidth()
    >>> config = study.Config(slopes=(1.618,), tasks=(3,), depths=(1,), seeds=1, epochs=2,
    ...                       points=64, test_points=64, batch_size=32)
    >>> row = study.run_cell(study.cells(config)[0]).rows[0]
    >>> row["capacity"], row["pieces"] <= row["capacity"], row["hypothesis_holds"]
    (40, True, False)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from bends.analysis.dynamics import iterate_map, oscillations, separation_bound
from bends.constructions.maps import PHI, abs_map
from bends.errors import ResolutionWarning
from bends.nets import MLP
from bends.nets.random import random_mlp
from bends.runner.config import StudyConfig, require, setting
from bends.runner.report import Figures, markdown_table
from bends.runner.study import Cell, CellResult, Curve, StoredCell, Study
from bends.tracing import trace
from bends.training.loop import descend
from bends.training.manifold import networks_of, stack_mlps
from bends.training.mlp import mlp_forward, mse

#: Iterates of f with more knots than this are not built (t = 40 would need ~3·10^8).
MAX_ITERATE_KNOTS = 2_000_000


@dataclass(frozen=True)
class DepthWidthConfig(StudyConfig):
    slopes: tuple[float, ...] = setting((1.618, PHI), "c in f(x) = c|x| − 1 (φ = 1.618033988…)")
    tasks: tuple[int, ...] = setting((8, 40), "compositions t of f (easy and hard task)")
    width: int = setting(20, "hidden width u")
    depths: tuple[int, ...] = setting((1, 2, 3, 4, 5), "hidden layers l")
    seeds: int = setting(4, "networks per (c, t, depth)")
    seeds_per_cell: int = setting(4, "networks trained together in one cell")
    epochs: int = setting(1500, "Adam epochs (passes over the training points)")
    batch_size: int = setting(1000, "minibatch size (≥ points: full batch)")
    lr: float = setting(1e-3, "Adam learning rate")
    points: int = setting(10_000, "uniform random training points on [−1, 1]")
    test_points: int = setting(10_000, "fresh uniform points the errors are measured on")
    data_seed: int = setting(0, "seed of the points and of the minibatch order")
    low: float = setting(-0.9, "lower oscillation level (bound, classification threshold)")
    high: float = setting(0.5, "upper oscillation level")
    dtype: Literal["float64", "float32"] = setting("float64", "training precision")
    curve_every: int = setting(10, "store the loss every this many epochs")
    device: str = setting("cpu", "torch device (cpu, cuda)")

    def validate(self) -> None:
        super().validate()
        require(len(self.slopes) > 0 and len(self.tasks) > 0, "give slopes and tasks")
        require(all(1 < c <= 2 for c in self.slopes), "slopes c must lie in (1, 2]")
        require(all(1 <= t <= 200 for t in self.tasks), "tasks t must lie in 1..200")
        require(len(self.depths) > 0 and all(d >= 1 for d in self.depths), "depths must be ≥ 1")
        require(self.width >= 1, "width must be positive")
        require(self.epochs >= 1 and self.lr > 0, "epochs must be ≥ 1 and lr > 0")
        require(self.points >= 2 and self.test_points >= 2, "points must be at least 2")
        require(self.batch_size >= 1, "batch_size must be positive")
        require(-1 <= self.low < self.high <= 1, "need −1 ≤ low < high ≤ 1")
        require(self.curve_every >= 1, "curve_every must be at least 1")


class DepthWidth(Study):
    name = "depth-width"
    summary = "error vs depth on f^t, f = c|x| − 1: easy (t = 8) vs hard (t = 40) task"
    Config = DepthWidthConfig
    guide = "studies/depth-width.md"
    demo = {  # noqa: RUF012
        "slopes": [1.618],
        "seeds": 2,
        "seeds_per_cell": 2,
        "epochs": 150,
        "points": 2000,
        "test_points": 2000,
        "batch_size": 500,
    }

    def cells(self, config: DepthWidthConfig) -> list[Cell]:
        shared = config.fixed("slopes", "tasks", "depths")
        return [  # deepest (slowest) first, so parallel workers finish together
            self.cell({"c": c, "t": t, "depth": depth, **shared}, group)
            for depth in sorted(set(config.depths), reverse=True)
            for c in dict.fromkeys(config.slopes)
            for t in dict.fromkeys(config.tasks)
            for group in config.seed_groups()
        ]

    def run_cell(self, cell: Cell) -> CellResult:
        p = cell.params
        dtype = getattr(torch, p["dtype"])
        f = abs_map(p["c"])
        train_x, test_x = _points(p["data_seed"], p["points"], p["test_points"])

        def tensors(points: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
            x = torch.from_numpy(points)[:, None].to(dtype=dtype, device=p["device"])
            y = torch.from_numpy(f.iterate(points, p["t"])).to(dtype=dtype, device=p["device"])
            return x, y.expand(len(cell.seeds), -1)

        x, y = tensors(train_x)
        widths = [1, *[p["width"]] * p["depth"], 1]
        nets = [random_mlp(widths, seed) for seed in cell.seeds]
        layers = [
            (w.requires_grad_(), b.requires_grad_())
            for w, b in stack_mlps(nets, dtype, p["device"])
        ]
        batches = _Minibatches(p["data_seed"], p["points"], p["batch_size"])

        def losses() -> torch.Tensor:
            batch = next(batches).to(p["device"])
            return mse(mlp_forward(layers, x[batch])[..., 0], y[:, batch])

        parameters = [tensor for layer in layers for tensor in layer]
        steps = descend(parameters, losses, p["epochs"] * batches.per_epoch, p["lr"]).curve
        # per epoch: the mean of its minibatch losses (the final full-batch loss left out)
        curve = steps[:, :-1].reshape(len(cell.seeds), p["epochs"], -1).mean(axis=-1)
        with torch.no_grad():
            train_error = mse(mlp_forward(layers, x)[..., 0], y).cpu().numpy()
            tx, ty = tensors(test_x)
            g = mlp_forward(layers, tx)[..., 0]
            test_error = mse(g, ty).cpu().numpy()
            l1 = 2 * (g - ty).abs().mean(dim=-1).cpu().numpy()
            threshold = (p["low"] + p["high"]) / 2
            wrong = ((g >= threshold) != (ty >= threshold)).double().mean(dim=-1).cpu().numpy()
        bound = separation_bound(
            p["width"], p["depth"], p["t"], p["low"], p["high"], p["c"], p["c"]
        )
        result = CellResult()
        for m, (seed, net) in enumerate(zip(cell.seeds, networks_of(layers), strict=True)):
            with warnings.catch_warnings():  # recorded in the row as "resolved" instead
                warnings.simplefilter("ignore", ResolutionWarning)
                tr = trace(net, [-1.0], [1.0])
            result.rows.append(
                {
                    "c": p["c"],
                    "t": p["t"],
                    "depth": p["depth"],
                    "seed": seed,
                    "mse": float(train_error[m]),
                    "test_mse": float(test_error[m]),
                    "l1": float(l1[m]),
                    "class_error": float(wrong[m]),
                    "pieces": tr.pieces,
                    "resolved": tr.resolved,
                    "capacity": round(bound.capacity),
                    "oscillations_bound": bound.oscillations,
                    "hypothesis_holds": bound.hypothesis_holds,
                    "l1_bound": bound.bound,
                }
            )
            result.curves.append(Curve("loss", seed, curve[m, :: p["curve_every"]]))
            result.curves.append(Curve("weights", seed, net.flat()))
        return result

    def report(self, config: DepthWidthConfig, results: list[StoredCell], figures: Figures) -> str:
        rows = [row for cell in results for row in cell.rows]
        tasks = _tasks(config, rows)
        depths = sorted({r["depth"] for r in rows})
        parts = [_target_table(config, tasks), _error_table(tasks, depths, rows)]
        parts.append(
            figures.add(
                _error_figure(config, tasks, depths, rows),
                "error_vs_depth",
                "Error against depth, easy and hard task (mean ± sd over seeds)",
            )
        )
        parts.append(
            figures.add(
                _loss_figure(config, tasks, results),
                "loss_curves",
                "Training loss (minibatch mean per epoch) of every network; colour = depth",
            )
        )
        parts.append(
            figures.add(
                _fits_figure(tasks, depths, rows, results),
                "fits",
                "f^t and the best trained network (lowest L1) at the shallowest and deepest depth",
            )
        )
        parts.append(_findings(config, tasks, depths, rows))
        return "\n\n".join(parts)


class _Minibatches:
    """Index tensors of minibatches, epoch after epoch, one shuffle per epoch.

    The order depends only on the data seed, so every model (and every grouping of models)
    sees the same batches."""

    def __init__(self, seed: int, points: int, size: int) -> None:
        self.generator = torch.Generator().manual_seed(seed)
        self.points, self.size = points, min(size, points)
        self.per_epoch = -(-points // self.size)
        self.pending: list[torch.Tensor] = []

    def __iter__(self):
        return self

    def __next__(self) -> torch.Tensor:
        if not self.pending:
            order = torch.randperm(self.points, generator=self.generator)
            self.pending = list(order.split(self.size))[::-1]
        return self.pending.pop()


def _points(seed: int, points: int, test_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform random training and test points on [−1, 1] (independent streams of one seed)."""
    train_rng, test_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    return train_rng.uniform(-1, 1, points), test_rng.uniform(-1, 1, test_points)


def _c_label(c: float) -> str:
    return "φ" if c == PHI else f"{c:g}"


def _tasks(config: DepthWidthConfig, rows: list[dict]) -> list[tuple[float, int]]:
    present = {(r["c"], r["t"]) for r in rows}
    return [
        (c, t)
        for c in dict.fromkeys(config.slopes)
        for t in dict.fromkeys(config.tasks)
        if (c, t) in present
    ]


def _target_facts(c: float, t: int, low: float, high: float) -> dict[str, object]:
    """Pieces of f^t and its oscillations between the levels, exactly where f^t is small
    enough to build (None beyond)."""
    if 2 * c ** (t + 1) > MAX_ITERATE_KNOTS:
        return {"pieces": None, "oscillations": None}
    ft = iterate_map(abs_map(c), t)
    return {"pieces": len(ft.x) - 1, "oscillations": oscillations(ft, low, high)}


def _target_table(config: DepthWidthConfig, tasks) -> str:
    table = []
    for c, t in tasks:
        facts = _target_facts(c, t, config.low, config.high)
        count = c**t
        osc = facts["oscillations"]
        table.append(
            [
                _c_label(c),
                t,
                facts["pieces"] if facts["pieces"] is not None else "not built",
                osc if osc is not None else "not built",
                f"{count:.4g}",
                f"{osc / count:.3f}" if osc is not None else None,
                *[f"{(2 * config.width) ** d <= count / 8}" for d in sorted(set(config.depths))],
            ]
        )
    depths = sorted(set(config.depths))
    header = [
        "c",
        "t",
        "pieces of f^t",
        f"oscillations in [{config.low:g}, {config.high:g}]",
        "c^t",
        "oscillations / c^t",
        *[f"(2u)^{d} ≤ c^t/8" for d in depths],
    ]
    return (
        f"**The targets.** Pieces and oscillations of f^t are exact (f^t built knot by knot) "
        f"where it has at most {MAX_ITERATE_KNOTS:,} knots. The bound assumes c^t "
        f"oscillations; the last columns say for which depths its hypothesis "
        f"(2u)^l ≤ c^t/8 holds for width u = {config.width}.\n\n" + markdown_table(header, table)
    )


def _stats(values: list[float]) -> str:
    return (
        f"{np.mean(values):.4g} ± {np.std(values):.2g}" if len(values) > 1 else f"{values[0]:.4g}"
    )


def _pieces(counts: list[int]) -> str:
    return f"{np.mean(counts):.1f} (max {max(counts)})"


def _select(rows, c, t, depth) -> list[dict]:
    return [r for r in rows if r["c"] == c and r["t"] == t and r["depth"] == depth]


def _error_table(tasks, depths, rows) -> str:
    table = []
    for c, t in tasks:
        for depth in depths:
            chosen = _select(rows, c, t, depth)
            if not chosen:
                continue
            first = chosen[0]
            table.append(
                [
                    _c_label(c),
                    t,
                    depth,
                    len(chosen),
                    _stats([r["test_mse"] for r in chosen]),
                    _stats([r["l1"] for r in chosen]),
                    f"{first['l1_bound']:.4g}",
                    _stats([r["class_error"] for r in chosen]),
                    _pieces([r["pieces"] for r in chosen]),
                    first["capacity"],
                ]
            )
    header = [
        "c",
        "t",
        "depth l",
        "nets",
        "test MSE",
        "L1 error",
        "L1 bound",
        "class. error",
        "pieces of g",
        "(2u)^l",
    ]
    return (
        "**Errors of the trained networks** (mean ± sd over seeds, on the test points).\n\n"
        + markdown_table(header, table)
    )


def _error_figure(config, tasks, depths, rows):
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for (c, t), color in zip(tasks, [f"C{i}" for i in range(len(tasks))], strict=True):
        label = f"c = {_c_label(c)}, t = {t}"
        for ax, key in zip(axes, ("test_mse", "l1", "class_error"), strict=True):
            xs = [d for d in depths if _select(rows, c, t, d)]
            values = [[r[key] for r in _select(rows, c, t, d)] for d in xs]
            means = np.array([np.mean(v) for v in values])
            spreads = np.array([np.std(v) for v in values])
            ax.errorbar(xs, means, spreads, color=color, marker="o", ms=3, capsize=2, label=label)
            if key == "l1" and any(_select(rows, c, t, d)[0]["l1_bound"] > 0 for d in xs):
                ax.plot(
                    xs,
                    [_select(rows, c, t, d)[0]["l1_bound"] for d in xs],
                    ls="--",
                    color=color,
                    lw=1,
                    label=f"bound, t = {t}",
                )
    for ax, title in zip(
        axes, ("test MSE", "L1 error ∫|f^t − g|", "classification error"), strict=True
    ):
        ax.set(xlabel="depth l (hidden layers)", title=title, xticks=depths)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=6)
    figure.suptitle(f"width {config.width}: error vs depth", fontsize=10)
    figure.tight_layout()
    return figure


def _loss_figure(config, tasks, results):
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.2), squeeze=False)
    for ax, (c, t) in zip(axes[0], tasks, strict=True):
        for cell in results:
            p = cell.params
            if p["c"] != c or p["t"] != t:
                continue
            for curve in (curve for curve in cell.curves if curve.name == "loss"):
                epochs = np.arange(len(curve.values)) * p["curve_every"]
                ax.plot(
                    epochs,
                    curve.values,
                    lw=0.7,
                    color=f"C{p['depth'] - 1}",
                    label=f"l = {p['depth']}" if curve.seed == cell.seeds[0] else None,
                )
        ax.set(yscale="log", xlabel="epoch", title=f"c = {_c_label(c)}, t = {t}")
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        order = sorted(range(len(labels)), key=labels.__getitem__)
        ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=6)
    axes[0][0].set_ylabel("training MSE")
    figure.tight_layout()
    return figure


def network_of(cell: StoredCell, seed: int) -> MLP:
    """The trained network of ``seed`` in ``cell``, rebuilt from its stored weights."""
    flat = next(c.values for c in cell.curves if c.name == "weights" and c.seed == seed)
    p = cell.params
    return MLP.from_flat(flat, [1, *[p["width"]] * p["depth"], 1])


def _fits_figure(tasks, depths, rows, results):
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.2), squeeze=False)
    u = np.linspace(-1, 1, 4001)
    for ax, (c, t) in zip(axes[0], tasks, strict=True):
        ax.plot(u, abs_map(c).iterate(u, t), color="0.6", lw=0.5, label=f"$f^{{{t}}}$")
        for depth in dict.fromkeys([depths[0], depths[-1]]):
            chosen = _select(rows, c, t, depth)
            if not chosen:
                continue
            best = min(chosen, key=lambda r: r["l1"])
            cell = next(
                cell
                for cell in results
                if (cell.params["c"], cell.params["t"], cell.params["depth"]) == (c, t, depth)
                and best["seed"] in cell.seeds
            )
            ax.plot(u, network_of(cell, best["seed"])(u[:, None])[:, 0], lw=1,
                    label=f"l = {depth}: {best['pieces']} pieces")  # fmt: skip
        ax.set(xlabel="x", title=f"c = {_c_label(c)}, t = {t}")
        ax.legend(fontsize=6, loc="lower right")
    figure.tight_layout()
    return figure


def _trend(shallow: list[float], deep: list[float]) -> str:
    """'falls' or 'rises' when the means differ by more than two standard errors and 1 %."""
    gap = np.mean(deep) - np.mean(shallow)
    percent = f"{100 * gap / np.mean(shallow):+.1f} %"
    if len(shallow) < 2 or len(deep) < 2:
        return f"changes by {percent} (one seed: no error bars)"
    error = np.sqrt(np.var(shallow, ddof=1) / len(shallow) + np.var(deep, ddof=1) / len(deep))
    if abs(gap) <= 2 * error or abs(gap) < 0.01 * np.mean(shallow):
        return f"is flat in depth ({percent}, within two standard errors or 1 %)"
    return f"{'falls' if gap < 0 else 'rises'} with depth ({percent})"


def _findings(config, tasks, depths, rows) -> str:
    """What the numbers say about the slides' two claims, computed from them."""
    lines = []
    for c, t in tasks:
        measured = [d for d in depths if _select(rows, c, t, d)]
        if len(measured) < 2:
            continue
        l1 = {d: float(np.mean([r["l1"] for r in _select(rows, c, t, d)])) for d in measured}
        bound = {d: _select(rows, c, t, d)[0]["l1_bound"] for d in measured}
        pieces = {d: max(r["pieces"] for r in _select(rows, c, t, d)) for d in measured}
        first, last = measured[0], measured[-1]
        trend = _trend(*[[r["l1"] for r in _select(rows, c, t, d)] for d in (first, last)])
        line = (
            f"- c = {_c_label(c)}, t = {t}: the L1 error {trend}: "
            f"{l1[first]:.3g} at l = {first}, {l1[last]:.3g} at l = {last}; the most pieces "
            f"any trained net has is {max(pieces.values())}, "
            f"against a capacity of {(2 * config.width) ** last:.3g} and c^t = {c**t:.3g}."
        )
        _, test_x = _points(config.data_seed, config.points, config.test_points)
        values = abs_map(c).iterate(test_x, t)
        line += (
            f" A constant (the median of f^t) has L1 error "
            f"{2 * np.mean(np.abs(values - np.median(values))):.3g}."
        )
        holding = [
            d for d in measured if bound[d] > 0 and _select(rows, c, t, d)[0]["hypothesis_holds"]
        ]
        if holding:
            ratios = [l1[d] / bound[d] for d in holding]
            line += (
                f" Where (2u)^l ≤ c^t/8 holds (l = {', '.join(map(str, holding))}) the "
                f"error is {min(ratios):.2f}–{max(ratios):.2f} times the bound "
                f"{bound[holding[0]]:.3g}."
            )
        else:
            line += " The hypothesis (2u)^l ≤ c^t/8 holds at no depth measured: no bound applies."
        lines.append(line)
    lines.append(
        "- Beside the slides: they show the easy-task error falling with depth and the "
        "hard-task error flat in depth and 'extremely close to the theoretical bound'. The "
        "first two are what the lines above measure; for the third, the slides do not give "
        "their oscillation levels or the normalisation of their L1 error, so their bound line "
        "cannot be recomputed: the bound here uses the levels in the settings and the "
        "integral over [−1, 1]."
    )
    unresolved = [r for r in rows if not r["resolved"]]
    if unresolved:
        lines.append(
            f"- float64 could not resolve every breakpoint of {len(unresolved)} trained "
            f"networks; their piece counts may be off by a few."
        )
    return "**What the numbers show**\n\n" + "\n".join(lines)
