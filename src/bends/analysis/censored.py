r"""Growth laws fitted to times that may be cut off by a budget (right-censored).

An escape time τ is *censored* when the run ended on its budget T before escaping: all we know
is τ > T. Dropping such runs biases a fitted growth downwards exactly where it is steepest, so
they enter the likelihood as what they are. The model is a censored normal regression
(Tobit) of :math:`y = \log\tau` on a regressor x,

.. math::

    y = a + b x + \sigma(1/\omega)\,\varepsilon, \quad \varepsilon \sim N(0, 1),
    \quad \log\sigma = g_0 + g_1 (1/\omega - \overline{1/\omega}), \qquad
    \ell = \sum_{\text{escaped}} \big[\log\varphi(r_i) - \log\sigma\big]
         + \sum_{\text{censored}} \log\big(1 - \Phi(r_i)\big), \quad r_i = (y_i - a - b x_i)/\sigma,

with x = 1/ω for the **exponential** law τ ∝ e^{b/ω} and x = log(1/ω) for the **power** law
τ ∝ (1/ω)^b; the spread is log-linear in 1/ω because escape times scatter more at long
memories (measured in memory-plateau: the SD of log τ grows from 0.7 to 2.2). Both laws have
four parameters, so ΔAIC = AIC(power) − AIC(exponential) =
2(ℓ_exp − ℓ_power); positive favours the exponential law.

A verdict needs more than one ΔAIC: :func:`compare_laws` refits with each memory left out in
turn and names a law only if it wins by at least ``evidence`` in the full fit *and* in every
leave-one-out fit; :func:`law_power` simulates each fitted law (same memories, same runs per
memory, same budgets) and reports how often that rule names the law that generated the data.

Example:
    >>> rng = np.random.default_rng(0)
    >>> memory = np.repeat([4.0, 6.0, 8.0, 10.0, 12.0], 20)
    >>> tau = np.exp(0.5 * memory + 0.3 * rng.standard_normal(memory.size))
    >>> budget = np.full(memory.size, np.exp(5.5))
    >>> comparison = compare_laws(memory, np.minimum(tau, budget), tau >= budget)
    >>> comparison.verdict, round(comparison.fits["exponential"].slope, 1)
    ('exponential', 0.5)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from bends.errors import BendsError

#: ΔAIC a law must win by, in the full fit and in every leave-one-out fit.
EVIDENCE = 4.0
#: Distinct memories the rule needs: with one left out of three, both three-parameter laws
#: pass through the two that remain and every leave-one-out ΔAIC is 0.
LEAST_MEMORIES = 4
HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)
LAWS = ("exponential", "power")


@dataclass(frozen=True)
class CensoredFit:
    """log τ = intercept + slope · x + σ(1/ω) ε, σ = spread · e^{spread_slope (1/ω − centre)},
    fitted with censored runs in the likelihood."""

    law: str
    intercept: float
    slope: float
    spread: float  # σ at the centre memory
    spread_slope: float  # d log σ / d(1/ω)
    centre: float
    log_likelihood: float
    runs: int
    censored: int

    def predict(self, memory) -> np.ndarray:
        """The fitted median τ at memories 1/ω."""
        return np.exp(self.intercept + self.slope * _regressor(self.law, memory))

    def spreads(self, memory) -> np.ndarray:
        """σ of log τ at memories 1/ω."""
        shift = np.asarray(memory, dtype=np.float64) - self.centre
        return self.spread * np.exp(self.spread_slope * shift)


def _regressor(law: str, memory) -> np.ndarray:
    memory = np.asarray(memory, dtype=np.float64)
    return memory if law == "exponential" else np.log(memory)


def censored_fit(law: str, memory, tau, censored) -> CensoredFit:
    """The censored normal regression of log τ on 1/ω (``exponential``) or log(1/ω) (``power``),
    with a spread log-linear in 1/ω (escape times scatter more at long memories); ``tau``
    holds the budget where ``censored``."""
    memory = np.asarray(memory, dtype=np.float64)
    x, y = _regressor(law, memory), np.log(np.asarray(tau, dtype=np.float64))
    centre = float(np.mean(memory))
    shift = memory - centre
    cut = np.asarray(censored, dtype=bool)
    seen = ~cut
    design = np.column_stack([np.ones(seen.sum()), x[seen]])
    start = np.linalg.lstsq(design, y[seen], rcond=None)[0] if seen.sum() >= 2 else [y.mean(), 0]
    spread0 = max(float(np.std(y[seen] - design @ start)) if seen.sum() > 2 else 1.0, 1e-3)

    def negative(theta: np.ndarray) -> tuple[float, np.ndarray]:
        """−ℓ and its gradient in (a, b, log σ₀, g), log σ_i = log σ₀ + g (1/ω_i − centre)."""
        a, b, log_s0, g = theta
        log_s = log_s0 + g * shift
        s = np.exp(log_s)
        r = (y - a - b * x) / s
        r_seen, r_cut = r[seen], r[cut]
        log_tail = special.log_ndtr(-r_cut)  # log(1 − Φ(r))
        value = np.sum(-0.5 * r_seen**2 - HALF_LOG_2PI - log_s[seen]) + np.sum(log_tail)
        hazard = np.exp(-0.5 * r_cut**2 - HALF_LOG_2PI - log_tail)  # φ(r) / (1 − Φ(r))
        pull = np.zeros_like(r)  # −dℓ/dr per run
        pull[seen], pull[cut] = r_seen, hazard
        widen = np.zeros_like(r)  # dℓ/d log σ_i per run
        widen[seen], widen[cut] = r_seen**2 - 1, hazard * r_cut
        gradient = np.array([np.sum(pull / s), np.sum(pull * x / s), np.sum(widen),
                             np.sum(widen * shift)])  # fmt: skip
        return -float(value), -gradient

    found = optimize.minimize(negative, [*start, np.log(spread0), 0.0], jac=True, method="BFGS")
    if not found.success:  # BFGS can stop on precision loss at a good point; polish
        options = {"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000}
        found = optimize.minimize(lambda t: negative(t)[0], found.x, method="Nelder-Mead",
                                  options=options)  # fmt: skip
    a, b, log_s0, g = found.x
    return CensoredFit(law, float(a), float(b), float(np.exp(log_s0)), float(g), centre,
                       -float(found.fun), len(y), int(cut.sum()))  # fmt: skip


@dataclass(frozen=True)
class LawComparison:
    """Both laws fitted to all runs, ΔAIC (power − exponential) in the full fit and with each
    memory left out, and the verdict: the law that wins by ≥ ``evidence`` everywhere, or
    ``None`` (the data cannot tell them apart)."""

    fits: dict[str, CensoredFit]
    delta: float
    left_out: dict[float, float]
    verdict: str | None
    evidence: float

    @property
    def weakest(self) -> tuple[float, float]:
        """The left-out memory whose fit is least in the verdict's favour, and its ΔAIC."""
        sign = -1.0 if self.verdict == "power" else 1.0
        memory = min(self.left_out, key=lambda m: sign * self.left_out[m])
        return memory, self.left_out[memory]


