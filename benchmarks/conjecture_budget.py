"""The conjecture study's budget-ended runs, continued: how do they end, and at what cost?

A run that ends on ``max_steps`` is cut off, not at its end. This script reads a finished
``bends run conjecture`` store, takes every live run that ended on the budget, restarts the
flow followed to its end (``trainer=limit``, the cell's own settings) from its stored trained
W with ``--steps`` more steps, and prints per run how it ends now, its loss and pieces before
and after, and the seconds it took — then the totals: the share that ends by a criterion
within the larger budget, and the cell time a full run with ``max_steps`` raised by that much
would add (the continued runs are the only ones that pay it: ended runs leave the batch).

Run: ``python benchmarks/conjecture_budget.py runs/conjecture --steps 70000`` (one process;
JSON lines with ``--json``). The restart resets the step size and the stall windows, so a run
continued for s steps is close to, not identical with, one run for max_steps + s.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
from collections import Counter

import numpy as np

from bends.runner.counting import count
from bends.studies._params import typed
from bends.studies._tied import Training, train_runs
from bends.studies.conjecture import Params, solved_problem


def budget_ended(store: str):
    """(params, row, trained W) of every live run of ``store`` that ended on the budget."""
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    params = {key: json.loads(text) for key, text in db.execute("select key, params from cells")}
    for key, data in db.execute("select cell, data from rows order by cell, idx"):
        row = json.loads(data)
        if row["stopped"] != "budget" or not row["live_init"]:
            continue
        (network,) = db.execute(
            "select data from networks where cell = ? and seed = ? and name = 'trained'",
            (key, row["seed"]),
        ).fetchone()
        yield params[key], row, np.array(json.loads(network)["tied"]["weight"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a conjecture run directory (its results.sqlite)")
    parser.add_argument("--steps", type=int, default=70_000, help="more steps per run")
    parser.add_argument("--json", action="store_true", help="one JSON line per run")
    args = parser.parse_args()
    ended, seconds = Counter(), 0.0
    if not args.json:
        print("| data set | w | k | seed | ends now | loss before → after | pieces before → "
              "after | s |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|")
    for params, row, weight in budget_ended(f"{args.run}/results.sqlite"):
        problem, _ = solved_problem(typed(Params, params))
        settings = typed(Training, {**params, "max_steps": args.steps})
        began = time.perf_counter()
        (run,) = train_runs(problem, weight[None], settings)
        spent = time.perf_counter() - began
        pieces = count(problem.network(run.weight)).pieces
        ended[run.stopped] += 1
        seconds += spent
        line = {"dataset": params["dataset"], "width": params["width"], "k": params["k"],
                "seed": row["seed"], "stopped": run.stopped, "loss_before": row["loss"],
                "loss": float(run.loss), "pieces_before": row["pieces"], "pieces": pieces,
                "seconds": spent}  # fmt: skip
        if args.json:
            print(json.dumps(line), flush=True)
        else:
            print(f"| {line['dataset']} | {line['width']} | {line['k']} | {line['seed']} | "
                  f"{run.stopped} | {row['loss']:.3g} → {run.loss:.3g} | {row['pieces']} → "
                  f"{pieces} | {spent:.0f} |", flush=True)  # fmt: skip
    runs = sum(ended.values())
    still = ended.get("budget", 0)
    print(f"\n{runs} budget-ended live runs continued for {args.steps:,} steps: "
          f"{runs - still} ended by a criterion ({dict(ended)}), {still} on the budget again; "
          f"{seconds:,.0f} s of flow in all (the cell time a full run would add)")  # fmt: skip


if __name__ == "__main__":
    main()
