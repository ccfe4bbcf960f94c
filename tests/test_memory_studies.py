"""The curse-of-memory studies: plateau hitting times, approximation by width, Lorenz 96."""

from __future__ import annotations

import numpy as np
import pytest

from bends.runner.figures import Figures
from bends.runner.study import run_in_memory
from bends.studies.memory_approx import MemoryApprox
from bends.studies.memory_lorenz import MemoryLorenz
from bends.studies.memory_plateau import MemoryPlateau
from bends.training.lorenz import lorenz96, lorenz96_data
from bends.training.memory import bump_energy, exponential_sum, projected_fit, quadrature


def test_plateau_hitting_steps_are_read_off_the_stored_curves_and_do_not_depend_on_grouping():
    study = MemoryPlateau()
    common = dict(
        memories=(2.0, 3.0, 4.0),
        trainers=("gd",),
        steps=400,
        seeds=2,
        record_every=2,
        figure_one=False,
        figure_four=(),
        flow_memories=(4.0,),
        flow_time=20.0,
    )
    together = run_in_memory(study, study.Config(seeds_per_cell=2, **common))
    alone = run_in_memory(study, study.Config(seeds_per_cell=1, **common))
    together, alone = ([c for c in cells if c.params["part"] == "plateau"]
                       for cells in (together, alone))  # fmt: skip
    threshold = 0.9 * bump_energy()
    for cell in together:
        for row, curve in zip(cell.rows, cell.curves, strict=True):
            below = np.flatnonzero(curve.values <= threshold)
            expected = None if below.size == 0 else int(below[0]) * 2
            assert row["hit_step"] == expected
    curves = {(c.params["memory"], k.seed): k.values for c in alone for k in c.curves}
    for cell in together:
        for k in cell.curves:
            np.testing.assert_allclose(
                k.values, curves[(cell.params["memory"], k.seed)], rtol=1e-12
            )
    report = study.report(study.Config(**common), together, Figures())
    assert "plateau band" in report and "What these runs show" in report


def test_plateau_band_crossings_and_the_plateau_test():
    from bends.studies._memory_plateau_parts import band_crossings
    from bends.studies._memory_plateau_report import _has_plateau

    def _plateau(curve, p, energy, steps):
        return band_crossings(curve, energy, steps, p["record_every"], p["band"], p["learned"])

    energy = bump_energy()
    # records every 5 steps: above the band for 4 records, in it for 40, then below
    curve = np.concatenate([np.full(4, 2.0), np.full(40, 1.0), np.full(10, 0.3)]) * energy
    p = {"record_every": 5, "steps": 270, "band": 0.1, "learned": 0.5}
    crossings = _plateau(curve, p, energy, 270)
    assert crossings == {"enter_step": 20, "hit_step": 220, "learn_step": 220,
                         "plateau_ratio": 10.0}  # fmt: skip
    config = MemoryPlateau.Config(plateau_factor=3.0)
    quick = {**crossings, "plateau_ratio": 1.0}
    assert _has_plateau([crossings, crossings, quick], config)
    assert not _has_plateau([quick, quick, crossings], config)
    # a run that never leaves the band counts the steps it ran
    stuck = _plateau(np.concatenate([np.full(4, 2.0), np.full(50, 1.0)]) * energy, p, energy, 270)
    assert stuck["hit_step"] is None and stuck["plateau_ratio"] == (270 - 20) / 20


def test_memory_approx_keeps_the_best_start_and_tabulates_the_width_needed():
    study = MemoryApprox()
    config = study.Config(
        families=("exponential", "polynomial"),
        omegas=(1.0,),
        widths=(1, 3),
        seeds=2,
        steps=300,
        tolerances=(0.5, 1e-9),
    )
    cells = run_in_memory(study, config)
    rows = [r for c in cells for r in c.rows]
    assert all(0 <= r["relative_error"] < 1 for r in rows)
    # the polish starts at Adam's end and keeps the better: it can only lower the error
    assert all(r["projected_error"] <= r["relative_error"] * (1 + 1e-9) for r in rows)
    report = study.report(config, cells, Figures())
    assert "m for ε = 0.5" in report and "> 3" in report  # 1e-9 is out of reach
    assert "polished by variable projection" in report


def test_variable_projection_finds_an_exact_exponential_sum_from_afar():
    kernel = exponential_sum([2.0, -0.5, 0.25], [0.3, 1.0, 4.0])
    loss, log_rates = projected_fit(kernel, np.log([0.1, 2.0, 9.0]))
    energy = np.sum(quadrature(kernel.horizon)[1] * kernel(quadrature(kernel.horizon)[0]) ** 2)
    assert loss < 1e-12 * energy
    np.testing.assert_allclose(np.sort(np.exp(log_rates)), [0.3, 1.0, 4.0], rtol=1e-4)


