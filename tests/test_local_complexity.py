"""Local complexity (bends.analysis.local): on a digits CNN the batched numbers equal a
region walker's on a sample of points; closed forms on sawtooths; decision points where the
decision changes; faces near points; the training callback records at its steps; `bends
local` prints them and names bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from bends.analysis.local import (
    along_pairs,
    chord_ends,
    decision_points,
    faces_near,
    local_complexity,
)
from bends.cli import app
from bends.constructions import sawtooth
from bends.errors import BendsError
from bends.nets import MLP
from bends.nets.graph import GraphNetwork
from bends.tracing import trace_segments
from bends.tracing._graph.walker import walk
from bends.training.classifiers import classifier, digits, train_classifier
from bends.training.local import LocalRecorder, lightning_callback
from bends.training.loop import descend


@pytest.fixture(scope="module")
def digits_cnn():
    data = digits(seed=0)
    model = classifier("cnn", data, seed=0)
    train_classifier(model, data, steps=150, lr=0.003, batch=64, seed=0)
    return data, model


def test_local_complexity_of_a_digits_cnn_equals_a_region_walker(digits_cnn):
    data, model = digits_cnn
    points = data.test_x[:10]
    radius, chords = 0.1, 3
    measured = local_complexity(model, points, radius, chords, seed=1)
    net = GraphNetwork.from_module(model, data.shape)
    starts, ends = chord_ends(points, radius, chords, seed=1)
    walked = [walk(net, a, b) for a, b in zip(starts, ends, strict=True)]
    np.testing.assert_array_equal(measured.regions.reshape(-1), [len(w) + 1 for w in walked])
    crossed = np.array([len(w) for w in walked]).reshape(10, chords).sum(axis=1)
    np.testing.assert_allclose(measured.density, crossed / (2 * radius * chords))
    nearest = [min((abs(t - 0.5) * 2 * radius for t in w), default=np.inf) for w in walked]
    np.testing.assert_allclose(measured.nearest, np.reshape(nearest, (10, chords)).min(axis=1),
                               atol=1e-9)  # fmt: skip
    traces = trace_segments(model, starts, ends, centres=np.repeat(points, chords, axis=0))
    for tr, w in zip(traces, walked, strict=True):
        np.testing.assert_allclose(tr.region_boundaries, w, atol=1e-9)


def test_digit_images_lie_on_max_pool_boundaries(digits_cnn):
    """Blank patches make pool windows tie at the image itself: the boundary is at distance
    0, once per chord, read at the centre knot (not spread into unresolved crossings)."""
    data, model = digits_cnn
    measured = local_complexity(model, data.train_x[:5], 0.1, chords=2)
    np.testing.assert_array_equal(measured.nearest, 0.0)
    assert measured.resolved.all()


def test_sawtooth_density_is_its_breakpoint_density():
    net = sawtooth(4)  # breaks every 1/16 on [0, 1]
    lc = local_complexity(net, [[0.3], [0.53]], radius=0.125, chords=3)
    np.testing.assert_allclose(lc.density, 16.0)  # chords of length 1/4 hold 4 breaks
    np.testing.assert_allclose(lc.nearest, [abs(0.3 - 5 / 16), abs(0.53 - 8 / 16)])
    pairs = along_pairs(net, [[0.0]], [[0.5]])
    assert pairs.regions.tolist() == [8] and pairs.pieces.tolist() == [8]
    np.testing.assert_allclose(pairs.density, 14.0)


def test_decision_points_lie_where_the_classes_swap():
    # two outputs x and 1 - x: the decision changes at x = 1/2, along any segment crossing it
    net = MLP.from_layers([(np.array([[1.0]]), np.array([0.0])),
                           (np.array([[1.0], [-1.0]]), np.array([0.0, 1.0]))])  # fmt: skip
    points, which = decision_points(net, [[0.0], [0.6], [2.0]], [[2.0], [2.0], [0.2]])
    np.testing.assert_allclose(points.reshape(-1), [0.5, 0.5])
    assert which.tolist() == [0, 2]


def test_faces_near_points_count_the_quadrants():
    net = MLP.from_layers([(np.eye(2), np.zeros(2)), (np.ones((1, 2)), np.zeros(1))])
    np.testing.assert_array_equal(faces_near(net, [[0.0, 0.0], [0.3, -0.1], [2.0, 2.0]], 0.2),
                                  [4, 2, 1])  # fmt: skip
    with pytest.raises(BendsError, match="two dimensions"):
        faces_near(net, np.zeros((2, 3)), 0.1)


@pytest.mark.parametrize(("radius", "chords", "message"), [
    (0.0, 2, "radius"), (float("nan"), 2, "radius"), (0.1, 0, "chords"),
])  # fmt: skip
def test_bad_chords_are_named(radius, chords, message):
    with pytest.raises(BendsError, match=message):
        local_complexity(sawtooth(2), [[0.5]], radius, chords)


def test_the_recorder_measures_at_its_steps_inside_descend():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(),
                                torch.nn.Linear(8, 2)).double()  # fmt: skip
    x = torch.randn(32, 2, dtype=torch.float64)
    y = (x[:, 0] > 0).long()
    recorder = LocalRecorder(model, {"train": x[:4].numpy()}, radius=0.3, every={0, 3, 5},
                             boundary_pairs=(x[:8].numpy(), x[8:16].numpy()),
                             extra=lambda m: {"loss": 1.0})  # fmt: skip

    def losses():
        return torch.nn.functional.cross_entropy(model(x), y).reshape(1)

    descend(list(model.parameters()), losses, steps=6, lr=0.01, after_step=recorder)
    assert [(r["step"], r["probe"]) for r in recorder.rows] == [
        (0, "train"), (0, "boundary"), (3, "train"), (3, "boundary"), (5, "train"),
        (5, "boundary")]  # fmt: skip
    assert all(r["loss"] == 1.0 and "density" in r for r in recorder.rows if r["points"])
    with pytest.raises(BendsError, match="every"):
        LocalRecorder(model, {"train": x[:4].numpy()}, radius=0.3, every=0)
    shown = LocalRecorder(model, {"train": x[:4].numpy()}, radius=0.3, every=2, steps=4,
                          progress=True)  # fmt: skip
    for _ in range(4):
        shown()
    shown.close()
    assert [r["step"] for r in shown.rows] == [0, 2, 4]


@pytest.mark.parametrize("accumulate", [1, 2])
def test_the_lightning_callback_records_once_per_optimiser_step(accumulate):
    """Under a Lightning Trainer the recorder records at the steps of its schedule, counted
    in optimiser steps (as a plain loop calling it after each step would), also when
    gradient accumulation makes several batches one step, and measures the model as trained
    so far (each row's step is the number of steps the optimiser had taken)."""
    pl = pytest.importorskip("lightning.pytorch")
    torch.manual_seed(0)
    x = torch.randn(32, 2)
    y = (x[:, 0] > 0).long()
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)

    class Classifier(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(),
                                           torch.nn.Linear(8, 2))  # fmt: skip
            self.optimiser_steps = 0

        def training_step(self, batch, batch_idx):
            inputs, labels = batch
            return torch.nn.functional.cross_entropy(self.net(inputs), labels)

        def configure_optimizers(self):
            optimiser = torch.optim.SGD(self.parameters(), lr=0.1)
            optimiser.register_step_post_hook(lambda *_: self._stepped())
            return optimiser

        def _stepped(self) -> None:
            self.optimiser_steps += 1

    module = Classifier()
    steps, every = 5, 2
    recorder = LocalRecorder(module.net, {"train": x[:4].numpy()}, radius=0.3, every=every,
                             extra=lambda m: {"taken": module.optimiser_steps})  # fmt: skip
    trainer = pl.Trainer(max_steps=steps, accumulate_grad_batches=accumulate, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu", devices=1,
                         callbacks=[lightning_callback(recorder)])  # fmt: skip
    trainer.fit(module, data)

    plain = LocalRecorder(module.net, {"train": x[:4].numpy()}, radius=0.3, every=every)
    for _ in range(steps):
        plain()  # the schedule of a plain loop calling the recorder after each step
    assert trainer.global_step == module.optimiser_steps == steps == recorder.step
    assert [r["step"] for r in recorder.rows] == [r["step"] for r in plain.rows] == [0, 2, 4]
    assert all(r["taken"] == r["step"] for r in recorder.rows)
    assert all(r["probe"] == "train" and r["points"] == 4 and r["resolved"]
               for r in recorder.rows)  # fmt: skip
    densities = np.array([r["density"] for r in recorder.rows])
    assert np.isfinite(densities).all() and (densities >= 0).all() and densities.any()
    np.testing.assert_allclose([r["density_layer1"] for r in recorder.rows], densities)


