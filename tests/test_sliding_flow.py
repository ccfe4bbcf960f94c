"""The flow followed to its end slides along switching surfaces (Filippov's solution) instead of
zig-zagging across them: checked against a closed form and a finely stepped explicit flow."""

import numpy as np
import pytest
import torch

from bends.training._sliding import Surfaces
from bends.training.flows import follow_flow
from bends.training.tied import TiedProblem


def wedge() -> TiedProblem:
    r"""f_1(W, (t, 1)) = ReLU(a t + b) (a, b: W's first row) on t = 0 (target −1) and t = 1
    (target 1): L = ½[(ReLU(b) + 1)² + (ReLU(a + b) − 1)²]. For 0 < a < 1 the field points
    into the surface b = 0 from both sides (∂L/∂b is a above it and a − 1 below), so the flow
    slides along it: b = 0 and ȧ = 1 − a, a(t) = 1 − (1 − a₀)e^{−t}, until a = 1."""
    return TiedProblem(np.array([0.0, 1.0]), np.array([-1.0, 1.0]), 1, [0.0, 1.0], [1.0, 0.0])


def fine_flow(problem: TiedProblem, weight: np.ndarray, times: np.ndarray, dt: float):
    """Explicit Euler at a tiny step: it zig-zags across a sliding surface within O(dt) of it
    and converges to the sliding motion as dt → 0 (the reference)."""
    out, t, weight = [], 0.0, weight.copy()
    for target in times:
        while t < target - 1e-15:
            step = min(dt, target - t)
            weight -= step * problem.loss_and_gradient(weight)[1]
            t += step
        out.append(weight.copy())
    return np.array(out)


@pytest.mark.parametrize("integrator", ["implicit", "explicit"])
def test_a_flow_started_on_an_attracting_surface_slides_along_it(integrator):
    problem = wedge()
    start = np.array([[0.2, 0.0], [0.3, -0.4]])
    (run,) = follow_flow(problem, start[None], integrator=integrator, max_steps=1000,
                         loss_threshold=0.0, tolerance=1e-4)  # fmt: skip
    inside = run.times < 4.0  # before a reaches 1 (within 2 %)
    exact_a = 1 - 0.8 * np.exp(-run.times[inside])
    # first order: the error falls like √tolerance (measured 0.023, 0.008, 0.003 at 10⁻², ⁻³, ⁻⁴)
    np.testing.assert_allclose(run.weights[inside, 0, 0], exact_a, atol=5e-3)
    assert run.evaluations < 600  # the zig-zag without sliding runs out of 4,000 steps here
    assert np.abs(run.weights[inside, 0, 1]).max() < 1e-6  # on the surface b = 0
    np.testing.assert_array_equal(run.weights[:, 1], np.broadcast_to(start[1], (len(run.times), 2)))
    assert run.stopped in ("critical", "stalled", "kink") and abs(run.loss - 0.5) < 1e-6


def test_the_sliding_flow_matches_a_finely_stepped_reference_on_a_deep_network(monkeypatch):
    # two steps, three neurons: the surfaces' normals come through the recursion
    joined = []
    original = Surfaces.join
    monkeypatch.setattr(Surfaces, "join", lambda self, run, crossed: (
        joined.append(len(crossed)), original(self, run, crossed)))  # fmt: skip
    rng = np.random.default_rng(5)
    problem = TiedProblem.from_target("cantor-2", width=3, steps=2, points=12)
    runs = follow_flow(problem, rng.standard_normal((6, 3, 3)), tolerance=1e-4, max_steps=3000)
    assert sum(joined) > 0  # some run held a surface
    for run in runs:
        keep = run.times <= 2.0
        reference = fine_flow(problem, run.weights[0], run.times[keep], dt=2e-5)
        scale = np.abs(reference).max()
        assert np.abs(run.weights[keep] - reference).max() <= 2e-2 * scale


def test_switching_surfaces_normals_and_jumps_equal_autograd():
    problem = TiedProblem.from_target("cantor", width=4, steps=3, points=8)
    weight = np.random.default_rng(1).standard_normal((2, 4, 4))
    surfaces = np.array([[0, 1, 0, 2], [0, 3, 2, 5], [1, 2, 1, 0], [1, 1, 3, 7], [0, 3, 0, 1]])
    values, normals, jumps, sides = problem.switching(weight, surfaces)
    inputs, y = torch.from_numpy(problem.inputs), torch.from_numpy(problem.y)
    for a, (r, s, j, i) in enumerate(surfaces):

        def pre_activation(w, s=s, j=j, i=i):
            h = inputs
            for _ in range(s - 1):
                h = (w @ h).clamp(min=0)
            return (w @ h)[j, i]

        def loss(bump, r=r, s=s, j=j, i=i):  # L with h_{s,j,i} moved by bump
            h = inputs
            for q in range(1, problem.steps + 1):
                h = (torch.from_numpy(weight[r]) @ h).clamp(min=0)
                if q == s:
                    h = h + bump * torch.nn.functional.one_hot(torch.tensor(j * 8 + i), 32
                                                               ).reshape(4, 8)  # fmt: skip
            return torch.mean((h[0] - y) ** 2)

        w = torch.from_numpy(weight[r])
        assert values[a] == pytest.approx(float(pre_activation(w)), rel=1e-14)
        assert sides[a] == (values[a] > 0)
        np.testing.assert_allclose(normals[a], torch.autograd.functional.jacobian(
            pre_activation, w).numpy(), atol=1e-13)  # fmt: skip
        bump = torch.zeros((), dtype=torch.float64, requires_grad=True)
        (expected,) = torch.autograd.grad(loss(bump), bump)
        assert jumps[a] == pytest.approx(float(expected), rel=1e-12, abs=1e-15)
