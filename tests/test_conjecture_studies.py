"""The conjecture workbench's studies and statistics: counts re-derived independently."""

from __future__ import annotations

import numpy as np
import pytest

from bends import trace
from bends.analysis.stats import growth_fits, growth_rate, mean_interval, select_growth
from bends.constructions import cantor_iterate
from bends.errors import BendsError
from bends.nets.random import random_mlp
from bends.runner.figures import Figures
from bends.runner.study import StoredCell, run_in_memory
from bends.studies.conjecture import Conjecture
from bends.studies.conjecture_local import ConjectureLocal
from bends.studies.random_baselines import RandomBaselines
from bends.training.landscape import flat_directions
from bends.training.tied import TiedProblem, tied_construction


def rows_of(cells: list[StoredCell]) -> list[dict]:
    return sorted((row for c in cells for row in c.rows), key=lambda r: (r["k"], r["seed"]))


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_more_runs():
    rng = np.random.default_rng(0)
    small, large = (
        mean_interval(rng.exponential(size=20)),
        mean_interval(rng.exponential(size=2000)),
    )
    assert small.low < small.mean < small.high and large.low < large.mean < large.high
    assert large.high - large.low < (small.high - small.low) / 4
    assert 0.9 < large.mean < 1.1 and large.low < 1.0 < large.high
    assert mean_interval([3, 3, 3]) == mean_interval([3])


@pytest.mark.parametrize(
    ("means", "model"),
    [
        (lambda k, noise: 2.0 * 1.5**k * noise, "exponential"),
        (lambda k, noise: 3.0 * k**2.0 * noise, "polynomial"),
        (lambda k, noise: 5.0 * noise, "constant"),
    ],
)
def test_growth_selection_recovers_the_law_that_made_the_data(means, model):
    k = np.arange(1, 17)
    noise = np.exp(np.random.default_rng(1).normal(0, 0.05, k.size))
    selection = select_growth(growth_fits(k, means(k, noise)))
    assert selection.model == model
    if model != "constant":  # a constant law's margin is at most 2 (one parameter fewer)
        assert selection.margin > 10


def test_conjecture_counts_agree_with_exact_arithmetic_and_initial_weights():
    study = Conjecture()
    config = study.Config(datasets=("custom",), trainer="flow", widths=(3,), steps=(1, 2, 3),
                          seeds=3, points=(32,), max_evaluations=300)  # fmt: skip
    cells = run_in_memory(study, config)
    for cell in cells:
        problem = TiedProblem.from_target("cantor", 3, cell.params["k"], 32)
        for row in cell.rows:
            start = np.random.default_rng(row["seed"]).standard_normal((3, 3))
            assert trace(problem.network(start), exact=True).pieces == row["pieces_init"]
            trained = cell.network(row["seed"])  # the saved TiedRNN, on the data's range
            assert trace(trained, exact=True).pieces == row["pieces"]
            wide = problem.segment(config.window_low, config.window_high)
            assert trace(trained, *wide, exact=True).pieces == row["wide_pieces"]
            assert row["loss"] <= row["loss_init"] + 1e-12  # the flow never climbs
    report = study.report(config, cells, Figures())
    assert "Growth with k" in report and "What these runs show" in report


@pytest.mark.parametrize("trainer", ["gd", "adam"])
def test_batched_trainers_give_each_seed_the_numbers_it_gets_alone(trainer):
    study = Conjecture()
    common = dict(datasets=("custom",), widths=(3,), steps=(3,), seeds=3, points=(16,),
                  trainer=trainer, train_steps=50)  # fmt: skip
    together = rows_of(run_in_memory(study, study.Config(seeds_per_cell=3, **common)))
    alone = rows_of(run_in_memory(study, study.Config(seeds_per_cell=1, **common)))
    for a, b in zip(together, alone, strict=True):
        assert a["pieces"] == b["pieces"] and a["loss"] == pytest.approx(b["loss"], rel=1e-12)


def test_hessian_at_a_smooth_solution_matches_finite_differences():
    net = tied_construction("yarotsky-2")
    problem = TiedProblem.from_network(net, 64, "random")
    weight, h = net.weight, 1e-7
    columns = []
    for i in range(weight.size):
        step = np.zeros(weight.size)
        step[i] = h
        step = step.reshape(weight.shape)
        plus, minus = (problem.loss_and_gradient(weight + s)[1] for s in (step, -step))
        columns.append(((plus - minus) / (2 * h)).ravel())
    assert problem.losses(weight) == 0.0
    np.testing.assert_allclose(problem.hessian(weight), np.array(columns).T, atol=1e-6)


