r"""Cell-by-cell comparison of the manifold-tables runs with the paper's two tables.

Each cell of a paper table (target, method, min or mean MSE over 30 models) is put beside
ours with the ratio ours/paper and the probability of the paper's number under our own
distribution: p, the two-sided bootstrap probability that the statistic (min or mean) of
:data:`PAPER_MODELS` models drawn from ours lies at least as far out as the paper's,

.. math:: p = \min\bigl(1,\; 2 \min(P(S^*_{30} \le s_{paper}),\; P(S^*_{30} \ge s_{paper}))\bigr).

Every cell off by more than :data:`FAR` either way gets a cause: **sampling** where p ≥
:data:`ALPHA` (a 30-model statistic of ours lands that far often enough), else one that the
runs measure, else "unexplained". (A heavy tail that our models show, the few worst holding
most of a mean's sum, is what p measures. A tail they do not show, p cannot see: the
bootstrap draws only what we observed, so a paper's mean that needs a failure worse than all
of ours gets p = 0 whatever is true; the last cause below weighs that.) The causes:

* **collapse** (means): a collapsed model's MSE is about the target's variance, orders of
  magnitude above a trained one's, so the mean is set by how many collapsed. The paper's mean
  implies a number j of collapsed models, from ours: mean = ((n − j)·live + j·dead)/n.
* **free-scale through stage 2** (free-scale cells): the paper initialises these models "onto
  the non-differentiable manifold"; if our free-scale start trained through stage 2 as well
  (``free-scale2+3``) comes within FAR of the paper, that reading is the cause.

* **an unseen tail** (means above ours): the MSE one of the paper's 30 models must have had,
  the others typical of ours. Where none of our n models reached it, the rule of three bounds
  such failures below 3/n (95 %); at that rate 1 − (1 − 3/n)^30 of 30-model runs would hold
  one (53 % at n = 120), so the cell is "not excluded" unless that share is below ALPHA (it
  takes n ≳ 1,750 models to exclude a single failure among 30).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from bends.runner.summaries import group, markdown_table, values

#: Cells whose ratio ours/paper lies outside [1/FAR, FAR] need a cause.
FAR = 3.0
#: Models behind each of the paper's numbers, and the bootstrap's draws of that many of ours.
PAPER_MODELS = 30
RESAMPLES = 20_000
#: A cell with p at least this is within our own sampling error.
ALPHA = 0.05


@dataclass(frozen=True)
class PaperCell:
    """One number of a paper table beside ours."""

    table: str
    target: str
    method: str
    statistic: str  # "min" or "mean"
    paper: float
    ours: float
    cause: str | None
    p: float = 1.0

    @property
    def ratio(self) -> float:
        return self.ours / self.paper

    @property
    def far(self) -> bool:
        return not 1 / FAR <= self.ratio <= FAR


def spread(errors) -> str:
    """'median [q1, q3]' of a sample of errors."""
    q1, q2, q3 = np.percentile(errors, [25, 50, 75])
    return f"{q2:.3g} [{q1:.3g}, {q3:.3g}]"


def cells(rows, paper: dict, labels: dict[str, str]) -> list:
    """Every cell of the staged tables (per target) and of the ICML table, with causes."""
    by = group(rows, "target", "method")
    found = []
    for target, methods in paper.items():
        if not isinstance(methods, dict) or target == "icml":
            continue
        for method, (low, average) in methods.items():
            if (target, method) in by:
                for statistic, value in (("min", low), ("mean", average)):
                    found.append(_cell("staged", target, method, statistic, value, by, labels))
    icml = paper.get("icml", {})
    for method, numbers in icml.get("methods", {}).items():
        for (target, statistic), value in zip(icml["columns"], numbers, strict=True):
            if (target, method) in by:
                found.append(_cell("ICML", target, method, statistic, value, by, labels))
    return found


def sampling_p(errors, statistic: str, paper: float, seed: int = 0) -> float:
    """Two-sided bootstrap p of the paper's ``statistic`` (min or mean) of PAPER_MODELS models
    under ours (module docstring).

    >>> sampling_p([1.0, 2.0, 3.0, 4.0], "mean", 2.5), sampling_p([1.0, 2.0], "min", 0.5)
    (1.0, 0.0)
    """
    errors = np.asarray(errors, dtype=np.float64)
    draws = errors[np.random.default_rng(seed).integers(0, len(errors), (RESAMPLES, PAPER_MODELS))]
    found = draws.min(axis=1) if statistic == "min" else draws.mean(axis=1)
    return float(min(1.0, 2 * min(np.mean(found <= paper), np.mean(found >= paper))))


def _cell(table, target, method, statistic, value, by, labels) -> PaperCell:
    errors = np.array(values(by[target, method], "mse"))
    ours = float(errors.min() if statistic == "min" else errors.mean())
    p = sampling_p(errors, statistic, value)
    cell = PaperCell(table, target, method, statistic, value, ours, None, p)
    if not cell.far:
        return cell
    if p >= ALPHA:
        cause = f"sampling: {PAPER_MODELS} of ours land this far with p = {p:.2g}"
    elif statistic == "mean":
        collapsed = np.array(values(by[target, method], "collapsed"), dtype=bool)
        cause = _collapse(errors, collapsed, value) or _rare(errors, value)
    else:
        cause = _through_stage2(target, method, value, by, labels)
    return PaperCell(table, target, method, statistic, value, ours, cause or "unexplained", p)


def _rare(errors, paper: float) -> str | None:
    """A mean above ours that one failure the size of none of ours would give: what it needs,
    and whether our n models can exclude it. None of n seen bounds the failure rate below 3/n
    (95 %, the rule of three); at that rate a run of 30 holds one with probability
    1 − (1 − 3/n)^30, so the failure is excluded only where that is below ALPHA."""
    if paper <= errors.mean():
        return None
    needed = PAPER_MODELS * paper - (PAPER_MODELS - 1) * float(np.median(errors))
    if needed <= errors.max():
        return None
    rate = 3 / len(errors)
    within = 1 - (1 - rate) ** PAPER_MODELS
    return (
        f"{'unexplained' if within < ALPHA else 'an unseen tail, not excluded'}: the paper's "
        f"mean needs one of its {PAPER_MODELS} models at MSE ≥ {needed:.2g} (the others as "
        f"our median); none of our {len(errors)} reached it (largest {errors.max():.2g}), "
        f"which bounds such failures below {rate:.2g} (95 %), a rate at which "
        f"{within:.0%} of {PAPER_MODELS}-model runs would hold one"
    )


def _collapse(errors, collapsed, paper: float) -> str | None:
    """The number of collapsed models the paper's mean implies, if collapse sets our mean."""
    if not collapsed.any() or collapsed.all():
        return None
    dead = float(errors[collapsed].mean())
    live = float(errors[~collapsed].mean())
    n = len(errors)
    implied = n * (paper - live) / (dead - live)
    if not 0 <= implied <= n:
        return None
    return (
        f"collapse: {collapsed.sum()}/{n} of ours collapsed (MSE {dead:.2g} each, the live "
        f"ones' mean {live:.2g}); the paper's mean is what {implied:.1f}/{n} collapsed give"
    )


