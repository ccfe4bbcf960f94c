"""The report of ``local-complexity``: accuracies, densities at the start, peak and end, the
density against the step for each probe set, the boundary/data ratio, the spiral's
partitions, and findings beside the papers'."""

from __future__ import annotations

from typing import Any

import numpy as np

from bends.plotting import plot_partition
from bends.runner.figures import Figures, new_figure
from bends.runner.study import StoredCell
from bends.runner.summaries import (
    findings,
    group,
    markdown_table,
    resolution_finding,
    rows_of,
    values,
)
from bends.tracing import trace_plane

PROBES = ("train", "test", "boundary")
COLOURS = {"train": "tab:blue", "test": "tab:green", "boundary": "tab:red"}


def report(config: Any, results: list[StoredCell], figures: Figures) -> str:
    rows = [r for r in rows_of(results) if r["probe"] in PROBES]
    if not rows:
        return "(No results.)"
    curves = _curves(rows)
    tasks = list(dict.fromkeys(values(rows, "task")))
    parts = [
        _accuracy_table(rows, tasks),
        _density_table(curves, tasks),
        figures.add(
            _density_figure(curves, rows, tasks),
            "density_vs_step",
            "Region boundaries crossed per unit length on chords around train, test "
            "and decision-boundary points against the training step (mean over seeds, "
            "band: min–max); dotted, right axis: test accuracy",
        ),
        figures.add(
            _ratio_figure(curves, tasks),
            "boundary_over_data",
            "Density at the decision boundary divided by the density at train points "
            "(mean over seeds): above 1, regions crowd the boundary",
        ),
        _nearest_table(rows, tasks),
        _layer_table(rows, tasks),
    ]
    spiral = [c for c in results if c.params["task"] == "spiral-mlp" and c.networks]
    if spiral:
        parts.append(figures.add(_partition_figure(spiral[0], config), "spiral_partitions",
                                 "The spiral MLP's exact partition of the plane before and "
                                 "after training (faces coloured by piece, red: decision "
                                 "boundary, dots: training points)"))  # fmt: skip
        parts.append(_planar_table(results))
    parts.append(_findings(curves, rows, tasks, config))
    return "\n\n".join(parts)


def _curves(rows) -> dict[tuple[str, str], dict[int, list[float]]]:
    """(task, probe) → step → the seeds' densities."""
    out: dict[tuple[str, str], dict[int, list[float]]] = {}
    for (task, probe, step), g in group(rows, "task", "probe", "step").items():
        measured = [r["density"] for r in g if r.get("density") is not None]
        if measured:
            out.setdefault((task, probe), {})[step] = measured
    return {key: dict(sorted(steps.items())) for key, steps in out.items()}


def _mean(curve: dict[int, list[float]]) -> tuple[np.ndarray, np.ndarray]:
    steps = np.array(list(curve))
    return steps, np.array([np.mean(v) for v in curve.values()])


def _final(rows, task: str, key: str) -> float:
    last = max(r["step"] for r in rows if r["task"] == task)
    return float(np.mean([r[key] for r in rows if r["task"] == task and r["step"] == last
                          and r["probe"] == "train"]))  # fmt: skip


def _accuracy_table(rows, tasks) -> str:
    body = []
    for task in tasks:
        seeds = len(set(values([r for r in rows if r["task"] == task], "seed")))
        body.append([task, seeds, f"{_final(rows, task, 'train_accuracy'):.3f}",
                     f"{_final(rows, task, 'test_accuracy'):.3f}"])  # fmt: skip
    learned = all(_final(rows, task, "test_accuracy") >= LEARNED for task in tasks)
    verdict = (f"every task is learned (test accuracy at least {LEARNED:.0%})" if learned else
               f"not every task is learned (test accuracy below {LEARNED:.0%}): the densities "
               "describe networks still fitting")  # fmt: skip
    return f"**Accuracy at the last step** (mean over seeds): {verdict}.\n\n" + (
        markdown_table(["task", "seeds", "train accuracy", "test accuracy"], body))  # fmt: skip


#: The test accuracy from which a task counts as learned in the report.
LEARNED = 0.9


