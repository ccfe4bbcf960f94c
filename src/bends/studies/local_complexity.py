r"""Study ``local-complexity``: how region boundaries near the data move during training.

Humayun, Balestriero & Baraniuk ("Deep networks always grok", ICML 2024) measure the density
of region boundaries in a small neighbourhood of training, test and adversarial points over
training and report three phases (descent, ascent, and a late second descent in which the
regions *migrate* away from the data towards the decision boundary). Hanin & Rolnick (ICML
2019) find that regions along lines through the data stay roughly as many during training as
at initialisation. This study measures both exactly, by tracing chords
(:mod:`bends.analysis.local`), on three small tasks:

* ``digits-cnn``: scikit-learn's 8×8 digits, two conv–ReLU–max-pool blocks (8, 16 channels);
* ``digits-mlp``: the same digits, an MLP of ``depth`` × ``width`` ReLUs;
* ``spiral-mlp``: a two-arm spiral in the plane, the same MLP shape; here the exact planar
  partition shows the regions themselves, and faces within the radius are counted too.

Each (task, seed) cell trains by Adam on minibatches of the cross-entropy and, at
``records`` steps spaced geometrically, measures at ``points`` train points, ``points`` test
points and at the points where the decision changes along ``points`` segments between test
points of different classes (the *boundary* probe, found anew at each record):
boundaries per unit length on ``chords`` diameters of radius ``radius`` (``spiral_radius``
for the spiral), per layer, and the distance to the nearest boundary
(:class:`~bends.training.local.LocalRecorder`).

Example:
    >>> study = LocalComplexity()
    >>> config = study.Config(tasks=("spiral-mlp",), steps=20, records=2, points=4, chords=2,
    ...                       seeds=1)
    >>> rows = study.run_cell(study.cells(config)[0]).rows
    >>> sorted({row["probe"] for row in rows})
    ['boundary', 'test', 'train', 'train-2d']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from bends.analysis.local import faces_near
from bends.nets import as_network
from bends.runner.config import StudyConfig, setting
from bends.runner.figures import Figures
from bends.runner.grid import grid
from bends.runner.study import Cell, CellResult, Curve, SavedNetwork, StoredCell, Study
from bends.studies._local_complexity_report import report
from bends.studies._params import typed
from bends.tracing import checked_device
from bends.training.classifiers import (
    Dataset,
    accuracy,
    classifier,
    digits,
    spiral,
    train_classifier,
)
from bends.training.local import LocalRecorder

Task = Literal["digits-cnn", "digits-mlp", "spiral-mlp"]


@dataclass(frozen=True)
class LocalComplexityConfig(StudyConfig):
    tasks: tuple[Task, ...] = setting(("digits-cnn", "digits-mlp", "spiral-mlp"), "tasks")
    steps: int = setting(40000, "Adam steps", at_least=1)
    lr: float = setting(0.003, "Adam learning rate", above=0)
    batch: int = setting(64, "minibatch size", at_least=1)
    records: int = setting(16, "measurements, spaced geometrically over the steps", at_least=2)
    points: int = setting(100, "probe points per set (train, test, decision pairs)", at_least=1)
    chords: int = setting(8, "chords per point", at_least=1)
    radius: float = setting(0.1, "chord half-length on digits (pixels in [0, 1])", above=0)
    spiral_radius: float = setting(0.05, "chord half-length on the spiral", above=0)
    width: int = setting(32, "MLP width", at_least=1)
    depth: int = setting(3, "MLP hidden layers", at_least=1)
    device: str = setting("cpu", "torch device the traces run on (training stays on the CPU)")
    seeds: int = setting(4, "training runs per task")
    seeds_per_cell: int = setting(1, "runs per cell")

    def validate(self) -> None:
        super().validate()
        checked_device(self.device)


@dataclass(frozen=True)
class Params:
    """A cell's parameters: the task, its model's size and training, and the probes."""

    task: str
    width: int
    depth: int
    steps: int
    lr: float
    batch: int
    records: int
    points: int
    chords: int
    radius: float
    spiral_radius: float
    device: str


class LocalComplexity(Study):
    name = "local-complexity"
    summary = "region boundaries at train, test and decision-boundary points during training"
    Config = LocalComplexityConfig
    guide = "studies/local-complexity.md"
    demo = {"tasks": ["spiral-mlp", "digits-cnn"], "steps": 60, "records": 3,  # noqa: RUF012
            "points": 8, "chords": 2, "seeds": 1}  # fmt: skip

    def cells(self, config: LocalComplexityConfig) -> list[Cell]:
        shared = config.fixed("tasks")
        return grid(self, {"task": config.tasks}, config.seed_groups(), shared)

    def run_cell(self, cell: Cell) -> CellResult:
        p = typed(Params, cell.params)
        result = CellResult()
        for seed in cell.seeds:
            _run_seed(p, seed, result)
        return result

    def report(self, config: LocalComplexityConfig, results: list[StoredCell],
               figures: Figures) -> str:  # fmt: skip
        return report(config, results, figures)


def _run_seed(p: Params, seed: int, result: CellResult) -> None:
    data_name, model_kind = p.task.split("-")
    data = digits(seed) if data_name == "digits" else spiral(seed)
    model = classifier(model_kind, data, seed, p.width, p.depth)
    rng = np.random.default_rng([seed, 7])
    train = data.train_x[rng.choice(len(data.train_x), min(p.points, len(data.train_x)),
                                    replace=False)]  # fmt: skip
    test = data.test_x[rng.choice(len(data.test_x), min(p.points, len(data.test_x)),
                                  replace=False)]  # fmt: skip
    radius = p.radius if data_name == "digits" else p.spiral_radius
    planar = data_name == "spiral"

    def extra(m) -> dict:
        return {"train_accuracy": accuracy(m, data.train_x, data.train_y),
                "test_accuracy": accuracy(m, data.test_x, data.test_y)}  # fmt: skip

    recorder = LocalRecorder(
        model, {"train": train, "test": test}, radius, every=schedule(p.steps, p.records),
        chords=p.chords, seed=seed, boundary_pairs=_pairs(data, p.points, rng),
        extra=extra, steps=p.steps, device=p.device,
    )  # fmt: skip
    if planar:
        result.networks.append(SavedNetwork("initial", seed, as_network(model)))
        _planar_row(model, train, radius, recorder)
    run = train_classifier(model, data, p.steps, p.lr, p.batch, seed, recorder)
    if planar:
        result.networks.append(SavedNetwork("trained", seed, as_network(model)))
        _planar_row(model, train, radius, recorder)
    for row in recorder.rows:
        result.rows.append({"task": p.task, "seed": seed, **row})
    result.curves.append(Curve("loss", seed, run.curve[0]))


def schedule(steps: int, records: int) -> set[int]:
    """Step 0, the last step, and about ``records`` − 2 steps spaced geometrically between."""
    return {0, steps} | {int(s) for s in np.geomspace(1, steps, max(records - 1, 2))[:-1]}


def _pairs(data: Dataset, count: int, rng: np.random.Generator):
    """Segments between test points of different classes (where the decision must change)."""
    first = rng.integers(0, len(data.test_x), size=4 * count)
    second = rng.integers(0, len(data.test_x), size=4 * count)
    differ = np.flatnonzero(data.test_y[first] != data.test_y[second])[:count]
    return data.test_x[first[differ]], data.test_x[second[differ]]


def _planar_row(model, train: np.ndarray, radius: float, recorder: LocalRecorder) -> None:
    """Faces of the exact planar partition within the radius of each train point."""
    faces = faces_near(as_network(model), train, radius)
    recorder.rows.append({"step": recorder.step, "probe": "train-2d", "points": len(train),
                          "faces_near": float(faces.mean())})  # fmt: skip
