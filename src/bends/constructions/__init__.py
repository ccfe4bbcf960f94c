"""Closed-form networks from the theory, each with its exact piece count.

Every construction is a function returning a network (MLP or bias-free tied RNN) that carries
the input segment it is meant to be traced on. ``REGISTRY`` lists them for the command line
(``bends construct --list``), with their parameters and expected piece counts.

Example:
    >>> from bends import trace
    >>> entry = REGISTRY["yarotsky"]
    >>> net = entry.build(m=4)
    >>> trace(net).pieces == entry.pieces(m=4)
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bends.constructions.compositional import (
    compositional,
    compositional_layers,
    compositional_rnn,
    compositional_value,
    manifold_scales,
)
from bends.constructions.maps import (
    PHI,
    PiecewiseLinearMap,
    abs_map,
    fibonacci,
    iterate_mlp,
    iterate_rnn,
    orbit_map,
    sawtooth,
    sawtooth_rnn,
    tent_map,
)
from bends.constructions.staircase import cantor_iterate, devils_staircase
from bends.constructions.yarotsky import (
    blog_candidate,
    blog_candidate_rnn,
    parabola,
    parabola_rnn,
    sawtooth_series,
    sawtooth_series_rnn,
    yarotsky_square,
    yarotsky_square_rnn,
)
from bends.errors import BendsError
from bends.nets import Network


@dataclass(frozen=True)
class Construction:
    """A named construction: its builder, parameters with defaults, and exact piece count."""

    summary: str
    build: Callable[..., Network]
    defaults: dict[str, object]
    pieces: Callable[..., int | None] = field(default=lambda **_: None)


def _map_iterate(make_map: Callable[..., PiecewiseLinearMap]) -> Callable[..., Network]:
    def build(depth: int, rnn: bool = False, **params) -> Network:
        f = make_map(**params)
        return iterate_rnn(f, depth) if rnn else iterate_mlp(f, depth)

    return build


def _compositional(peaks, scales=None, add=False, rnn=False) -> Network:
    if rnn:
        raise BendsError("use the compositional-rnn construction for the tied-RNN form")
    if scales is None:
        scales = manifold_scales([*peaks, 0.5], subtract=not add)
    return compositional(peaks, scales, subtract=not add)


REGISTRY: dict[str, Construction] = {
    "sawtooth": Construction(
        "Telgarsky's sawtooth g^depth on [0, 1] (width 2; --rnn: tied RNN of width 3)",
        lambda depth, rnn=False: sawtooth_rnn(depth) if rnn else sawtooth(depth),
        {"depth": 4, "rnn": False},
        lambda depth, **_: 2**depth,
    ),
    "tent": Construction(
        "iterate of the tent map slope·min(x, 1 − x) on [0, 1]",
        _map_iterate(lambda slope: tent_map(slope)),
        {"depth": 4, "slope": 2.0, "rnn": False},
        lambda depth, slope=2.0, **_: 2**depth if slope == 2.0 else None,
    ),
    "abs-map": Construction(
        "iterate of c|x| − 1 on [−1, 1]; c = φ gives 2·F(depth+1) pieces",
        _map_iterate(lambda c: abs_map(c)),
        {"depth": 6, "c": PHI, "rnn": False},
        lambda depth, c=PHI, **_: 2 * fibonacci(depth + 1) if c == PHI else None,
    ),
    "orbit": Construction(
        "iterate of the piecewise-linear map through a periodic orbit (--orbit p0,p1,...)",
        _map_iterate(lambda orbit: orbit_map(orbit)),
        {"depth": 3, "orbit": [0.0, 0.5, 1.0], "rnn": False},
    ),
    "yarotsky": Construction(
        "Yarotsky's x² approximation f_m = x − Σ g_s/4^s (interpolant at j/2^m)",
        lambda m, rnn=False: yarotsky_square_rnn(m) if rnn else yarotsky_square(m),
        {"m": 4, "rnn": False},
        lambda m, **_: 2**m,
    ),
    "parabola": Construction(
        "partial sum Σ_{s≤m} g_s/4^s of x(1 − x)",
        lambda m, rnn=False: parabola_rnn(m) if rnn else parabola(m),
        {"m": 4, "rnn": False},
        lambda m, **_: 2**m,
    ),
    "candidate": Construction(
        "the blog's candidate ¼t₁ + 1/32 t₂ + 1/128 t₄ + … (m terms; --rnn: width 7)",
        lambda m, rnn=False: blog_candidate_rnn(m) if rnn else blog_candidate(m),
        {"m": 4, "rnn": False},
        lambda m, **_: 2**m,
    ),
    "staircase": Construction(
        "devil's staircase: width-7 tied RNN computing the Cantor iterate F_j (j + 1 steps)",
        lambda j: devils_staircase(j),
        {"j": 4},
        lambda j, **_: 2 ** (j + 1) - 1,
    ),
    "compositional": Construction(
        "Milkert–Hyde–Laine network x ∓ Σ s_i W_i (scales default to the manifold rule)",
        _compositional,
        {"peaks": [0.5, 0.5, 0.5, 0.5, 0.5], "scales": None, "add": False},
        # proven for the manifold scales; explicit scales get no closed form
        lambda peaks, scales=None, **_: 2 ** len(peaks) if scales is None else None,
    ),
    "compositional-rnn": Construction(
        "tied-RNN compositional network: all peaks equal, scales ratio^(i+1)",
        lambda peak, ratio, steps, add=False: compositional_rnn(peak, ratio, steps, not add),
        {"peak": 0.5, "ratio": 0.25, "steps": 5, "add": False},
        # subtracted waves keep every triangle only while the carried sum stays positive:
        # ratio ≤ peak/2 (measured over peaks 0.2–0.9 and 3–9 steps; added waves: any ratio)
        lambda steps, peak=0.5, ratio=0.25, add=False, **_: (
            2 ** (steps - 1) if add or ratio <= peak / 2 else None
        ),
    ),
}


def build(name: str, **params) -> Network:
    """Build construction ``name``; unknown names or parameters get a BendsError."""
    if name not in REGISTRY:
        raise BendsError(f"unknown construction {name!r}; known: {', '.join(REGISTRY)}")
    entry = REGISTRY[name]
    unknown = set(params) - set(entry.defaults)
    if unknown:
        raise BendsError(
            f"{name} takes {', '.join(entry.defaults)}; not {', '.join(sorted(unknown))}"
        )
    return entry.build(**{**entry.defaults, **params})


__all__ = [
    "PHI",
    "REGISTRY",
    "Construction",
    "PiecewiseLinearMap",
    "abs_map",
    "blog_candidate",
    "blog_candidate_rnn",
    "build",
    "cantor_iterate",
    "compositional",
    "compositional_layers",
    "compositional_rnn",
    "compositional_value",
    "devils_staircase",
    "fibonacci",
    "iterate_mlp",
    "iterate_rnn",
    "manifold_scales",
    "orbit_map",
    "parabola",
    "parabola_rnn",
    "sawtooth",
    "sawtooth_rnn",
    "sawtooth_series",
    "sawtooth_series_rnn",
    "tent_map",
    "yarotsky_square",
    "yarotsky_square_rnn",
]
