"""Each activation and its derivative: the derivative's maximum bounds the gradient through M layers.

The chain rule multiplies the gradient by φ′ once per layer (or step), so max φ′ to the power M
bounds what the activations alone let through M layers: 0.25^M for the sigmoid, which is below 10⁻⁶
after 10 layers, and 1 for tanh and the ReLU family, whose derivative reaches 1. No training: the
numbers are the functions themselves, with each hand-written derivative checked against autograd.
"""

from __future__ import annotations

import numpy as np
import torch

from gradtrace.activations import ACTIVATIONS, Activation
from gradtrace.studies.base import Outcome, RunSpec, StepCallback, Study, StudyConfig

__all__ = ["Activations", "ActivationsConfig", "derivative_by_autograd"]


class ActivationsConfig(StudyConfig):
    """Sizes of the activations study (the defaults take well under a second)."""

    activations: tuple[str, ...] = tuple(ACTIVATIONS)
    x_max: float = 6.0        # the sigmoid's derivative has fallen to 0.0025 there: saturation shows
    points: int = 2401        # odd, so the grid holds 0; 0.005 apart, finer than any kink needs
    max_layers: int = 30      # 0.25^30 ≈ 1e-18: far past float32's precision
    table_layers: tuple[int, ...] = (10, 20)


QUICK = ActivationsConfig(points=241)


def derivative_by_autograd(activation: Activation, x: torch.Tensor) -> torch.Tensor:
    """Return dφ/dx at each point of ``x`` by back-propagating through ``activation.fn``.

    The function acts elementwise, so the gradient of Σφ(x) is φ′ at every point.

    Example:
        >>> from gradtrace.activations import get_activation
        >>> derivative_by_autograd(get_activation("tanh"), torch.zeros(2, dtype=torch.float64)).tolist()
        [1.0, 1.0]
    """
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(activation.fn(x).sum(), x)
    return grad.detach()


class Activations(Study):
    """Every activation of :mod:`gradtrace.activations`: its function, derivative and the bound it sets.

    One run per activation stores φ(x) and φ′(x) on a grid, φ′ again by autograd (their largest
    difference is in the summary: the hand-written derivatives are what the instruments use), the
    supremum of φ′ and the chain-rule envelope (max φ′)^M for M = 1 … ``max_layers``. Beside the
    envelope, the root mean square of φ′ under a standard normal pre-activation: the typical factor
    per layer, rather than the best case.
    """

    name = "activations"
    config_class = ActivationsConfig
    quick_config = QUICK
    title = "Activation functions, their derivatives, and the bound on the gradient"
    description = ("Each activation and its derivative, with the derivative's maximum marked (0.25 for the "
                   "sigmoid, 1 for tanh): over M layers the gradient is at most (max φ′)^M times what the weights "
                   "let through, 0.25^M for the sigmoid and 1 for tanh and ReLU.")
    text = {
        "title": {"en": title, "pt": "Funções de ativação, suas derivadas e o limite do gradiente"},
        "question": {
            "en": "At most how much can the activations alone let the gradient through M layers?",
            "pt": "No máximo, quanto do gradiente as ativações, sozinhas, deixam passar por M camadas?",
        },
        "description": {
            "en": description,
            "pt": "Cada ativação e sua derivada, com o máximo da derivada marcado (0,25 para a sigmoide, 1 para a "
                  "tanh): em M camadas o gradiente é no máximo (máx φ′)^M vezes o que os pesos deixam passar, "
                  "0,25^M para a sigmoide e 1 para tanh e ReLU.",
        },
    }
    default_seeds = 1  # nothing random

    summary_columns = (("max φ′", "max_derivative", ".4g"), ("φ′(0)", "derivative_at_0", ".4g"),
                       ("rms φ′, N(0,1)", "rms_derivative", ".3f"), ("bound, 10 layers", "bound_10", ".3g"),
                       ("bound, 20 layers", "bound_20", ".3g"), ("autograd difference", "autograd_difference", ".1e"),
                       ("saturating", "saturating", ""))

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        config = self.resolve(quick)
        unknown = [name for name in config.activations if name not in ACTIVATIONS]
        if unknown:
            raise ValueError(f"Unknown activation(s) {unknown} in the activations study. "
                             f"Available: {', '.join(ACTIVATIONS)}.")
        if config.points < 3 or config.x_max <= 0 or config.max_layers < max(config.table_layers, default=1):
            raise ValueError("The activations study needs points ≥ 3, x_max > 0 and max_layers ≥ every "
                             f"table_layers entry, got points={config.points}, x_max={config.x_max}, "
                             f"max_layers={config.max_layers}, table_layers={config.table_layers}.")
        return [RunSpec(name, 1, _executor(config, name)) for name in config.activations]


def _executor(config: ActivationsConfig, name: str):
    def execute(callback: StepCallback | None) -> Outcome:
        activation = ACTIVATIONS[name]
        x = torch.linspace(-config.x_max, config.x_max, config.points, dtype=torch.float64)
        with torch.no_grad():
            values, derivative = activation.fn(x), activation.derivative(x)
        by_autograd = derivative_by_autograd(activation, x)
        zero = torch.zeros(1, dtype=torch.float64)
        at_zero = float(activation.derivative(zero)[0])
        # E[φ′(z)²] for z ~ N(0, 1), by the trapezoid rule on the grid (the tails beyond ±x_max weigh < 1e-8).
        density = torch.exp(-0.5 * x.square())
        rms = float(torch.sqrt(torch.trapezoid(density * derivative.square(), x) / torch.trapezoid(density, x)))
        layers = np.arange(1, config.max_layers + 1)
        bound = activation.max_derivative ** layers.astype(np.float64)
        arrays = {
            "x": x.numpy(),
            "value": values.numpy(),
            "derivative": derivative.numpy(),
            "derivative_autograd": by_autograd.numpy(),
            "layers": layers,
            "bound": bound,
            "typical": rms ** layers.astype(np.float64),
        }
        summary = {
            "max_derivative": activation.max_derivative,
            "max_derivative_on_grid": float(derivative.max()),
            "derivative_at_0": at_zero,
            "rms_derivative": rms,
            "autograd_difference": float((derivative - by_autograd).abs().max()),
            "saturating": activation.saturating,
            "learnable": activation.learnable,
            **{f"bound_{m}": float(bound[m - 1]) for m in config.table_layers},
        }
        run_config = {**config.model_dump(), "activation": name}
        return Outcome(arrays, run_config, summary)

    return execute
