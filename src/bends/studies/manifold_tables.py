r"""Study ``manifold-tables``: Tables 1 and 2 of Milkert, Hyde & Laine, beside the paper's.

Every method trains 4-wide networks with ``depth`` (5) hidden layers by full-batch Adam on
``points`` (2^9) evenly spaced points of [0, 1], ``epochs`` per stage, float64:

=============  =========================================================  ==============
method         start                                                       stages trained
=============  =========================================================  ==============
default        PyTorch's default nn.Linear initialisation                  raw weights
raai           RAI (Lu et al. 2019; see :func:`bends.nets.random.rai_mlp`)  raw weights
stage1         peaks from the seed, scales by the manifold rule            1
stage3         same start, relaxed to raw weights                          3
free-scale     peaks from the seed, scales uniform on (0, 1)               3
free-scale2+3  the same start as free-scale                                2, 3
stage2+3       same start as stage1, relaxed to free scales                2, 3
stage1+3       same start as stage1                                        1, 3
all            same start as stage1                                        1, 2, 3
=============  =========================================================  ==============

Peaks are drawn uniformly on (``peak_low``, ``peak_high``) from the model's seed, so every
manifold method of a seed starts from the same peaks. Waves are subtracted from y = x when
the target lies below the line on average (x³, x¹¹) and added otherwise (sin, tanh). A model
is *collapsed* when its output is constant on [0, 1] (all of its ReLUs dead or frozen).

Example:
    >>> study = ManifoldTables()
    >>> config = study.Config(targets=("x**3",), methods=("stage1",), seeds=1, epochs=20)
    >>> row = study.run_cell(study.cells(config)[0]).rows[0]
    >>> row["pieces"], row["collapsed"]
    (32, False)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import numpy as np
import torch

import bends.studies._manifold_comparison as comparison
from bends.constructions.compositional import bend_depth
from bends.plotting import plot_layers
from bends.runner.config import StudyConfig, require, setting
from bends.runner.counting import count, quiet_trace
from bends.runner.figures import Figures, new_figure
from bends.runner.grid import grid
from bends.runner.study import Cell, CellResult, Curve, SavedNetwork, StoredCell, Study, curves
from bends.runner.summaries import (
    findings,
    group,
    markdown_table,
    median,
    resolution_finding,
    rows_of,
    values,
)
from bends.training.manifold import (
    STAGES,
    DifferenceModel,
    PeakMap,
    StagedModel,
    starting_models,
    train_stages,
)
from bends.training.mlp import mse
from bends.training.targets import target

Method = Literal[
    "default",
    "raai",
    "stage1",
    "stage3",
    "free-scale",
    "free-scale2+3",
    "stage2+3",
    "stage1+3",
    "all",
]
LABELS = {
    "default": "Default network",
    "raai": "RAAI distribution (RAI)",
    "stage1": "Stage 1",
    "stage3": "Stage 3 (GD only)",
    "free-scale": "Free scale init.",
    "free-scale2+3": "Free scale init., stages 2 and 3",
    "stage2+3": "Stage 2 and 3",
    "stage1+3": "Stage 1 and 3",
    "all": "All stages",
}
PAPER_TARGETS = ("x**3", "x**11", "sin(pi*x/2)", "tanh(3*x)")


@dataclass(frozen=True)
class ManifoldTablesConfig(StudyConfig):
    targets: tuple[str, ...] = setting(PAPER_TARGETS, "targets, NumPy expressions in x")
    methods: tuple[Method, ...] = setting(tuple(STAGES), "methods (rows of the tables)")
    seeds: int = setting(30, "models per method and target")
    seeds_per_cell: int = setting(30, "models trained together in one cell")
    epochs: int = setting(1000, "Adam epochs per stage", at_least=1)
    lr: float = setting(1e-3, "Adam learning rate", above=0)
    points: int = setting(512, "evenly spaced training points on [0, 1]", at_least=2)
    sparse: int = setting(
        0, "n > 0: train on n random points, test on n others (ICML table)", at_least=0
    )
    data_seed: int = setting(0, "seed of the sparse training and test points")
    difference: bool = setting(False, "fit F_a − F_b of two compositional nets (8 wide)")
    depth: int = setting(5, "hidden layers (4 neurons each)", at_least=1)
    peak_map: Literal["sigmoid", "clamp"] = setting("clamp", "how peaks stay in (0, 1)")
    clamp_margin: float = setting(
        0.01, "clamped peaks stay in [margin, 1 − margin]", above=0, below=0.5
    )
    peak_low: float = setting(0.1, "initial peaks are uniform on (peak_low, peak_high)", above=0)
    peak_high: float = setting(0.9, "see peak_low", below=1)
    curve_every: int = setting(10, "store the loss every this many epochs", at_least=1)
    device: str = setting("cpu", "torch device (cpu, cuda)")

    def validate(self) -> None:
        super().validate()
        for expression in self.targets:
            target(expression)(np.linspace(0.0, 1.0, 5))  # rejects unsafe or non-finite ones
        require(self.sparse == 0 or self.sparse >= 2, "sparse must be 0 or at least 2")
        require(self.peak_low < self.peak_high, "need peak_low < peak_high")


class ManifoldTables(Study):
    name = "manifold-tables"
    summary = "manifold training vs baselines: the paper's Tables 1 and 2 (min/mean MSE)"
    Config = ManifoldTablesConfig
    guide = "studies/manifold-tables.md"
    demo = {"targets": ["x**3"], "seeds": 4, "seeds_per_cell": 4, "epochs": 300}  # noqa: RUF012

    def cells(self, config: ManifoldTablesConfig) -> list[Cell]:
        # Longest cells first (most stages), so parallel workers finish together.
        methods = sorted(dict.fromkeys(config.methods), key=lambda m: -len(STAGES[m]))
        axes = {"method": methods, "target": config.targets}
        shared = config.fixed("targets", "methods")
        return grid(self, axes, config.seed_groups(), shared, order=("target", "method"))

    def run_cell(self, cell: Cell) -> CellResult:
        p = cell.params
        dtype, device = torch.float64, p["device"]
        inputs, tests = _data(p)
        f = target(p["target"])
        subtract = bool(np.mean(f(inputs) - inputs) < 0)
        models = len(cell.seeds)

        def tensors(points: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
            x = torch.from_numpy(points)[:, None].to(device)
            return x, torch.from_numpy(f(points)).to(device).expand(models, -1)

        x, y = tensors(inputs)
        start = starting_models(
            p["method"], cell.seeds, p["depth"], subtract, p["difference"],
            (p["peak_low"], p["peak_high"]), PeakMap(p["peak_map"], p["clamp_margin"]),
            dtype, device,
        )  # fmt: skip
        counted = {}

        def after(stage: int, model: StagedModel | DifferenceModel) -> None:
            counted[stage] = [count(net, [0.0], [1.0]) for net in model.networks()]

        model, curve = train_stages(start, STAGES[p["method"]], x, y, p["epochs"], p["lr"], after)
        with torch.no_grad():
            errors = mse(model.forward(x)[..., 0], y).cpu().numpy()
            test_errors = None
            if tests is not None:
                test_errors = mse(model.forward(tensors(tests)[0])[..., 0], tensors(tests)[1])
            dense = model.forward(torch.linspace(0, 1, 513, dtype=dtype, device=device)[:, None])
            spread = (dense.amax(dim=(1, 2)) - dense.amin(dim=(1, 2))).cpu().numpy()
        result, trained = CellResult(), model.networks()
        for m, seed in enumerate(cell.seeds):
            row = {
                "target": p["target"],
                "method": p["method"],
                "seed": seed,
                "mse": float(errors[m]),
                "test_mse": None if test_errors is None else float(test_errors[m]),
                "collapsed": bool(spread[m] <= 1e-12),
            }
            for stage, models in counted.items():
                row[f"pieces_stage{stage}"] = models[m].pieces
            final = counted[STAGES[p["method"]][-1]][m]
            row["pieces"] = final.pieces
            row["resolved"] = all(models[m].resolved for models in counted.values())
            row["bend_depth"] = bend_depth(final.switches)
            row |= {f"switches_layer{k + 1}": v for k, v in enumerate(final.switches)}
            result.rows.append(row)
            result.curves.append(Curve("loss", seed, curve[m, :: p["curve_every"]]))
            result.networks.append(SavedNetwork("trained", seed, trained[m]))
        return result

    def report(
        self, config: ManifoldTablesConfig, results: list[StoredCell], figures: Figures
    ) -> str:
        rows = rows_of(results)
        paper = json.loads(
            resources.files("bends.studies").joinpath("data/manifold_tables_paper.json")
            .read_text()
        )  # fmt: skip
        parts = [
            _table(config, rows, paper, expression)
            for expression in _present(config.targets, rows, "target")
        ]
        if not config.sparse and not config.difference:  # the paper's numbers: dense data
            found = comparison.cells(rows, paper, LABELS)
            parts += [
                comparison.icml_table(found, paper, LABELS),
                comparison.discrepancies(found, LABELS),
                comparison.order_agreement(found),
            ]
            parts = [part for part in parts if part]
        caption = "Median training loss per method (all stages in sequence)"
        parts.append(figures.add(_loss_figure(config, results), "loss_curves", caption))
        parts.append(_layer_figures(config, results, figures))
        parts.append(_findings(config, rows, paper))
        return "\n\n".join(parts)


def _present(wanted, rows, key) -> list:
    """The settings' values of ``key`` (in their order) that some row has."""
    found = {r[key] for r in rows}
    return [v for v in dict.fromkeys(wanted) if v in found]


