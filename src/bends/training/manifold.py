r"""Manifold training of compositional networks (Milkert, Hyde, Laine): three stages, batched.

A 4-wide compositional network with d ReLU layers (see
:mod:`bends.constructions.compositional`) is trained in up to three stages, each relaxing the
constraints of the one before:

* **stage 1**, the differentiable manifold: parameters are d + 1 peaks
  :math:`a_0, \dots, a_d`; the scales follow the rule :math:`s_{i+1} = s_i(1 - a_{i+1})a_{i+2}`;
* **stage 2**, peaks :math:`a_0, \dots, a_{d-1}` and scales :math:`s_0, \dots, s_{d-1}` free
  (every such network still has :math:`2^d` pieces on (0, 1));
* **stage 3**, the raw weights and biases, free.

:meth:`StagedModel.relax` moves a model to the next stage with exactly the same network
function (the new parameters are the old network's values), so a stage can be skipped by
relaxing without training. Peaks stay inside (0, 1) by a :class:`PeakMap`: ``clamp``
(the default: Adam moves a itself, projected back to [margin, 1 − margin] after every step)
or ``sigmoid`` (a = σ(θ): unconstrained, never on the boundary, but σ' ≤ 1/4 slows every
peak's steps, so stage 1 gets less far in the same epochs). With ``clamp`` the best stage-1
models of ``bends run manifold-tables`` match the paper's minima to within 2 %; with
``sigmoid`` they are 1.3–4.7x worse, which suggests the paper trained a directly.

Every tensor has a leading model axis, so a batch of models trains as one program
(:mod:`bends.training.mlp`); stage 3 keeps each model's weights packed in one row, which the fused
loss and Adam both take whole.

Example:
    >>> import torch
    >>> peaks = torch.full((2, 6), 0.5, dtype=torch.float64)
    >>> model = StagedModel.on_manifold(peaks, subtract=True)
    >>> x = torch.linspace(0, 1, 5, dtype=torch.float64)[:, None]
    >>> model.forward(x)[0, :, 0].tolist()  # Yarotsky's x² approximation
    [0.0, 0.0625, 0.25, 0.5625, 1.0]
    >>> torch.equal(model.relax().relax().forward(x), model.forward(x))
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from bends.constructions.compositional import compositional_parameters, scales_on_manifold
from bends.errors import BendsError
from bends.nets import MLP
from bends.nets.packing import pack, unpack
from bends.nets.random import rai_mlp, random_mlp
from bends.training.loop import descend
from bends.training.mlp import (
    layer_widths,
    mlp_forward,
    mlp_mse,
    networks_of,
    packed_mse,
    stack_mlps,
)


@dataclass(frozen=True)
class PeakMap:
    """How optimised parameters θ become peaks a ∈ (0, 1)."""

    kind: Literal["sigmoid", "clamp"] = "clamp"
    margin: float = 0.01

    def __post_init__(self) -> None:
        if self.kind not in ("sigmoid", "clamp"):
            raise BendsError(f"peak map must be sigmoid or clamp, got {self.kind!r}")
        if not 0 < self.margin < 0.5:
            raise BendsError(f"the clamp margin must lie in (0, 0.5), got {self.margin}")

    def peaks(self, theta: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(theta) if self.kind == "sigmoid" else theta

    def parameters_of(self, peaks: torch.Tensor) -> torch.Tensor:
        """θ with peaks(θ) = peaks (to round-off, for the sigmoid)."""
        return torch.logit(peaks) if self.kind == "sigmoid" else peaks.clone()

    def project(self, theta: torch.Tensor) -> None:
        """Keep clamped peaks inside [margin, 1 − margin] (in place; no-op for the sigmoid)."""
        if self.kind == "clamp":
            theta.clamp_(self.margin, 1.0 - self.margin)


@dataclass
class StagedModel:
    """A batch of models at one stage: its leaf parameters and how they make layers."""

    stage: int
    parameters: list[torch.Tensor]
    subtract: bool
    peak_map: PeakMap
    widths: tuple[int, ...]  # of the layers (1, 4, ..., 4, 1) for stages 1 and 2

    @classmethod
    def on_manifold(
        cls, peaks: torch.Tensor, subtract: bool, peak_map: PeakMap = PeakMap()
    ) -> StagedModel:
        """Stage 1 from d + 1 peaks per model, shape (M, d + 1)."""
        parameters = [_leaf(peak_map.parameters_of(peaks))]
        return cls(1, parameters, subtract, peak_map, _widths(peaks.shape[-1] - 1))

    @classmethod
    def free_scales(
        cls,
        peaks: torch.Tensor,
        scales: torch.Tensor,
        subtract: bool,
        peak_map: PeakMap = PeakMap(),
    ) -> StagedModel:
        """Stage 2 from d peaks and d scales per model, shapes (M, d)."""
        parameters = [_leaf(peak_map.parameters_of(peaks)), _leaf(scales)]
        return cls(2, parameters, subtract, peak_map, _widths(peaks.shape[-1]))

    @classmethod
    def raw(cls, layers: list[tuple[torch.Tensor, torch.Tensor]]) -> StagedModel:
        """Stage 3 from batched layers [(W (M, out, in), b (M, out)), ...], packed (M, P)."""
        return cls(3, [_leaf(pack(layers))], True, PeakMap(), layer_widths(layers))

    def packed(self) -> torch.Tensor:
        """Every model's weights and biases (M, P), differentiable in the stage's parameters."""
        if self.stage == 1:
            peaks = self.peak_map.peaks(self.parameters[0])
            scales = scales_on_manifold(peaks, self.subtract)
            return compositional_parameters(peaks[..., :-1], scales, self.subtract)
        if self.stage == 2:
            peaks = self.peak_map.peaks(self.parameters[0])
            return compositional_parameters(peaks, self.parameters[1], self.subtract)
        return self.parameters[0]

    def layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The batched (W, b) of every layer (views into :meth:`packed`)."""
        return unpack(self.packed(), self.widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs (M, N, 1) on inputs x (N, 1)."""
        return mlp_forward(self.layers(), x)

    def losses(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The training loss: per-model MSE (M,) against y (M, N)."""
        return packed_mse(self.packed(), self.widths, x, y)

    def project(self) -> None:
        """Keep peaks inside (0, 1) after an optimiser step (clamp peak map only)."""
        if self.stage in (1, 2):
            self.peak_map.project(self.parameters[0])

    def relax(self) -> StagedModel:
        """The same network functions one stage up, as fresh leaf parameters."""
        with torch.no_grad():
            if self.stage == 1:
                theta = self.parameters[0]
                scales = scales_on_manifold(self.peak_map.peaks(theta), self.subtract)
                params = [_leaf(theta[..., :-1]), _leaf(scales)]
                return StagedModel(2, params, self.subtract, self.peak_map, self.widths)
            if self.stage == 2:
                return StagedModel.raw(self.layers())
        raise BendsError("stage 3 is the last stage")

    def networks(self) -> list[MLP]:
        """One float64 MLP per model (for the exact tracer)."""
        return networks_of(self.layers())


@dataclass
class DifferenceModel:
    r"""A batch of differences :math:`F_a - F_b` of two compositional networks (DC form).

    Both networks subtract their waves (:math:`F = x - \sum_i s_i W_i`, the convex-looking
    family), so :math:`F_a - F_b = \sum_i s^b_i W^b_i - \sum_i s^a_i W^a_i` has waves of both
    signs: a target that is not convex, such as (2x − 1)³ − (2x − 1), becomes reachable. As
    a network it is 8 wide: the two 4-wide blocks side by side, the output row
    ``[acc_a, −acc_b]``. Stages 1 and 2 act
    on both blocks; relaxing to stage 3 gives the raw 8-wide (block-diagonal) network, which
    gradient descent may then fill in.

    >>> a = torch.full((1, 6), 0.5, dtype=torch.float64)
    >>> model = DifferenceModel(StagedModel.on_manifold(a, True), StagedModel.on_manifold(a, True))
    >>> [tuple(w.shape[1:]) for w, _ in model.layers()]
    [(8, 1), (8, 8), (8, 8), (8, 8), (8, 8), (1, 8)]
    >>> x = torch.linspace(0, 1, 9, dtype=torch.float64)[:, None]
    >>> torch.equal(model.relax().relax().forward(x), model.forward(x))
    True
    """

    first: StagedModel
    second: StagedModel

    @property
    def stage(self) -> int:
        return self.first.stage

    @property
    def parameters(self) -> list[torch.Tensor]:
        return [*self.first.parameters, *self.second.parameters]

    def layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return difference_layers(self.first.layers(), self.second.layers())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mlp_forward(self.layers(), x)

    def losses(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return mlp_mse(self.layers(), x, y)

    def project(self) -> None:
        self.first.project()
        self.second.project()

    def relax(self) -> DifferenceModel | StagedModel:
        if self.stage == 2:
            with torch.no_grad():
                return StagedModel.raw(self.layers())
        return DifferenceModel(self.first.relax(), self.second.relax())

    def networks(self) -> list[MLP]:
        return networks_of(self.layers())


def difference_layers(first, second) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Batched layers of the network computing first − second (blocks side by side)."""
    layers = []
    for k, ((wa, ba), (wb, bb)) in enumerate(zip(first, second, strict=True)):
        if k == len(first) - 1:
            layers.append((torch.cat([wa, -wb], dim=2), ba - bb))
        elif k == 0:  # both blocks read the same input
            layers.append((torch.cat([wa, wb], dim=1), torch.cat([ba, bb], dim=1)))
        else:
            models, (oa, ia), (ob, ib) = wa.shape[0], wa.shape[1:], wb.shape[1:]
            top = torch.cat([wa, wa.new_zeros(models, oa, ib)], dim=2)
            bottom = torch.cat([wb.new_zeros(models, ob, ia), wb], dim=2)
            layers.append((torch.cat([top, bottom], dim=1), torch.cat([ba, bb], dim=1)))
    return layers


def _widths(depth: int) -> tuple[int, ...]:
    return (1, *[4] * depth, 1)


def _leaf(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().clone().requires_grad_(True)


#: Stages each method trains, in order (stages in between are relaxed without training).
STAGES: dict[str, tuple[int, ...]] = {
    "default": (3,),
    "raai": (3,),
    "stage1": (1,),
    "stage3": (3,),
    "free-scale": (3,),
    "free-scale2+3": (2, 3),
    "stage2+3": (2, 3),
    "stage1+3": (1, 3),
    "all": (1, 2, 3),
}


def starting_models(
    method: str,
    seeds: Sequence[int],
    depth: int,
    subtract: bool,
    difference: bool = False,
    peaks: tuple[float, float] = (0.1, 0.9),
    peak_map: PeakMap | None = None,
    dtype: torch.dtype = torch.float64,
    device: str = "cpu",
) -> StagedModel | DifferenceModel:
    """The starting point of ``method`` (a key of STAGES) for every seed: PyTorch's default
    or RAI initialisation for the baselines, else peaks uniform on ``peaks`` drawn from the
    seed (shared by every manifold method) and scales by the manifold rule (uniform on (0, 1)
    for ``free-scale`` and ``free-scale2+3``).

    With ``difference`` the manifold methods start two compositional networks per seed (the
    second block's peaks and scales from its own stream) and the baselines are 8 wide.
    """
    if method in ("default", "raai"):
        draw = random_mlp if method == "default" else rai_mlp
        widths = [1, *[8 if difference else 4] * depth, 1]
        nets = [draw(widths, np.random.default_rng([seed, 2])) for seed in seeds]
        return StagedModel.raw(stack_mlps(nets, dtype, device))
    peak_map = peak_map or PeakMap()

    def block(stream: int, block_subtract: bool) -> StagedModel:
        def draw(offset: int, low: float, high: float, size: int) -> torch.Tensor:
            values = [
                np.random.default_rng(
                    [seed, stream + offset] if stream or offset else seed
                ).uniform(low, high, size)
                for seed in seeds
            ]
            return torch.from_numpy(np.stack(values)).to(dtype=dtype, device=device)

        start = draw(0, *peaks, depth + 1)
        if method in ("free-scale", "free-scale2+3"):
            scales = draw(1, 0.0, 1.0, depth)
            return StagedModel.free_scales(start[:, :depth], scales, block_subtract, peak_map)
        return StagedModel.on_manifold(start, block_subtract, peak_map)

    if difference:
        return DifferenceModel(block(0, True), block(3, True))
    return block(0, subtract)


def train_stages(
    model: StagedModel | DifferenceModel,
    stages: Sequence[int],
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    lr: float,
    after_stage: Callable[[int, StagedModel | DifferenceModel], None] | None = None,
) -> tuple[StagedModel | DifferenceModel, np.ndarray]:
    """Relax ``model`` to each of ``stages`` in turn and train it there by Adam
    (:func:`bends.training.loop.descend`, ``epochs`` full-batch steps on (x, y));
    ``after_stage(stage, model)`` runs after each. The trained model and the per-epoch losses
    (models, epochs of all stages end to end)."""
    curves = []
    for stage in stages:
        while model.stage < stage:
            model = model.relax()

        def losses(trained: StagedModel | DifferenceModel = model) -> torch.Tensor:
            return trained.losses(x, y)

        run = descend(model.parameters, losses, epochs, lr, after_step=model.project)
        curves.append(run.curve[:, :-1])
        if after_stage is not None:
            after_stage(stage, model)
    return model, np.concatenate(curves, axis=-1)
