r"""Study ``memory-plateau``: does training slow down exponentially as the target's memory grows?

Li, Han, E and Li (ICLR 2021, Theorem 5.1) prove that for targets
:math:`\rho_\omega(s) = \bar\rho(s) + \rho_0(s - 1/\omega)` — an easily learned part plus a
template delayed to 1/ω — gradient training of a linear RNN sits on a plateau for a time
growing like :math:`e^{c/\omega}`. Here :math:`\bar\rho(s) = e^{-s}` and
:math:`\rho_0(s) = e^{-s^2}` (:func:`bends.training.memory.plateau_kernel`), the model is the
linear RNN of width ``width``, and the loss is the white-noise loss
:math:`J = \int_0^\infty |\hat\rho - \rho_\omega|^2` (:mod:`bends.training.memory`).

Four parts, one function each:

* ``flow`` — Theorem 5.1's own setting: the real diagonal model (and the complex one beside
  it) under gradient flow on the closed-form loss (:mod:`bends.training.memory_flow`), 1/ω =
  ``flow_memories``; the escape time is the flow time at which J leaves the band
  (1 ± ``band``) ∫ρ₀² downwards. The report fits log τ against 1/ω (exponential law) and
  log(1/ω) (power law) with the runs the budget cut off as censored, and names a law only if
  it wins with every memory left out in turn (:mod:`bends.analysis.censored`), with the
  power of that rule.
* ``plateau`` — the same target trained at a fixed step by Adam (or GD), complex model,
  white-noise loss by quadrature; escape in steps.
* ``figure one`` — the flow on the paper's Figure 1 targets: an exponential sum and
  Ai(s − t₀) for t₀ in ``airy_shifts``.
* ``figure four`` — a tanh RNN with unrestricted W on sampled paths, trained by Adam.

Example:
    >>> study = MemoryPlateau()
    >>> config = study.Config(memories=(2.0,), trainers=("adam",), seeds=2, adam_steps=50,
    ...                       figure_one=False, flow_memories=(3.0,), flow_time=50.0)
    >>> cells = {cell.params["part"]: cell for cell in study.cells(config)}
    >>> rows = study.run_cell(cells["plateau"]).rows
    >>> [row["memory"] for row in rows], rows[0]["loss_final"] < rows[0]["loss_start"]
    ([2.0, 2.0], True)
    >>> flows = study.run_cell(cells["flow"]).rows
    >>> all(r["loss_end"] < r["loss_start"] for r in flows)
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bends.runner.config import StudyConfig, require, setting
from bends.runner.figures import Figures
from bends.runner.grid import grid
from bends.runner.study import Cell, CellResult, StoredCell, Study
from bends.studies._memory_plateau_flow import FlowParams, OneParams, airy_name, figure_one, flow
from bends.studies._memory_plateau_parts import (
    CaseParams,
    FourParams,
    WhiteNoiseParams,
    figure_four,
    four_case,
    plateau,
    trainer_steps,
)
from bends.studies._memory_plateau_report import report


@dataclass(frozen=True)
class MemoryPlateauConfig(StudyConfig):
    memories: tuple[float, ...] = setting(
        tuple(float(m) for m in range(3, 19)), "delays 1/ω", above=0
    )
    trainers: tuple[Literal["gd", "adam"], ...] = setting(
        ("adam",),
        "optimisers of the plateau part (GD at a fixed step: gd; the flow part "
        "follows gradient flow itself)",
    )
    model: Literal["complex", "diagonal", "full"] = setting(
        "complex", "recurrent matrix W (bends.training.memory): complex can fit the bump"
    )
    width: int = setting(16, "hidden width m of the linear RNN", at_least=1)
    gd_lr: float = setting(0.05, "GD learning rate", above=0)
    adam_lr: float = setting(0.01, "Adam learning rate", above=0)
    steps: int = setting(60_000, "GD steps", at_least=1)
    adam_steps: int = setting(5_000, "Adam steps (Adam leaves the plateau far sooner)", at_least=1)
    record_every: int = setting(5, "record the loss every this many steps", at_least=1)
    band: float = setting(
        0.1, "the plateau band: (1 ± band) × the bump's energy ∫ρ₀²", above=0, below=1
    )
    plateau_factor: float = setting(
        3.0,
        "a plateau: the time in the band is at least this many times the time to reach it",
        above=0,
    )
    learned: float = setting(0.5, "the bump is learned when J ≤ learned × ∫ρ₀²", above=0, below=1)
    init_scale: float = setting(0.5, "spread of the initial parameters")
    figure_one: bool = setting(
        True, "also follow the flow on an exponential sum and Ai(s − t₀) (the paper's Figure 1)"
    )
    airy_shifts: tuple[float, ...] = setting(
        (2.0, 4.0, 6.0, 8.0, 10.0), "shifts t₀ of the Figure 1 Airy kernels", above=0
    )
    one_time: float = setting(2000.0, "flow-time budget of the Figure 1 part", above=0)
    one_seeds: int = setting(8, "models per target of the Figure 1 part (at most seeds)",
                             at_least=1)  # fmt: skip
    figure_four: tuple[float, ...] = setting(
        (4.0, 8.0, 12.0),
        "memories 1/ω of the Figure 4 part: a tanh RNN with unrestricted W on sampled paths, "
        "Adam (empty: no such part)",
        above=0,
    )
    four_steps: int = setting(2000, "Adam steps of the Figure 4 part", at_least=1)
    paths: int = setting(128, "sampled white-noise input paths of the Figure 4 part", at_least=1)
    path_step: float = setting(0.2, "time step Δ of the sampled paths", above=0)
    path_length: int = setting(80, "steps per sampled path (horizon Δ × length)", at_least=2)
    flow_memories: tuple[float, ...] = setting(
        tuple(float(m) for m in range(7, 25)),
        "delays 1/ω of the flow part: Theorem 5.1's gradient flow",
        above=0,
    )
    flow_models: tuple[Literal["diagonal", "complex"], ...] = setting(
        ("diagonal", "complex"), "models of the flow part (diagonal: the theorem's)"
    )
    flow_time: float = setting(
        1e5,
        "flow-time budget of the flow part (a run still in the band then is censored)",
        above=0,
    )
    flow_tolerance: float = setting(1e-4, "local error per step of the flow", above=0)
    flow_records: int = setting(260, "loss records per flow (geometric in flow time)",
                                at_least=2)  # fmt: skip
    four_cases: tuple[Literal["sampled paths", "adam"], ...] = setting(
        ("sampled paths", "adam"),
        "Figure 4's changes run one at a time on the diagonal model, at the figure_four "
        "memories: the flow on sampled paths, Adam on the closed-form loss",
    )
    seeds: int = setting(32, "models per (memory, trainer) and per (memory, flow model)")
    seeds_per_cell: int = setting(8, "models trained together in one cell")

    def validate(self) -> None:
        super().validate()
        require(self.record_every <= self.steps, "record_every must be at most steps")
        require(self.learned < 1 - self.band, "learned must lie below the band")
        require(self.model != "complex" or self.width % 2 == 0,
                "a complex model needs an even width")  # fmt: skip


class MemoryPlateau(Study):
    name = "memory-plateau"
    summary = "plateaus of linear-RNN training vs the target's memory 1/ω; the e^{c/ω} law"
    Config = MemoryPlateauConfig
    guide = "studies/memory-plateau.md"
    version = 2
    demo = {"memories": [2.0, 4.0, 6.0], "trainers": ["adam"], "seeds": 2,  # noqa: RUF012
            "seeds_per_cell": 2, "adam_steps": 1500, "figure_four": [6.0], "four_steps": 300,
            "flow_memories": [4.0, 6.0, 8.0], "flow_time": 400.0, "airy_shifts": [2.0, 6.0],
            "one_time": 200.0}  # fmt: skip

    def cells(self, config: MemoryPlateauConfig) -> list[Cell]:
        # each part's cells carry only their own settings, so changing one part's settings
        # leaves the other parts' stored results valid
        groups = config.seed_groups()
        shared = config.fixed("memories", "trainers", "figure_one", "steps", "adam_steps",
                              *FOUR_SETTINGS, *FLOW_SETTINGS, *ONE_SETTINGS)  # fmt: skip
        memories = sorted(set(config.memories), reverse=True)
        plateaus = [
            cell
            for trainer in config.trainers
            for cell in grid(
                self,
                {"part": ["plateau"], "memory": memories, "trainer": [trainer]},
                groups,
                {**shared, "steps": trainer_steps(config, trainer)},
            )
        ]
        targets = ["exponential sum", *map(airy_name, config.airy_shifts)]
        one_groups = [g for g in groups if g[0] < config.first_seed + config.one_seeds]
        figure_one = {"part": ["figure one"], "target": targets}
        four = {"part": ["figure four"], "memory": sorted(set(config.figure_four), reverse=True),
                "trainer": ["adam"]}  # fmt: skip
        four_shared = {k: v for k, v in config.as_dict().items()
                       if k in (*FOUR_SETTINGS[1:], "band", "learned", "plateau_factor",
                                "adam_lr", "width", "init_scale", "record_every")}  # fmt: skip
        one_shared = {"model": config.model, "width": config.width,
                      "init_scale": config.init_scale, "one_time": config.one_time,
                      "flow_tolerance": config.flow_tolerance,
                      "records": config.flow_records}  # fmt: skip
        flow = {"part": ["flow"], "model": list(config.flow_models),
                "memory": sorted(set(config.flow_memories), reverse=True)}  # fmt: skip
        flow_shared = {"width": config.width, "init_scale": config.init_scale,
                       "flow_time": config.flow_time, "flow_tolerance": config.flow_tolerance,
                       "band": config.band, "learned": config.learned,
                       "records": config.flow_records}  # fmt: skip
        cases = {"part": ["four cases"], "case": list(config.four_cases),
                 "memory": sorted(set(config.figure_four), reverse=True)}  # fmt: skip
        case_shared = {k: v for k, v in config.as_dict().items()
                       if k in ("width", "init_scale", "flow_time", "flow_tolerance", "band",
                                "plateau_factor", "adam_lr", "adam_steps", "record_every",
                                "paths", "path_step", "path_length")}  # fmt: skip
        return (
            (grid(self, flow, groups, flow_shared) if config.flow_memories else [])
            + grid(self, cases, groups, case_shared)
            + plateaus
            + (grid(self, figure_one, one_groups, one_shared) if config.figure_one else [])
            + grid(self, four, groups, four_shared)
        )

    def run_cell(self, cell: Cell) -> CellResult:
        part = cell.params["part"]
        if part == "figure four":
            return figure_four(FourParams(**cell.params), cell.seeds)
        if part == "flow":
            return flow(FlowParams(**cell.params), cell.seeds)
        if part == "figure one":
            return figure_one(OneParams(**cell.params), cell.seeds)
        if part == "four cases":
            return four_case(CaseParams(**cell.params), cell.seeds)
        return plateau(WhiteNoiseParams(**cell.params), cell.seeds)

    def report(
        self, config: MemoryPlateauConfig, results: list[StoredCell], figures: Figures
    ) -> str:
        return report(config, results, figures)


#: The Figure 4 part's own settings (the first names the part's memories).
FOUR_SETTINGS = ("figure_four", "four_steps", "paths", "path_step", "path_length")
#: The Figure 1 part's own settings.
ONE_SETTINGS = ("airy_shifts", "one_time", "one_seeds")
#: The flow part's own settings.
FLOW_SETTINGS = (
    "flow_memories",
    "flow_models",
    "flow_time",
    "flow_tolerance",
    "flow_records",
    "four_cases",
)


__all__ = ["MemoryPlateau", "MemoryPlateauConfig"]
