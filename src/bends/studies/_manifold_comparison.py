"""Cell-by-cell comparison of the manifold-tables runs with the paper's two tables.

Each cell of a paper table (target, method, min or mean MSE over 30 models) is put beside
ours with the ratio ours/paper; every cell off by more than :data:`FAR` either way gets a
cause that the runs measure, or says "unexplained". The causes tested, in order:

* **collapse** (means): a collapsed model's MSE is about the target's variance, orders of
  magnitude above a trained one's, so the mean is set by how many collapsed. The paper's mean
  implies a number j of collapsed models, from ours: mean = ((n − j)·live + j·dead)/n.
* **heavy tail** (means): the two worst models hold most of the sum; if the other n − 2 models'
  mean is within FAR of the paper's, the difference is the tail's — a mean of 30 draws of a
  distribution with rare failures is not pinned (ours nor, presumably, the paper's).
* **free-scale through stage 2** (free-scale cells): the paper initialises these models "onto
  the non-differentiable manifold"; if our free-scale start trained through stage 2 as well
  (``free-scale2+3``) comes within FAR of the paper, that reading is the cause.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from bends.runner.summaries import group, markdown_table, values

#: Cells whose ratio ours/paper lies outside [1/FAR, FAR] need a cause.
FAR = 3.0


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


def _cell(table, target, method, statistic, value, by, labels) -> PaperCell:
    errors = np.array(values(by[target, method], "mse"))
    ours = float(errors.min() if statistic == "min" else errors.mean())
    cell = PaperCell(table, target, method, statistic, value, ours, None)
    if not cell.far:
        return cell
    if statistic == "mean":
        collapsed = np.array(values(by[target, method], "collapsed"), dtype=bool)
        cause = _collapse(errors, collapsed, value) or _tail(errors, value)
    else:
        cause = _through_stage2(target, method, value, by, labels)
    return PaperCell(table, target, method, statistic, value, ours, cause or "unexplained")


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


def _tail(errors, paper: float) -> str | None:
    """The two worst models' share of the sum, if the rest's mean matches the paper's."""
    if len(errors) < 4:
        return None
    ordered = np.sort(errors)
    share = ordered[-2:].sum() / ordered.sum()
    rest = float(ordered[:-2].mean())
    if share < 0.5:
        return None
    verdict = "" if 1 / FAR <= rest / paper <= FAR else "; still off without them: unexplained"
    return (
        f"heavy tail: the 2 worst of {len(errors)} hold {share:.0%} of the sum; the other "
        f"{len(errors) - 2}'s mean is {rest:.2g} ({rest / paper:.2g}x the paper's){verdict}"
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
             f"{c.paper:.3g}", f"{c.ratio:.2g}x", c.cause] for c in far]  # fmt: skip
    measured = sum("unexplained" not in c.cause for c in far)
    return (
        f"**Cells off by more than {FAR:g}x** ({len(far)} of {len(found)}; {measured} with a "
        f"measured cause, {len(far) - measured} unexplained):\n\n"
        + markdown_table(
            ["table", "target", "method", "stat.", "ours", "paper", "ratio", "cause"], body
        )
    )


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
