"""The white-noise loss and its gradient: closed form (NumPy) against quadrature (torch autograd).

One evaluation of J and ∇J for a batch of 32 width-16 linear RNNs on the plateau target at
1/ω = 24, as the flow part of ``memory-plateau`` calls it every step, against the quadrature
loss with autograd that the fixed-step part uses. Prints a table of milliseconds per
evaluation and the ratio, both in the same run (the machine is shared)."""

from __future__ import annotations

import time

import numpy as np

from bends.training.memory import init_parameters, plateau_kernel, quadrature, white_noise_loss
from bends.training.memory_flow import loss_and_gradient, numpy_parameters

MODELS, WIDTH, MEMORY, REPEATS = 32, 16, 24.0, 200


def _best_of(function, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            function()
        times.append((time.perf_counter() - start) / repeats)
    return min(times) * 1e3


def main() -> None:
    print("| model | closed form (ms) | quadrature + autograd (ms) | ratio |")
    print("|---|---:|---:|---:|")
    kernel = plateau_kernel(1 / MEMORY)
    nodes = quadrature(kernel.horizon)
    delays = np.full(MODELS, MEMORY)
    for kind in ("diagonal", "complex"):
        parameters = init_parameters(kind, WIDTH, list(range(MODELS)))
        arrays = numpy_parameters(parameters)

        def closed(arrays=arrays):
            loss_and_gradient(arrays, delays)

        def quadrature_autograd(parameters=parameters):
            for p in parameters.values():
                p.grad = None
            white_noise_loss(parameters, kernel, nodes).sum().backward()

        fast, slow = _best_of(closed), _best_of(quadrature_autograd)
        print(f"| {kind} | {fast:.3f} | {slow:.3f} | {slow / fast:.1f}x |")


if __name__ == "__main__":
    main()