def _table(config, rows, paper, expression) -> str:
    """Min and mean MSE per method beside the paper's (test errors for sparse data)."""
    by = group([r for r in rows if r["target"] == expression], "method")
    body = []
    for method in _present(config.methods, rows, "method"):
        if method not in by:
            continue
        found = by[method]
        errors = np.array(values(found, "mse"))
        if config.sparse:  # the paper's numbers are for the dense data: compare test error
            tests = np.array(values(found, "test_mse"))
            compared = [float(tests.min()), float(tests.mean())]
        else:
            ref = paper.get(expression, {}).get(method, [None, None])
            compared = [ref[0], _ratio(errors.min(), ref[0]), ref[1], _ratio(errors.mean(), ref[1])]
        body.append([
            LABELS[method], float(errors.min()), comparison.spread(errors), float(errors.mean()),
            *compared,
            f"{sum(values(found, 'collapsed'))}/{len(found)}", int(median("pieces")(found)),
            median("bend_depth")(found),
        ])  # fmt: skip
    header = ["method", "min MSE", "median [IQR]", "mean MSE",
              *(["min test MSE", "mean test MSE"] if config.sparse else
                ["paper min", "ratio", "paper mean", "ratio"]),
              "collapsed", "median pieces", "median bend depth"]  # fmt: skip
    return f"**Target** `y = {expression}`\n\n{markdown_table(header, body)}"


