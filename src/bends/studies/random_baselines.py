r"""Study ``random-baselines``: pieces of random networks at initialisation and after training.

The baselines the conjecture's numbers are read against, on the same data (default: the
Cantor function at 256 evenly spaced points of [0, 1]) and counted the same way (exactly, on
the data's range and on a wide window):

* **MLPs** with biases, input dimension 1 (the line is the input space), ``depths`` ×
  ``widths`` hidden layers, PyTorch's default initialisation or He-normal weights with
  PyTorch's biases (``he-bias``; plain ``he`` has zero biases, which puts every breakpoint
  at x = 0; :mod:`bends.nets.random`), trained by full-batch Adam (all seeds of a cell as one
  batch, :mod:`bends.training.mlp`); pieces against depth, width and total neurons.
* **Tied RNNs** :math:`f_k(W, x)` with standard normal W of each width w, on the line
  x(t) = (t, 1, 0, …) as in ``conjecture`` (seed s gives the same W for every k), trained by
  Adam (:func:`bends.training.tied.descend_tied`); pieces against k and w.

Example:
    >>> study = RandomBaselines()
    >>> config = study.Config(depths=(2,), widths=(4,), inits=("he",), rnn_widths=(3,),
    ...                       steps=(2,), seeds=2, epochs=5)
    >>> [sorted(study.run_cell(cell).rows[0])[:3] for cell in study.cells(config)][0]
    ['depth', 'family', 'init']
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from bends.analysis.stats import growth_fits, mean_interval, select_growth
from bends.errors import ResolutionWarning
from bends.nets.random import random_mlp
from bends.runner.config import StudyConfig, require, setting
from bends.runner.report import Figures, markdown_table
from bends.runner.study import Cell, CellResult, Curve, StoredCell, Study
from bends.studies.conjecture import count_pieces
from bends.tracing import trace
from bends.training.loop import descend
from bends.training.manifold import networks_of, stack_mlps
from bends.training.mlp import mlp_forward, mse
from bends.training.tied import TiedProblem, descend_tied, placement_points, target_values


@dataclass(frozen=True)
class RandomBaselinesConfig(StudyConfig):
    inits: tuple[Literal["torch", "he", "he-bias"], ...] = setting(
        ("torch", "he-bias"), "MLP initialisations (he: zero biases)"
    )
    depths: tuple[int, ...] = setting((1, 2, 3, 4, 6, 8), "MLP hidden layers")
    widths: tuple[int, ...] = setting((4, 8, 16, 32), "MLP hidden widths")
    rnn_widths: tuple[int, ...] = setting((2, 4, 7, 12), "tied-RNN widths w")
    steps: tuple[int, ...] = setting(tuple(range(1, 17)), "tied-RNN steps k")
    seeds: int = setting(16, "networks per setting")
    seeds_per_cell: int = setting(16, "networks trained together in one cell")
    target: str = setting("cantor", "training data (as in conjecture)")
    points: int = setting(256, "data points, evenly spaced on t ∈ [0, 1]")
    epochs: int = setting(1000, "full-batch Adam steps")
    lr: float = setting(1e-3, "Adam learning rate")
    window_low: float = setting(-1.0, "wide window: lowest t")
    window_high: float = setting(2.0, "wide window: highest t")

    def validate(self) -> None:
        super().validate()
        require(
            all(d >= 1 for d in self.depths) and all(w >= 1 for w in self.widths),
            "depths and widths must be positive",
        )
        require(all(w >= 2 for w in self.rnn_widths), "rnn_widths must be at least 2")
        require(all(k >= 1 for k in self.steps), "steps must be at least 1")
        require(self.points >= 2 and self.epochs >= 0 and self.lr > 0, "need points ≥ 2, lr > 0")
        require(self.window_low < self.window_high, "need window_low < window_high")


class RandomBaselines(Study):
    name = "random-baselines"
    summary = "pieces of random MLPs (depth, width) and tied RNNs (k, w), at init and trained"
    Config = RandomBaselinesConfig
    guide = "studies/random-baselines.md"
    demo = {  # noqa: RUF012
        "inits": ["torch"],
        "depths": [1, 2, 4],
        "widths": [8],
        "rnn_widths": [4],
        "steps": [1, 2, 4, 8],
        "seeds": 4,
        "seeds_per_cell": 4,
        "epochs": 200,
    }

    def cells(self, config: RandomBaselinesConfig) -> list[Cell]:
        shared = config.fixed("inits", "depths", "widths", "rnn_widths", "steps")
        mlps = [
            self.cell({"family": "mlp", "init": init, "depth": d, "width": w, **shared}, group)
            for d in sorted(set(config.depths), reverse=True)
            for w in dict.fromkeys(config.widths)
            for init in dict.fromkeys(config.inits)
            for group in config.seed_groups()
        ]
        rnns = [
            self.cell({"family": "rnn", "width": w, "k": k, **shared}, group)
            for k in sorted(set(config.steps), reverse=True)
            for w in dict.fromkeys(config.rnn_widths)
            for group in config.seed_groups()
        ]
        return mlps + rnns

    def run_cell(self, cell: Cell) -> CellResult:
        if cell.params["family"] == "mlp":
            return _mlp_cell(cell)
        return _rnn_cell(cell)

    def report(
        self, config: RandomBaselinesConfig, results: list[StoredCell], figures: Figures
    ) -> str:
        rows = [row for cell in results for row in cell.rows]
        mlp = [r for r in rows if r["family"] == "mlp"]
        rnn = [r for r in rows if r["family"] == "rnn"]
        parts = []
        if mlp:
            parts += [
                _mlp_table(mlp),
                figures.add(
                    _mlp_figure(mlp),
                    "mlp_pieces",
                    "Random MLPs: E[pieces] on the data's range against depth (left, one line "
                    "per width and initialisation) and against total neurons (right); "
                    "hollow: at initialisation, filled: trained",
                ),
            ]
        if rnn:
            parts += [
                _rnn_table(rnn),
                figures.add(
                    _rnn_figure(rnn),
                    "rnn_pieces",
                    "Random tied RNNs: E[pieces] against k per width w (95 % bootstrap "
                    "interval); dashed: at initialisation, solid: trained by Adam",
                ),
            ]
        parts.append(_findings(mlp, rnn))
        return "\n\n".join(parts)


def _data(p: dict) -> tuple[np.ndarray, np.ndarray]:
    t = placement_points("uniform", p["points"])
    return t, target_values(p["target"], t)


def _mlp_cell(cell: Cell) -> CellResult:
    p = cell.params
    t, y = _data(p)
    widths = [1, *[p["width"]] * p["depth"], 1]
    nets = [random_mlp(widths, seed, p["init"]) for seed in cell.seeds]
    layers = [(w.requires_grad_(), b.requires_grad_()) for w, b in stack_mlps(nets)]
    x = torch.from_numpy(t)[:, None]
    target = torch.from_numpy(y).expand(len(nets), -1)

    def losses() -> torch.Tensor:
        return mse(mlp_forward(layers, x)[..., 0], target)

    curve = descend([a for layer in layers for a in layer], losses, p["epochs"], p["lr"]).curve
    result = CellResult()
    trained = networks_of(layers)
    for m, (seed, start, net) in enumerate(zip(cell.seeds, nets, trained, strict=True)):
        row = {
            "family": "mlp",
            "init": p["init"],
            "depth": p["depth"],
            "width": p["width"],
            "neurons": p["depth"] * p["width"],
            "seed": seed,
        }
        for label, network in (("_init", start), ("", net)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResolutionWarning)
                row[f"pieces{label}"] = trace(network, [0.0], [1.0]).pieces
                row[f"wide_pieces{label}"] = trace(
                    network, [p["window_low"]], [p["window_high"]]
                ).pieces
        row["loss_init"], row["loss"] = float(curve[m, 0]), float(curve[m, -1])
        result.rows.append(row)
        if p["epochs"]:
            result.curves.append(Curve("loss", seed, curve[m, :: max(1, p["epochs"] // 100)]))
    return result


def _rnn_cell(cell: Cell) -> CellResult:
    p = cell.params
    problem = TiedProblem.from_target(p["target"], p["width"], p["k"], p["points"])
    starts = np.array(
        [np.random.default_rng(s).standard_normal((p["width"], p["width"])) for s in cell.seeds]
    )
    run = descend_tied(problem, starts, "adam", p["lr"], p["epochs"]) if p["epochs"] else None
    result = CellResult()
    for m, (seed, start) in enumerate(zip(cell.seeds, starts, strict=True)):
        end = start if run is None else run.weight[m]
        wide = p["window_low"], p["window_high"]
        result.rows.append(
            {
                "family": "rnn",
                "width": p["width"],
                "k": p["k"],
                "neurons": p["width"] * p["k"],
                "seed": seed,
                "pieces_init": count_pieces(problem, start)[0],
                "pieces": count_pieces(problem, end)[0],
                "wide_pieces_init": count_pieces(problem, start, *wide)[0],
                "wide_pieces": count_pieces(problem, end, *wide)[0],
                "loss_init": float(problem.losses(start)),
                "loss": float(problem.losses(end)),
            }
        )
        if run is not None:
            result.curves.append(Curve("loss", seed, run.losses[:, m]))
    return result


def _mean(rows: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def _mlp_table(rows: list[dict]) -> str:
    keys = sorted({(r["init"], r["depth"], r["width"]) for r in rows})
    body = []
    for init, depth, width in keys:
        group = [r for r in rows if (r["init"], r["depth"], r["width"]) == (init, depth, width)]
        body.append(
            [
                init,
                depth,
                width,
                depth * width,
                len(group),
                _mean(group, "pieces_init"),
                _mean(group, "pieces"),
                _mean(group, "wide_pieces_init"),
                _mean(group, "wide_pieces"),
                float(np.median([r["loss"] for r in group])),
            ]
        )
    header = [
        "init",
        "depth",
        "width",
        "neurons",
        "nets",
        "E[pieces] init",
        "E[pieces] trained",
        "wide init",
        "wide trained",
        "median loss trained",
    ]
    return "Random MLPs (pieces on the data's range and on the wide window):\n\n" + markdown_table(
        header, body
    )


def _rnn_table(rows: list[dict]) -> str:
    keys = sorted({(r["width"], r["k"]) for r in rows})
    body = []
    for width, k in keys:
        group = [r for r in rows if (r["width"], r["k"]) == (width, k)]
        init, trained = (
            mean_interval([r[key] for r in group]) for key in ("pieces_init", "pieces")
        )
        body.append(
            [
                width,
                k,
                len(group),
                str(init),
                str(trained),
                _mean(group, "wide_pieces_init"),
                _mean(group, "wide_pieces"),
                f"{np.mean([r['pieces_init'] > 1 for r in group]):.0%}",
                float(np.median([r["loss"] for r in group])),
            ]
        )
    header = [
        "w",
        "k",
        "nets",
        "E[pieces] init",
        "E[pieces] trained",
        "wide init",
        "wide trained",
        "init not affine",
        "median loss trained",
    ]
    return "Random tied RNNs:\n\n" + markdown_table(header, body)


def _mlp_figure(rows: list[dict]):
    import matplotlib.pyplot as plt

    figure, (depth_ax, neuron_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    series = sorted({(r["init"], r["width"]) for r in rows})
    colours = plt.cm.tab10(np.arange(len(series)) % 10)
    for (init, width), colour in zip(series, colours, strict=True):
        group = [r for r in rows if (r["init"], r["width"]) == (init, width)]
        depths = sorted({r["depth"] for r in group})
        for key, fill in (("pieces_init", "white"), ("pieces", colour)):
            means = [_mean([r for r in group if r["depth"] == d], key) for d in depths]
            depth_ax.plot(
                depths,
                means,
                color=colour,
                marker="o",
                mfc=fill,
                ls="-" if key == "pieces" else ":",
                label=f"{init}, width {width}" if key == "pieces" else None,
            )
            neuron_ax.scatter(
                [d * width for d in depths],
                means,
                color=colour,
                facecolors=fill,
                edgecolors=colour,
                s=20,
            )
    depth_ax.set(xlabel="depth (hidden layers)", ylabel="E[pieces]", yscale="log")
    neuron_ax.set(xlabel="total neurons", ylabel="E[pieces]", xscale="log", yscale="log")
    depth_ax.legend(fontsize=7, ncol=2)
    return figure


def _rnn_figure(rows: list[dict]):
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(6, 3.8))
    widths = sorted({r["width"] for r in rows})
    for width, colour in zip(widths, plt.cm.tab10(np.arange(len(widths)) % 10), strict=True):
        ks = sorted({r["k"] for r in rows if r["width"] == width})
        for key, style in (("pieces_init", "--"), ("pieces", "-")):
            intervals = [
                mean_interval([r[key] for r in rows if (r["width"], r["k"]) == (width, k)])
                for k in ks
            ]
            means = np.array([i.mean for i in intervals])
            ax.errorbar(
                ks,
                means,
                yerr=[means - [i.low for i in intervals], [i.high for i in intervals] - means],
                color=colour,
                ls=style,
                marker="o",
                ms=3,
                capsize=2,
                label=f"w = {width}" if key == "pieces" else None,
            )
    ax.set(xlabel="steps k", ylabel="E[pieces] (data range)", yscale="log")
    ax.legend(fontsize=8)
    return figure


def _findings(mlp: list[dict], rnn: list[dict]) -> str:
    lines = ["**What these runs show** (nothing beyond them):", ""]
    if mlp:
        most = max(mlp, key=lambda r: r["pieces"])
        lines.append(
            f"- MLPs: E[pieces] on the data's range spans {_mean_range(mlp, 'pieces_init')} at "
            f"initialisation and {_mean_range(mlp, 'pieces')} after training over the grid; "
            f"the most any trained MLP had is {most['pieces']} (depth {most['depth']}, width "
            f"{most['width']}, {most['init']})."
        )
    for width in sorted({r["width"] for r in rnn}):
        group = [r for r in rnn if r["width"] == width]
        ks = sorted({r["k"] for r in group})
        if len(ks) < 3:
            continue
        statements = []
        for key, label in (("pieces_init", "at initialisation"), ("pieces", "trained")):
            means = [_mean([r for r in group if r["k"] == k], key) for k in ks]
            statements.append(f"{label}: {select_growth(growth_fits(ks, means)).statement}")
        lines.append(f"- Tied RNNs, w = {width}: " + "; ".join(statements) + ".")
    return "\n".join(lines)


def _mean_range(rows: list[dict], key: str) -> str:
    groups = {}
    for r in rows:
        groups.setdefault((r["init"], r["depth"], r["width"]), []).append(r[key])
    means = [np.mean(v) for v in groups.values()]
    return f"{min(means):.3g}–{max(means):.3g}"