def test_lorenz96_field_matches_the_cyclic_formula_and_data_are_functionals_of_the_input():
    x = np.random.default_rng(0).normal(size=(2, 5))
    expected = np.array(
        [
            [(row[(i + 1) % 5] - row[i - 2]) * row[i - 1] - row[i] + 8.0 for i in range(5)]
            for row in x
        ]
    )
    np.testing.assert_allclose(lorenz96(x, 8.0), expected)
    states = lorenz96_data(3, 10, seed=1, strength=0.0)[1]
    np.testing.assert_allclose(states[0], states[1])  # no input: the same start, the same path
    states = lorenz96_data(3, 10, seed=1)[1]
    assert not np.allclose(states[0], states[1])
    again = lorenz96_data(3, 10, seed=1)[1]
    np.testing.assert_array_equal(states, again)


def test_lorenz_study_trains_and_reports():
    study = MemoryLorenz()
    config = study.Config(
        outputs=(0, 3), seeds=1, epochs=30, sequences=4, length=20, hidden=4, plateau_window=5
    )
    cells = run_in_memory(study, config)
    rows = [r for c in cells for r in c.rows]
    assert [r["output"] for r in rows] == [0, 3]
    assert all(r["loss_final"] < r["loss_start"] for r in rows)
    assert "x_3" in study.report(config, cells, Figures())


@pytest.mark.parametrize("name", ["memory-plateau", "memory-approx", "memory-lorenz"])
def test_bad_memory_settings_are_one_line_errors(name):
    from bends.errors import BendsError
    from bends.runner.config import build
    from bends.studies import get_study

    bad = {
        "memory-plateau": {"memories": [0.0]},
        "memory-approx": {"omegas": [-1.0]},
        "memory-lorenz": {"outputs": [9]},
    }[name]
    with pytest.raises(BendsError):
        build(get_study(name).Config, bad)


def test_a_user_expression_kernel_reproduces_the_built_in_family_it_spells_out():
    study = MemoryApprox()
    common = dict(omegas=(1.0,), widths=(2,), seeds=2, steps=50)
    built_in = run_in_memory(study, study.Config(families=("exponential",), **common))
    spelled = run_in_memory(
        study,
        study.Config(
            families=("expression",),
            expression="exp(-omega * s) / (1 + s)",
            expression_horizon=80.0,
            **common,
        ),
    )
    for a, b in zip(built_in[0].rows, spelled[0].rows, strict=True):
        assert a["relative_error"] == pytest.approx(b["relative_error"], rel=1e-12)
    # Changing the expression leaves the built-in families' cells (and stored results) alone.
    other = study.cells(study.Config(families=("exponential",), expression="exp(-s)", **common))
    assert [c.key for c in other] == [
        c.key for c in study.cells(study.Config(families=("exponential",), **common))
    ]


def test_rate_fits_recover_a_power_law_and_an_exponential_law_and_tell_them_apart():
    from bends.studies._memory_approx_report import _rate_fits

    widths = [1, 2, 3, 4, 6, 8]
    power = _rate_fits({m: 0.3 * m**-2.5 for m in widths})
    assert power["alpha"] == pytest.approx(2.5) and power["first"] == pytest.approx(2.5)
    noisy = {m: np.exp(-1.2 * m) * (1 + 0.01 * (-1) ** m) for m in widths}
    exponential = _rate_fits(noisy)
    assert exponential["kappa"] == pytest.approx(1.2, rel=0.02)
    assert exponential["delta_aic"] > 2  # the exponential law fits better
    # the running minimum: a wider model is never worse than a narrower one
    bumped = _rate_fits({1: 1e-1, 2: 1e-2, 3: 1e-3, 4: 2e-3})
    assert bumped["last"] == pytest.approx(
        -np.polyfit(np.log([2, 3, 4]), np.log([1e-2, 1e-3, 1e-3]), 1)[0]
    )


def test_four_cases_change_one_thing_each_on_the_diagonal_model():
    study = MemoryPlateau()
    config = study.Config(memories=(4.0,), adam_steps=300, figure_one=False,
                          figure_four=(8.0,), four_steps=5, flow_memories=(8.0,),
                          flow_time=200.0, seeds=2, seeds_per_cell=2)  # fmt: skip
    cells = [c for c in study.cells(config) if c.params["part"] == "four cases"]
    assert sorted(c.params["case"] for c in cells) == ["adam", "sampled paths"]
    for cell in cells:
        for row in study.run_cell(cell).rows:
            assert row["censored"] == (row["leave_time"] is None)
            assert row["loss_end"] < row["loss_start"]
            if row["case"] == "adam":  # Adam's crossings are on its record grid, in steps
                assert row["plateau_level"] == pytest.approx(bump_energy())
                assert row["leave_time"] is None or row["leave_time"] % 5 == 0