def _delta(memory, tau, censored) -> tuple[dict[str, CensoredFit], float]:
    fits = {law: censored_fit(law, memory, tau, censored) for law in LAWS}
    return fits, 2.0 * (fits["exponential"].log_likelihood - fits["power"].log_likelihood)


def compare_laws(memory, tau, censored, evidence: float = EVIDENCE) -> LawComparison:
    """Exponential against power law on runs at memories 1/ω (module docstring)."""
    memory = np.asarray(memory, dtype=np.float64)
    tau, censored = np.asarray(tau, dtype=np.float64), np.asarray(censored, dtype=bool)
    if np.unique(memory).size < LEAST_MEMORIES:
        raise BendsError(f"comparing the laws needs at least {LEAST_MEMORIES} memories")
    fits, delta = _delta(memory, tau, censored)
    left_out = {}
    for m in np.unique(memory):
        keep = memory != m
        left_out[float(m)] = _delta(memory[keep], tau[keep], censored[keep])[1]
    deltas = np.array([delta, *left_out.values()])
    verdict = ("exponential" if np.all(deltas >= evidence)
               else "power" if np.all(deltas <= -evidence) else None)  # fmt: skip
    return LawComparison(fits, delta, left_out, verdict, evidence)


def compared_with_power(memory, tau, censored, budget, simulations: int = 100):
    """:func:`compare_laws` and :func:`law_power` together, or (None, None) with fewer than
    ``LEAST_MEMORIES`` memories or no escaped run: what a report states about a law."""
    if np.unique(memory).size < LEAST_MEMORIES or np.all(censored):
        return None, None
    comparison = compare_laws(memory, tau, censored)
    return comparison, law_power(comparison, memory, budget, simulations)


def law_power(comparison: LawComparison, memory, budget, simulations: int = 200,
              seed: int = 0) -> dict[str, float]:  # fmt: skip
    """For each fitted law: the share of data sets simulated from it (normal log τ about the
    fit, censored at each run's ``budget``) on which :func:`compare_laws` names that law."""
    memory, budget = np.asarray(memory, dtype=np.float64), np.asarray(budget, dtype=np.float64)
    rng = np.random.default_rng(seed)
    power = {}
    for law, fit in comparison.fits.items():
        named = 0
        for _ in range(simulations):
            noise = fit.spreads(memory) * rng.standard_normal(memory.size)
            tau = fit.predict(memory) * np.exp(noise)
            cut = tau >= budget
            result = compare_laws(memory, np.minimum(tau, budget), cut, comparison.evidence)
            named += result.verdict == law
        power[law] = named / simulations
    return power


__all__ = [
    "EVIDENCE",
    "LEAST_MEMORIES",
    "CensoredFit",
    "LawComparison",
    "censored_fit",
    "compare_laws",
    "compared_with_power",
    "law_power",
]  # fmt: skip
