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
  Adam (:func:`bends.training.flows.descend_tied`); pieces against k and w.

Example:
    >>> study = RandomBaselines()
    >>> config = study.Config(depths=(2,), widths=(4,), inits=("he",), rnn_widths=(3,),
    ...                       steps=(2,), seeds=2, epochs=5)
    >>> [sorted(study.run_cell(cell).rows[0])[:3] for cell in study.cells(config)][0]
    ['depth', 'family', 'init']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from bends.analysis.stats import growth_fits, select_growth
from bends.nets.random import random_mlp
from bends.runner.config import StudyConfig, require, setting
from bends.runner.counting import count
from bends.runner.figures import Figures, new_figure, plot_means
from bends.runner.grid import grid
from bends.runner.study import Cell, CellResult, Curve, StoredCell, Study
from bends.runner.summaries import findings, group, interval, mean, median, rows_of, share, table
from bends.training.flows import descend_tied
from bends.training.loop import descend
from bends.training.mlp import mlp_forward, mse, networks_of, trainable_layers
from bends.training.tied import TiedProblem, outputs, placement_points, target_values


@dataclass(frozen=True)
class RandomBaselinesConfig(StudyConfig):
    inits: tuple[Literal["torch", "he", "he-bias"], ...] = setting(
        ("torch", "he-bias"), "MLP initialisations (he: zero biases)"
    )
    depths: tuple[int, ...] = setting((1, 2, 3, 4, 6, 8), "MLP hidden layers", at_least=1)
    widths: tuple[int, ...] = setting((4, 8, 16, 32), "MLP hidden widths", at_least=1)
    rnn_widths: tuple[int, ...] = setting((2, 4, 7, 12), "tied-RNN widths w", at_least=2)
    steps: tuple[int, ...] = setting(tuple(range(1, 17)), "tied-RNN steps k", at_least=1)
    seeds: int = setting(16, "networks per setting")
    seeds_per_cell: int = setting(16, "networks trained together in one cell")
    target: str = setting("cantor", "training data (as in conjecture)")
    points: int = setting(256, "data points, evenly spaced on t ∈ [0, 1]", at_least=2)
    epochs: int = setting(1000, "full-batch Adam steps", at_least=0)
    lr: float = setting(1e-3, "Adam learning rate", above=0)
    window_low: float = setting(-1.0, "wide window: lowest t")
    window_high: float = setting(2.0, "wide window: highest t")

    def validate(self) -> None:
        super().validate()
        require(self.window_low < self.window_high, "need window_low < window_high")


class RandomBaselines(Study):
    name = "random-baselines"
    summary = "pieces of random MLPs (depth, width) and tied RNNs (k, w), at init and trained"
    Config = RandomBaselinesConfig
    guide = "studies/random-baselines.md"
    version = 2  # 2: live_init, and E[pieces | live] in the report
    demo = {"inits": ["torch"], "depths": [1, 2, 4], "widths": [8], "rnn_widths": [4],  # noqa: RUF012
            "steps": [1, 2, 4, 8], "seeds": 4, "seeds_per_cell": 4, "epochs": 200}  # fmt: skip

    def cells(self, config: RandomBaselinesConfig) -> list[Cell]:
        shared = config.fixed("inits", "depths", "widths", "rnn_widths", "steps")
        groups = config.seed_groups()
        mlps = {"family": ["mlp"], "depth": sorted(set(config.depths), reverse=True),
                "width": config.widths, "init": config.inits}  # fmt: skip
        rnns = {"family": ["rnn"], "k": sorted(set(config.steps), reverse=True),
                "width": config.rnn_widths}  # fmt: skip
        order = ("family", "init", "depth", "width")
        return grid(self, mlps, groups, shared, order) + grid(
            self, rnns, groups, shared, order=("family", "width", "k")
        )

    def run_cell(self, cell: Cell) -> CellResult:
        if cell.params["family"] == "mlp":
            return _mlp_cell(cell)
        return _rnn_cell(cell)

    def report(
        self, config: RandomBaselinesConfig, results: list[StoredCell], figures: Figures
    ) -> str:
        rows = group(rows_of(results), "family")
        mlp, rnn = rows.get("mlp", []), rows.get("rnn", [])
        parts = []
        if mlp:
            parts += [
                "Random MLPs (pieces on the data's range and on the wide window):\n\n"
                + table(
                    mlp,
                    ["init", "depth", "width"],
                    {
                        "neurons": "neurons",
                        "nets": len,
                        "E[pieces] init": mean("pieces_init"),
                        "E[pieces] trained": mean("pieces"),
                        "wide init": mean("wide_pieces_init"),
                        "wide trained": mean("wide_pieces"),
                        "median loss trained": median("loss"),
                    },
                ),
                figures.add(
                    _mlp_figure(mlp),
                    "mlp_pieces",
                    "Random MLPs: E[pieces] on the data's range against depth (left, "
                    "one line per width and initialisation) and against total neurons "
                    "(right); hollow: at initialisation, filled: trained",
                ),
            ]
        if rnn:
            parts += [
                "Random tied RNNs:\n\n"
                + table(
                    rnn,
                    ["width", "k"],
                    {
                        "nets": len,
                        "E[pieces] init": interval("pieces_init"),
                        "E[pieces] trained": interval("pieces"),
                        "wide init": mean("wide_pieces_init"),
                        "wide trained": mean("wide_pieces"),
                        "init not affine": share(lambda r: r["pieces_init"] > 1),
                        "live at init": share(lambda r: r.get("live_init", True)),
                        "E[pieces | live] trained": _live_mean,
                        "median loss trained": median("loss"),
                    },
                ),
                figures.add(
                    _rnn_figure(rnn),
                    "rnn_pieces",
                    "Random tied RNNs: E[pieces] against k per width w (95 % bootstrap "
                    "interval); dashed: at initialisation, solid: trained by Adam",
                ),
            ]
        parts.append(_findings(mlp, rnn))
        return "\n\n".join(parts)