def _data(p) -> tuple[np.ndarray, np.ndarray | None]:
    """Training points, and test points when the data are sparse (shared by all models)."""
    if not p["sparse"]:
        return np.linspace(0.0, 1.0, p["points"]), None
    drawn = np.random.default_rng(p["data_seed"]).uniform(0.0, 1.0, 2 * p["sparse"])
    return np.sort(drawn[: p["sparse"]]), np.sort(drawn[p["sparse"] :])


def _ratio(ours: float, theirs: float | None) -> float | None:
    return None if theirs is None else float(ours / theirs)


def _loss_figure(config, results):
    targets = list(dict.fromkeys(config.targets))
    figure, axes = new_figure(1, len(targets), figsize=(4.5 * len(targets), 3.4),
                              squeeze=False, layout="constrained")  # fmt: skip
    for ax, expression in zip(axes[0], targets, strict=True):
        for method in dict.fromkeys(config.methods):
            found = [
                c.values
                for _, c in curves(results, "loss", {"target": expression, "method": method})
            ]
            if found:
                epochs = np.arange(len(found[0])) * config.curve_every
                ax.plot(epochs, np.median(np.stack(found), axis=0), lw=1, label=LABELS[method])
        for boundary in range(1, 3):
            ax.axvline(boundary * config.epochs, color="0.7", lw=0.6, ls=":")
        ax.set(
            title=f"y = {expression}",
            xlabel="epoch (stages in sequence)",
            ylabel="MSE",
            yscale="log",
        )
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=6)
    return figure


