"""One update of every member: backward → non-finite policy → remedies → optimizer step."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from gradtrace.remedies import Context
from gradtrace.train.members import Members, member_scales, scale_steps
from gradtrace.train.settings import OPTIMIZERS, Settings

__all__ = ["Updater", "member_grad_norms"]


def member_grad_norms(params: list[torch.Tensor], num_models: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (norm, finite) per member over all gradients, each (K,), on the parameters' device."""
    squares = torch.zeros(num_models, dtype=torch.float64, device=params[0].device)
    for p in params:
        if p.grad is not None:
            squares += p.grad.detach().flatten(1).double().square().sum(1)
    return squares.sqrt(), torch.isfinite(squares)


class Updater:
    """Back-propagate one window's per-member losses and step every member, in the order that matters.

    1. **backward** the sum of the active members' finite losses (members are independent, so each
       parameter slice ``p[k]`` gets member k's gradient);
    2. **non-finite policy** on the members whose loss or gradient is NaN or infinite — before the
       remedies, so no remedy sees a NaN (see :class:`~gradtrace.train.members.Members`);
    3. **remedies** transform the gradients (clip, penalties) with their state;
    4. **optimizer step**, each member's change scaled by its own rate when rates differ, then the
       frozen and skipped members are put back.

    Calling it returns the update's measurements, each (K,): ``grad/norm`` (before remedies) and the
    remedies' own.
    """

    def __init__(self, model: nn.Module, settings: Settings, members: Members):
        self.named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        self.params = [p for _, p in self.named]
        self.members = members
        self.transform = settings.transform
        self.remedy_state = self.transform.init(model) if self.transform is not None else None
        # One rate for all runs torch's optimizer at it; rates per member run it at 1 and scale each
        # member's step (see fit's `lr`).
        self.scales = member_scales(settings.member_rates, self.params)
        # foreach: one fused update for all parameters; a deep MLP has two per layer, each a Python step otherwise.
        self.optimizer = OPTIMIZERS[settings.optimizer](self.params, lr=settings.base_lr, foreach=True)

    def __call__(self, step: int, losses: torch.Tensor, context: Callable[[], Context]) -> dict[str, torch.Tensor]:
        """Make one update from ``losses`` (K,); ``context`` builds what the remedies see, after backward."""
        self.optimizer.zero_grad(set_to_none=True)
        loss_ok = self._backward(losses)
        grad_norm, grad_ok = member_grad_norms(self.params, len(losses))
        dropped = self.members.exclude_nonfinite(step, self.params, loss_ok, grad_ok)
        measured = {"grad/norm": grad_norm, **self._apply_remedies(context)}
        self._step()
        self.members.restore(self.params, dropped)
        return measured

    def release(self) -> None:
        """Free the gradients (after an out-of-memory failure, before the partial run is assembled)."""
        self.optimizer.zero_grad(set_to_none=True)

    def _backward(self, losses: torch.Tensor) -> torch.Tensor:
        """Back-propagate the active members' finite losses; return (K,) whether each loss is finite."""
        loss_ok = torch.isfinite(losses.detach())
        counted = self.members.active & loss_ok
        torch.where(counted, losses, torch.zeros_like(losses)).sum().backward()
        return loss_ok

    def _apply_remedies(self, context: Callable[[], Context]) -> dict[str, torch.Tensor]:
        if self.transform is None:
            return {}
        grads = {name: p.grad if p.grad is not None else torch.zeros_like(p) for name, p in self.named}
        grads, self.remedy_state, metrics = self.transform.update(grads, self.remedy_state, context())
        for name, p in self.named:
            p.grad = grads[name].detach()
        return {key: value.detach().double() for key, value in metrics.items()}

    def _step(self) -> None:
        before = [p.detach().clone() for p in self.params] if self.scales is not None else None
        self.optimizer.step()
        if before is not None:
            scale_steps(self.params, before, self.scales)