def test_local_study_finds_symmetries_and_the_staircases_kinks_at_the_data():
    study = ConjectureLocal()
    config = study.Config(constructions=("staircase-2", "yarotsky-2"), epsilons=(1e-6,), seeds=2)
    cells = run_in_memory(study, config)
    hessian = {c.params["construction"]: c.rows[0] for c in cells if c.params["part"] == "hessian"}
    for row in hessian.values():
        assert row["loss"] == 0.0 and row["gradient_norm"] == 0.0 and row["negative"] == 0
        assert row["zero_eigenvalues"] >= row["symmetry"] >= 1
        assert row["flat"] + row["second_order"] + row["higher_order"] == row["zero_eigenvalues"]
    # The staircase's kink neurons see exactly zero once its scale c is 0: the loss is not
    # twice differentiable there, and some zero-eigenvalue directions rise like δ².
    assert hessian["staircase-2"]["zero_preactivations"] > 0
    assert hessian["staircase-2"]["second_order"] > 0
    assert hessian["yarotsky-2"]["second_order"] == 0
    basin = [r for c in cells if c.params["part"] == "basin" for r in c.rows]
    assert all(r["pieces"] >= r["full_pieces"] for r in basin)  # ε = 1e-6 stays put
    assert "Basin test" in study.report(config, cells, Figures())


def test_flat_directions_count_the_rescaling_symmetries_of_free_neurons():
    problem = TiedProblem.from_target("cantor", width=5, steps=3, points=16)
    weight = np.random.default_rng(3).standard_normal((5, 5))
    directions = flat_directions(problem, weight)
    # Neurons 2, 3, 4 are neither the output nor on the input line: three rescalings.
    assert directions.symmetry == 3
    for i in (2, 3, 4):
        scale = np.ones(5)
        scale[i] = 2.5
        moved = scale[:, None] * weight / scale[None, :]
        np.testing.assert_allclose(problem.losses(moved), problem.losses(weight), rtol=1e-12)


def test_random_baselines_count_the_networks_they_say_they_drew():
    study = RandomBaselines()
    config = study.Config(
        inits=("torch", "he-bias"),
        depths=(2,),
        widths=(3,),
        rnn_widths=(3,),
        steps=(1, 4),
        seeds=2,
        epochs=20,
    )
    cells = run_in_memory(study, config)
    rows = [r for c in cells for r in c.rows]
    for row in (r for r in rows if r["family"] == "mlp"):
        start = random_mlp([1, 3, 3, 1], row["seed"], row["init"])
        assert trace(start, [0.0], [1.0], exact=True).pieces == row["pieces_init"]
    for row in (r for r in rows if r["family"] == "rnn"):
        problem = TiedProblem.from_target("cantor", 3, row["k"], config.points)
        start = np.random.default_rng(row["seed"]).standard_normal((3, 3))
        assert trace(problem.network(start), exact=True).pieces == row["pieces_init"]
        assert row["loss"] <= row["loss_init"]
    report = study.report(config, cells, Figures())
    assert "Random tied RNNs" in report and "Random MLPs" in report


def test_conjecture_settings_take_any_line_and_construction_data_and_reject_bad_ones():
    study = Conjecture()
    config = study.Config(
        datasets=("custom",),
        widths=(3,),
        steps=(2,),
        seeds=1,
        target="staircase-2",
        points=(8,),
        origin=(0.0, 0.0, 1.0),
        direction=(1.0, 1.0, 0.0),
        max_evaluations=50,
    )
    row = study.run_cell(study.cells(config)[0]).rows[0]
    assert row["k"] == 2 and row["loss_init"] > 0
    problem = TiedProblem.from_target("staircase-2", 3, 2, 8)
    np.testing.assert_allclose(problem.y, cantor_iterate(problem.t, 2), atol=1e-15)
    for bad, message in (
        ({"origin": (1.0, 0.0, 0.0), "direction": (2.0, 0.0, 0.0)}, "passes through the origin"),
        ({"origin": (1.0, 0.0)}, "origin needs 3 coordinates"),
        ({"target": "nowhere.csv"}, "data file not found"),
        ({"target": "spiral-3"}, "construction spec"),
    ):
        with pytest.raises(BendsError, match=message):
            study.Config(datasets=("custom",), widths=(3,), **bad).validate()


def test_conjecture_cells_leave_out_widths_too_narrow_for_a_data_sets_solution():
    config = Conjecture().Config(datasets=("staircase", "parabola", "control"), widths=(4, 7),
                                 points=(16, 64), placements=("uniform", "avoid"))  # fmt: skip
    combos = {(c["dataset"], c["width"]) for c in config.combinations()}
    assert combos == {("staircase", 7), ("parabola", 4), ("parabola", 7), ("control", 4),
                      ("control", 7)}  # fmt: skip
    assert len(config.combinations()) == 5 * 2 * 2  # every placement and n for each
    with pytest.raises(BendsError, match="no data set fits"):
        Conjecture().Config(datasets=("staircase",), widths=(4,)).validate()


def test_paired_growth_rate_brackets_the_true_rate_and_a_power_law_slows_down():
    rng = np.random.default_rng(0)
    k = np.array([2, 4, 8, 16, 32])
    exponential = growth_rate(k, np.exp(0.2 * k) * rng.lognormal(0, 0.5, (64, 5)))
    assert exponential.low < 0.2 < exponential.high
    power = k**1.5 * rng.lognormal(0, 0.5, (64, 5))
    upper = growth_rate(k[2:], power[:, 2:])  # the local rate of k^1.5 is 1.5 / k
    assert upper.high < 0.2 and upper.rate < growth_rate(k[:3], power[:, :3]).rate
    dead = np.where(rng.uniform(size=(64, 5)) < 0.5, np.nan, power)  # runs that do not count
    assert np.isfinite(growth_rate(k, dead).rate)