def _through_stage2(target, method, paper: float, by, labels) -> str | None:
    """Whether free-scale models trained through stage 2 as well match the paper's min."""
    if method != "free-scale" or (target, "free-scale2+3") not in by:
        return None
    other = min(values(by[target, "free-scale2+3"], "mse"))
    if 1 / FAR <= other / paper <= FAR:
        return (
            f"reading: trained through stage 2 as well ({labels['free-scale2+3']}) the min is "
            f"{other:.2g}, {other / paper:.2g}x the paper's"
        )
    return f"unexplained ({labels['free-scale2+3']} gives {other:.2g}, {other / paper:.2g}x)"


def icml_table(found: list[PaperCell], paper: dict, labels: dict[str, str]) -> str | None:
    """The ICML table with ours beside each number."""
    icml = paper.get("icml")
    chosen = {(c.target, c.method, c.statistic): c for c in found if c.table == "ICML"}
    if not icml or not chosen:
        return None
    body = []
    for method, name in icml["names"].items():
        row = [f"{name} (ours: {labels[method]})"]
        for target, statistic in icml["columns"]:
            cell = chosen.get((target, method, statistic))
            row.append("–" if cell is None else
                       f"{cell.ours:.3g} / {cell.paper:.3g} ({cell.ratio:.2g}x)")  # fmt: skip
        body.append(row)
    header = ["ICML method", *[f"{statistic} {target}" for target, statistic in icml["columns"]]]
    return (
        "**The ICML 2025 table** (its Table 1; ours / paper (ratio); the method names mapped "
        "to ours as in the first column):\n\n" + markdown_table(header, body)
    )


def discrepancies(found: list[PaperCell], labels: dict[str, str]) -> str:
    """Every cell off by more than FAR, with its cause."""
    far = [c for c in found if c.far]
    if not far:
        return f"Every cell of both tables is within {FAR:g}x of the paper's."
    body = [[c.table, f"`{c.target}`", labels[c.method], c.statistic, f"{c.ours:.3g}",
             f"{c.paper:.3g}", f"{c.ratio:.2g}x", _p_text(c.p), c.cause]
            for c in far]  # fmt: skip
    sampling = sum(c.p >= ALPHA for c in far)
    unseen = sum("an unseen tail" in c.cause for c in far)
    unexplained = sum("unexplained" in c.cause for c in far)
    significant = sum(c.p < ALPHA for c in found)
    return (
        f"**Cells off by more than {FAR:g}x** ({len(far)} of {len(found)}; {sampling} within "
        f"our sampling error (p ≥ {ALPHA:g}), {unseen} an unseen tail our models cannot "
        f"exclude, {len(far) - sampling - unseen - unexplained} with a measured cause, "
        f"{unexplained} unexplained; at any ratio, {significant} of "
        f"{len(found)} cells have p < {ALPHA:g}). p: the probability that {PAPER_MODELS} "
        "models drawn from ours give a statistic at least as far out as the paper's:\n\n"
        + markdown_table(
            ["table", "target", "method", "stat.", "ours", "paper", "ratio", "p", "cause"], body
        )
    )


def _p_text(p: float) -> str:
    """p as printed: below the bootstrap's resolution, a bound."""
    return f"< {1 / RESAMPLES:.0e}" if p == 0 else f"{p:.2g}"


def order_agreement(found: list[PaperCell]) -> str | None:
    """Spearman's ρ between our and the paper's order of the methods, per staged column."""
    columns = group([{"target": c.target, "statistic": c.statistic, "cell": c}
                     for c in found if c.table == "staged"], "target", "statistic")  # fmt: skip
    parts = []
    for (target, statistic), members in columns.items():
        chosen = [m["cell"] for m in members]
        if len(chosen) >= 3:
            rho = stats.spearmanr([c.ours for c in chosen], [c.paper for c in chosen]).statistic
            parts.append(f"{statistic} `{target}` {rho:.2f}")
    if not parts:
        return None
    return (
        "Order of the methods against the paper's (Spearman's ρ per column): "
        + "; ".join(parts)
        + "."
    )
