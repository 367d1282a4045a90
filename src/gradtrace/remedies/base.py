"""The remedy contract: a gradient transform is a pure (init, update) pair with explicit state.

Gradients travel as a dict ``{parameter name: (K, ...) tensor}``; the leading axis is the ensemble
member, and every transform acts on each member alone (one member's norm never clips another).
``update`` returns the new gradients, the new state and its measurements (per member, (K,)) under
stable keys, so a run can record how often a clip fired or how large a penalty was.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from gradtrace.errors import describe
from gradtrace.models.base import RecurrentModel

__all__ = ["Context", "GradientTransform", "Grads", "as_transform", "chain", "member_norms"]

#: Gradients (or parameters) by name, each (K, ...) with the ensemble member first.
Grads = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Context:
    """What one update can see besides the gradients: the model and the pass that made them.

    Attributes:
        model: the model being trained.
        params: its current parameters by name, detached, each (K, ...).
        inputs: (K, B, T, input_size) inputs of the back-propagated window.
        initial_state: the state entering the window, a tuple of (K, B, H), detached.
        states: (K, B, T, H) hidden states of the window, detached.
        state_grads: (K, B, T, H) ∂E/∂h_t over the window, or None when not measured.
    """

    model: RecurrentModel
    params: Grads
    inputs: torch.Tensor | None = None
    initial_state: tuple[torch.Tensor, ...] | None = None
    states: torch.Tensor | None = None
    state_grads: torch.Tensor | None = None


Update = Callable[[Grads, Any, Context], tuple[Grads, Any, dict[str, torch.Tensor]]]


@dataclass(frozen=True)
class GradientTransform:
    """A gradient remedy: ``init(model) -> state`` and ``update(grads, state, context)``.

    ``update`` returns ``(grads, state, metrics)``; it must not modify its arguments in place.

    Attributes:
        name: prefix of the metric keys and the config name.
        init: builds the initial state for a model, and refuses a model the remedy cannot apply to.
        update: transforms one step's gradients.
        options: the factory's arguments, kept for configs and reports.
    """

    name: str
    init: Callable[[RecurrentModel], Any]
    update: Update
    options: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """Return the remedy as it would be written in Python, e.g. ``clip_by_global_norm(max_norm=1.0)``."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{self.name}({args})"


def member_norms(grads: Grads, K: int | None = None) -> torch.Tensor:  # noqa: N803
    """Return the global L2 norm of each member's gradients over all parameters: (K,), float64."""
    tensors = list(grads.values())
    if not tensors:
        return torch.zeros(K or 0, dtype=torch.float64)
    squares = sum(g.detach().flatten(1).double().square().sum(1) for g in tensors)
    return squares.sqrt()


def chain(*transforms: GradientTransform) -> GradientTransform:
    """Compose transforms; they apply in the order given.

    Order matters: ``chain(pascanu_penalty(2.0), clip_by_global_norm(1.0))`` clips the gradient of
    E + αΩ, while the reverse adds αΩ's gradient after clipping E's. Metric keys keep each
    transform's name; a name used twice gets its position appended (``clip_by_value#2/fired``).

    Example:
        >>> from gradtrace.remedies import clip_by_global_norm, weight_penalty
        >>> chain(weight_penalty(1e-4), clip_by_global_norm(1.0)).describe()
        'chain(weight_penalty(l2=0.0001), clip_by_global_norm(max_norm=1.0))'
    """
    for i, t in enumerate(transforms):
        if not isinstance(t, GradientTransform):
            raise TypeError(f"chain() argument {i} must be a GradientTransform, got {describe(t)}.")
    seen: dict[str, int] = {}
    prefixes = []
    for t in transforms:
        seen[t.name] = seen.get(t.name, 0) + 1
        prefixes.append(t.name if seen[t.name] == 1 else f"{t.name}#{seen[t.name]}")

    def init(model: RecurrentModel) -> tuple:
        return tuple(t.init(model) for t in transforms)

    def update(grads: Grads, state: tuple, context: Context):
        states, metrics = [], {}
        for t, prefix, s in zip(transforms, prefixes, state):
            grads, s, m = t.update(grads, s, context)
            states.append(s)
            metrics.update({prefix + key[len(t.name):]: v for key, v in m.items()})
        return grads, tuple(states), metrics

    return _Chain("chain", init, update, {}, transforms)


@dataclass(frozen=True)
class _Chain(GradientTransform):
    parts: tuple[GradientTransform, ...] = ()

    def describe(self) -> str:
        return f"chain({', '.join(t.describe() for t in self.parts)})"


def as_transform(remedies: GradientTransform | Sequence[GradientTransform] | None) -> GradientTransform | None:
    """Accept one transform, a sequence of them (chained in order) or None."""
    if remedies is None or isinstance(remedies, GradientTransform):
        return remedies
    if isinstance(remedies, Sequence) and not isinstance(remedies, (str, bytes)):
        for i, t in enumerate(remedies):
            if not isinstance(t, GradientTransform):
                raise TypeError(f"`remedies[{i}]` must be a GradientTransform (from gradtrace.remedies), got "
                                f"{describe(t)}.")
        return chain(*remedies) if remedies else None
    raise TypeError(f"`remedies` must be a GradientTransform, a sequence of them or None, got {describe(remedies)}.")