def test_the_lightning_callback_says_how_to_install_lightning(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "lightning", None)  # an import of it fails
    monkeypatch.setitem(sys.modules, "lightning.pytorch", None)
    with pytest.raises(BendsError, match="Lightning is not installed") as raised:
        lightning_callback(None)
    assert "pip install 'bends[lightning]'" in str(raised.value)


def test_bends_local_prints_json_and_names_bad_input(tmp_path):
    net = tmp_path / "saw.json"
    from bends.nets import save

    save(sawtooth(3), net)
    np.save(tmp_path / "p.npy", np.array([[0.3], [0.6]]))
    np.save(tmp_path / "q.npy", np.array([[0.9], [0.1]]))
    runner = CliRunner()
    result = runner.invoke(app, ["local", str(net), "--points", str(tmp_path / "p.npy"),
                                 "--radius", "0.25", "--chords", "2", "--json", "--pairs",
                                 str(tmp_path / "q.npy")])  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["samples"]["density"] == 8.0 and out["pairs"]["regions"] == [6, 5]
    shown = runner.invoke(app, ["local", str(net), "--points", str(tmp_path / "p.npy")])
    assert shown.exit_code == 0 and "boundaries / length" in shown.output
    for args, message in (
        (["--points", str(tmp_path / "none.npy")], "cannot read"),
        (["--points", str(tmp_path / "p.npy"), "--boundary"], "needs --pairs"),
        (["--points", str(tmp_path / "p.npy"), "--chords", "0"], "chords"),
        (["--points", str(tmp_path / "p.npy"), "--device", "tpu"], "unknown torch device"),
    ):
        bad = runner.invoke(app, ["local", str(net), *args])
        assert bad.exit_code == 2 and message in bad.output, bad.output