def _density_table(curves, tasks) -> str:
    body = []
    for task in tasks:
        for probe in PROBES:
            if (task, probe) not in curves:
                continue
            steps, mean = _mean(curves[task, probe])
            peak = int(np.argmax(mean[1:])) + 1 if len(mean) > 1 else 0
            low = int(np.argmin(mean))
            body.append([task, probe, f"{mean[0]:.3g}", f"{mean[low]:.3g} (step {steps[low]})",
                         f"{mean[peak]:.3g} (step {steps[peak]})", f"{mean[-1]:.3g}",
                         f"{mean[-1] / mean[0]:.2f}"])  # fmt: skip
    header = ["task", "probe", "at step 0", "lowest", "highest after step 0", "last",
              "last / first"]  # fmt: skip
    return ("**Local complexity** (region boundaries per unit length along the chords, mean "
            "over seeds):\n\n" + markdown_table(header, body))  # fmt: skip


def _nearest_table(rows, tasks) -> str:
    body = []
    for task in tasks:
        mine = [r for r in rows if r["task"] == task and r.get("nearest_median") is not None]
        first, last = min(values(mine, "step")), max(values(mine, "step"))
        cells = []
        for probe in PROBES:
            for step in (first, last):
                at = [
                    r["nearest_median"] for r in mine if r["probe"] == probe and r["step"] == step
                ]
                cells.append(f"{np.median(at):.3g}" if at else "")
        body.append([task, *cells])
    header = ["task"] + [f"{probe}, {when}" for probe in PROBES for when in ("step 0", "last")]
    return ("**Distance to the nearest boundary** along the chords (median over points, then "
            "over seeds; none within the radius counts as infinite):\n\n"
            + markdown_table(header, body))  # fmt: skip


def _layer_table(rows, tasks) -> str:
    body = []
    for task in tasks:
        mine = [r for r in rows if r["task"] == task and r["probe"] == "train"]
        layers = sorted(k for k in mine[0] if k.startswith("density_layer"))
        first, last = min(values(mine, "step")), max(values(mine, "step"))
        for step, label in ((first, "step 0"), (last, "last")):
            at = [r for r in mine if r["step"] == step]
            body.append([task, label, *[f"{np.mean(values(at, k)):.3g}" for k in layers]])
    width = max(len(b) for b in body) - 2
    header = ["task", "when", *[f"layer {k + 1}" for k in range(width)]]
    body = [b + [""] * (len(header) - len(b)) for b in body]
    return ("**Per layer at train points**: switches per unit length of each hidden layer's "
            "neurons (for the CNN: its ReLU and max-pool nodes in order). Where several neurons "
            "switch at one point each switch counts, so the layers can add up to more than the "
            "boundaries above: on the digits, max-pool windows over blank patches are tied at "
            "the image itself and switch there together.\n\n"
            + markdown_table(header, body))  # fmt: skip


def _density_figure(curves, rows, tasks):
    figure, axes = new_figure(1, len(tasks), figsize=(4.6 * len(tasks), 3.6), squeeze=False,
                              layout="constrained")  # fmt: skip
    for ax, task in zip(axes[0], tasks, strict=True):
        for probe in PROBES:
            if (task, probe) not in curves:
                continue
            curve = curves[task, probe]
            steps, mean = _mean(curve)
            ax.plot(steps + 1, mean, marker="o", ms=3, color=COLOURS[probe], label=probe)
            ax.fill_between(steps + 1, [min(v) for v in curve.values()],
                            [max(v) for v in curve.values()], color=COLOURS[probe], alpha=0.15,
                            lw=0)  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("step + 1")
        ax.set_ylabel("boundaries per unit length")
        ax.set_title(task)
        accuracy = group([r for r in rows if r["task"] == task and r["probe"] == "train"], "step")
        twin = ax.twinx()
        twin.plot(np.array(list(accuracy)) + 1,
                  [np.mean(values(g, "test_accuracy")) for g in accuracy.values()], ":",
                  color="grey")  # fmt: skip
        twin.set_ylim(0, 1)
        twin.set_ylabel("test accuracy", color="grey")
        ax.legend(fontsize=8, loc="lower left")
    return figure


def _ratio_figure(curves, tasks):
    figure, ax = new_figure(figsize=(5.2, 3.6), layout="constrained")
    for task in tasks:
        if (task, "boundary") in curves and (task, "train") in curves:
            steps, boundary = _mean(curves[task, "boundary"])
            train_steps, train = _mean(curves[task, "train"])
            shared = np.intersect1d(steps, train_steps)
            ratio = boundary[np.isin(steps, shared)] / train[np.isin(train_steps, shared)]
            ax.plot(shared + 1, ratio, marker="o", ms=3, label=task)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("step + 1")
    ax.set_ylabel("boundary density / train density")
    ax.legend(fontsize=8)
    return figure