def _mlp_cell(cell: Cell) -> CellResult:
    p = cell.params
    t = placement_points("uniform", p["points"])
    y = target_values(p["target"], t)
    nets = [random_mlp([1, *[p["width"]] * p["depth"], 1], seed, p["init"]) for seed in cell.seeds]
    layers = trainable_layers(nets)
    x = torch.from_numpy(t)[:, None]
    target = torch.from_numpy(y).expand(len(nets), -1)

    def losses() -> torch.Tensor:
        return mse(mlp_forward(layers, x)[..., 0], target)

    curve = descend([a for layer in layers for a in layer], losses, p["epochs"], p["lr"]).curve
    result = CellResult()
    trained = networks_of(layers)
    for m, (seed, start, net) in enumerate(zip(cell.seeds, nets, trained, strict=True)):
        row = {
            **{key: p[key] for key in ("family", "init", "depth", "width")},
            "neurons": p["depth"] * p["width"],
            "seed": seed,
        }
        for label, network in (("_init", start), ("", net)):
            row[f"pieces{label}"] = count(network, [0.0], [1.0]).pieces
            row[f"wide_pieces{label}"] = count(
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
    wide = problem.segment(p["window_low"], p["window_high"])
    result = CellResult()
    for m, (seed, start) in enumerate(zip(cell.seeds, starts, strict=True)):
        end = start if run is None else run.weight[m]
        first, last = problem.network(start), problem.network(end)
        result.rows.append(
            {
                **{key: p[key] for key in ("family", "width", "k")},
                "neurons": p["width"] * p["k"],
                "seed": seed,
                "pieces_init": count(first).pieces,
                "pieces": count(last).pieces,
                "wide_pieces_init": count(first, *wide).pieces,
                "wide_pieces": count(last, *wide).pieces,
                "loss_init": float(problem.losses(start)),
                "loss": float(problem.losses(end)),
                "live_init": bool(np.any(outputs(start, problem.inputs, p["k"]) != 0)),
            }
        )
        if run is not None:
            result.curves.append(Curve("loss", seed, run.losses[:, m]))
    return result


def _mlp_figure(rows: list[dict]):
    figure, (depth_ax, neuron_ax) = new_figure(1, 2, figsize=(10, 3.8), layout="constrained")
    for i, ((init, width), members) in enumerate(group(rows, "init", "width").items()):
        for key, fill in (("pieces_init", "white"), ("pieces", f"C{i}")):
            label = f"{init}, width {width}" if key == "pieces" else None
            plot_means(depth_ax, members, "depth", key, spread=None, color=f"C{i}", mfc=fill,
                       ls="-" if key == "pieces" else ":", label=label)  # fmt: skip
            plot_means(neuron_ax, members, "neurons", key, spread=None, color=f"C{i}",
                       mfc=fill, ls="none")  # fmt: skip
    depth_ax.set(xlabel="depth (hidden layers)", ylabel="E[pieces]", yscale="log")
    neuron_ax.set(xlabel="total neurons", ylabel="E[pieces]", xscale="log", yscale="log")
    depth_ax.legend(fontsize=7, ncol=2)
    return figure


def _live_mean(rows: list[dict]) -> str:
    live = [r["pieces"] for r in rows if r.get("live_init", True)]
    return f"{np.mean(live):.3g}" if live else "—"


def _rnn_figure(rows: list[dict]):
    figure, ax = new_figure(figsize=(6, 3.8), layout="constrained")
    for i, (width, members) in enumerate(group(rows, "width").items()):
        # init and trained often coincide (a dead W₀ stays dead): markers apart, side by side
        for key, style, marker, fill, shift in (
            ("pieces_init", "--", "o", "white", 0.97),
            ("pieces", "-", "s", f"C{i}", 1.03),
        ):
            shifted = [{**r, "k": r["k"] * shift} for r in members]
            plot_means(
                ax,
                shifted,
                "k",
                key,
                spread="interval",
                color=f"C{i}",
                ls=style,
                marker=marker,
                mfc=fill,
                label=f"w = {width}, " + ("init" if key == "pieces_init" else "trained"),
            )
    ax.set(xlabel="steps k", ylabel="E[pieces] (data range)", yscale="log", xscale="log")
    ax.legend(fontsize=8)
    return figure


def _findings(mlp: list[dict], rnn: list[dict]) -> str:
    lines = []
    if mlp:
        most = max(mlp, key=lambda r: r["pieces"])
        spans = {
            key: [mean(key)(g) for g in group(mlp, "init", "depth", "width").values()]
            for key in ("pieces_init", "pieces")
        }
        lines.append(
            f"- MLPs: E[pieces] on the data's range spans {min(spans['pieces_init']):.3g}–"
            f"{max(spans['pieces_init']):.3g} at initialisation and {min(spans['pieces']):.3g}–"
            f"{max(spans['pieces']):.3g} after training over the grid; the most any trained MLP "
            f"had is {most['pieces']} (depth {most['depth']}, width {most['width']}, "
            f"{most['init']})."
        )
    for width, members in group(rnn, "width").items():
        by_k = group(members, "k")
        if len(by_k) < 3:
            continue
        fits = {
            label: select_growth(growth_fits(list(by_k), [mean(key)(g) for g in by_k.values()]))
            for key, label in (("pieces_init", "at initialisation"), ("pieces", "trained"))
        }
        statements = [f"{label}: {fit.statement}" for label, fit in fits.items()]
        lines.append(f"- Tied RNNs, w = {width}: " + "; ".join(statements) + ".")
    return findings(lines)