def _layer_figures(config, results: list[StoredCell], figures: Figures) -> str:
    """Neurons per layer of the best default-initialised and best manifold-trained model."""
    expression = config.targets[0]
    shown = []
    for kind in (("default", "raai"), ("all", "stage1+3", "stage2+3", "stage1")):
        candidates = [
            (row["mse"], cell, row["seed"], row["method"])
            for cell in results
            if cell.params["target"] == expression and cell.params["method"] in kind
            for row in cell.rows
        ]
        if not candidates:
            continue
        error, cell, seed, method = min(candidates, key=lambda c: c[0])
        figure = plot_layers(quiet_trace(cell.network(seed), [0.0], [1.0]))
        figure.suptitle(f"{LABELS[method]}, seed {seed}, y = {expression}: MSE {error:.3g}")
        caption = (
            f"Every neuron by layer, best {LABELS[method]} model on y = {expression} "
            "(like the paper's Figures 3, 5, 6)"
        )
        shown.append(figures.add(figure, f"layers_{method.replace('+', '_')}", caption))
    return "\n\n".join(shown)


def _findings(config, rows, paper) -> str:
    """What the numbers show, computed from them, and where they differ from the paper."""
    lines, key = [], "test_mse" if config.sparse else "mse"
    for expression in _present(config.targets, rows, "target"):
        found = group([r for r in rows if r["target"] == expression], "method")
        means = {
            m: np.mean(values(found[m], key))
            for m in _present(config.methods, rows, "method")
            if m in found
        }
        best = min(means, key=means.get)
        what = "test MSE" if config.sparse else "MSE"
        line = f"- `y = {expression}`: lowest mean {what} {means[best]:.3g} by {LABELS[best]}"
        theirs = {m: v[1] for m, v in paper.get(expression, {}).items() if m in means}
        if theirs and not config.sparse:
            their_best = min(theirs, key=theirs.get)
            line += f" (paper: {LABELS[their_best]}, {theirs[their_best]:.3g})"
            far = [f"{LABELS[m]} ({means[m] / v:.2g}×)" for m, v in theirs.items()
                   if not 0.1 <= means[m] / v <= 10]  # fmt: skip
            line += f"; mean differs from the paper by more than 10× for {', '.join(far)}" * bool(
                far
            )
        lines.append(line + ".")
        if "stage1" in found:  # two blocks of 2^depth pieces share no kink: 2^(depth+1) − 1
            pieces = 2 ** (config.depth + 1) - 1 if config.difference else 2**config.depth
            full = sum(r["pieces"] == pieces for r in found["stage1"])
            lines.append(
                f"  Stage 1 kept all {pieces} pieces in {full}/{len(found['stage1'])} models."
            )
    lines.append(
        f"- The tables give, per method, the models whose output collapsed to a constant and "
        f"how many of the {config.depth} layers keep the triangle structure (bend depth)."
    )
    if config.sparse:
        lines.append(
            f"- Sparse data: {config.sparse} random training points and {config.sparse} test "
            f"points (data_seed {config.data_seed}); the paper's dense-data numbers do not apply."
        )
    if config.epochs != 1000 or config.seeds != 30:
        lines.append(
            f"- These runs used {config.epochs} epochs per stage and {config.seeds} models per "
            "cell of the table; the paper used 1000 and 30, so compare with care."
        )
    lines.append(resolution_finding(rows, "target", "method"))
    return findings(lines)