def _partition_figure(cell: StoredCell, config):
    seed = cell.seeds[0]
    figure, axes = new_figure(1, 2, figsize=(11, 4.6), layout="constrained")
    from bends.training.classifiers import spiral

    data = spiral(seed)
    marks = np.column_stack([data.train_x, data.train_y])
    corner, side = np.array([-1.2, -1.2]), 2.4
    for ax, name in zip(axes, ("initial", "trained"), strict=True):
        net = cell.network(seed, name)
        partition = trace_plane(net, corner, corner + np.array([side, 0.0]),
                                corner + np.array([0.0, side]))  # fmt: skip
        plot_partition(partition, ax=ax, marks=marks, boundary=True,
                       title=f"{name}: {partition.regions} regions")  # fmt: skip
    return figure


def _planar_table(results) -> str:
    rows = [r for r in rows_of(results) if r["probe"] == "train-2d"]
    by = group(rows, "step")
    body = [[step, f"{np.mean(values(g, 'faces_near')):.2f}"] for step, g in sorted(by.items())]
    return ("**Spiral, in the plane**: faces of the exact partition within the radius of each "
            "train point (mean over points and seeds):\n\n"
            + markdown_table(["step", "faces within the radius"], body))  # fmt: skip


#: A late phase counts as migration in one run when the train-point density falls by at
#: least this share from its highest (after its lowest) to the last record, while the
#: boundary/train density ratio grows by at least the same share over that stretch.
MIGRATION = 0.1


def _late_phase(rows, task: str, seed: int) -> tuple[float, float] | None:
    """One run's late fall at train points (share of the highest after the lowest) and the
    growth of the boundary/train ratio over the same stretch; None without boundary points."""
    mine = [r for r in rows if r["task"] == task and r["seed"] == seed]
    train = {r["step"]: r["density"] for r in mine if r["probe"] == "train"}
    boundary = {r["step"]: r.get("density") for r in mine if r["probe"] == "boundary"}
    steps = sorted(train)
    density = np.array([train[s] for s in steps])
    low = int(np.argmin(density))
    peak = low + int(np.argmax(density[low:]))
    first, last = boundary.get(steps[peak]), boundary.get(steps[-1])
    if not first or not last:
        return None
    fall = 1.0 - density[-1] / density[peak]
    return fall, (last / density[-1]) / (first / density[peak]) - 1.0


def _findings(curves, rows, tasks, config) -> str:
    lines = []
    for task in tasks:
        if (task, "train") not in curves:
            continue
        steps, train = _mean(curves[task, "train"])
        low = int(np.argmin(train))
        peak = low + int(np.argmax(train[low:]))
        shape = (
            f"mean train-point density {train[0]:.3g} at step 0, lowest {train[low]:.3g} at "
            f"step {steps[low]} ({train[low] / train[0] - 1:+.0%}), highest after it "
            f"{train[peak]:.3g} at step {steps[peak]}, {train[-1]:.3g} at the last step"
        )
        seeds = sorted(set(values([r for r in rows if r["task"] == task], "seed")))
        late = [p for seed in seeds if (p := _late_phase(rows, task, seed)) is not None]
        migrated = [f >= MIGRATION and g >= MIGRATION for f, g in late]
        described = ", ".join(f"{f:.0%} / {g:+.0%}" for f, g in late)
        verdict = (
            f"a late fall at the train points of at least {MIGRATION:.0%} with the boundary's "
            f"share growing by at least as much (Humayun et al.'s migration) in "
            f"{sum(migrated)} of {len(late)} runs (fall / change of the boundary-to-train ratio "
            f"per run: {described})"
        )
        lines.append(f"- **{task}**: {shape}; {verdict}.")
    lines.append(
        "- Hanin & Rolnick's 'roughly constant during training' does not describe these local "
        "densities: each task's mean moves by a factor of 1.3 or more between its lowest and "
        "highest record (table above)."
        if all(_spread(curves, task) >= 1.3 for task in tasks if (task, "train") in curves)
        else None
    )
    lines.append(resolution_finding(rows, "task", "probe"))
    return findings(lines)


def _spread(curves, task: str) -> float:
    _, train = _mean(curves[task, "train"])
    return float(train.max() / train.min())
