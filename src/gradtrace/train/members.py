"""Member bookkeeping: which members of the ensemble train, the non-finite policy, per-member rates.

Every parameter holds the K members along its first axis, so "a member" is a slice ``p[k]`` of each.
"""

from __future__ import annotations

import numpy as np
import torch

from gradtrace.errors import NonFiniteError

__all__ = ["Members", "member_scales", "restore_members", "scale_steps", "zero_member_grads"]


class Members:
    """The state of each of K members under the non-finite policy.

    A member is *active* until, with ``policy="record"``, a loss or gradient of it goes NaN or infinite:
    then its ``diverged_at`` is that step and it is frozen (its parameters restored after every update)
    while the others train on. With ``policy="skip"`` the member stays active and only that update is
    undone; the steps where that happened are flagged (see :meth:`take_skipped`). With ``policy="raise"``
    it stops the run.

    Attributes:
        policy: a name in :data:`~gradtrace.train.NONFINITE_POLICIES`.
        active: (K,) bool on the parameters' device.
        diverged_at: (K,) int64, the step each member was frozen at, −1 if never.
    """

    def __init__(self, num_models: int, policy: str, device: torch.device):
        self.policy = policy
        self.active = torch.ones(num_models, dtype=torch.bool, device=device)
        self.diverged_at = np.full(num_models, -1, dtype=np.int64)
        self._skipped = torch.zeros(num_models, dtype=torch.bool, device=device)
        # Parameters as they were when the last member diverged: the frozen members' values.
        self._frozen: list[torch.Tensor] | None = None
        # Parameters before the current update, kept while a skipped member's update is undone.
        self._held: list[torch.Tensor] | None = None

    def any_active(self) -> bool:
        """Whether any member still trains."""
        return bool(self.active.any())

    def shown(self, values: torch.Tensor) -> torch.Tensor:
        """Return (K,) ``values`` in float64 with NaN for the frozen members, as the history shows them."""
        values = values.double()
        return torch.where(self.active, values, torch.full_like(values, float("nan")))

    def exclude_nonfinite(self, step: int, params: list[torch.Tensor], loss_ok: torch.Tensor,
                          grad_ok: torch.Tensor) -> torch.Tensor:
        """Apply the policy to the active members whose loss or gradient is not finite; zero what is excluded.

        Args:
            step: the training step, for ``diverged_at`` and the error.
            params: the trainable parameters, each (K, ...), their gradients just computed.
            loss_ok: (K,) whether each member's loss is finite.
            grad_ok: (K,) whether each member's gradient is finite.

        Returns:
            (K,) the members whose update is dropped now (restore them with :meth:`restore`).

        Raises:
            NonFiniteError: with ``policy="raise"``, naming the step and the members.
        """
        bad = self.active & ~(loss_ok & grad_ok)
        self._held = None
        if bool(bad.any()):
            self._apply_policy(step, params, bad, loss_ok)
        # Members that are frozen or skipped get a zero gradient, so no remedy sees a NaN.
        zero_member_grads(params, ~self.active | bad)
        return bad

    def _apply_policy(self, step: int, params: list[torch.Tensor], bad: torch.Tensor, loss_ok: torch.Tensor) -> None:
        members = bad.nonzero().flatten().tolist()
        if self.policy == "raise":
            raise NonFiniteError(
                f"Non-finite {'loss' if not bool(loss_ok[bad].all()) else 'gradient'} at step "
                f"{step} for member(s) {members} (on_nonfinite='raise'); use 'record' to keep "
                f"training the other members or 'skip' to drop the update.",
                step=step, members=members,
            )
        if self.policy == "record":
            self.diverged_at[members] = step
            self.active = self.active & ~bad
            self._frozen = [p.detach().clone() for p in params]
        else:
            # A zero gradient alone still moves the member by its momentum (Adam, RMSprop).
            self._held = [p.detach().clone() for p in params]
            self._skipped |= bad

    def restore(self, params: list[torch.Tensor], bad: torch.Tensor) -> None:
        """Put the frozen members, and the members whose update was dropped (``bad``), back after a step."""
        if self._frozen is not None:
            restore_members(params, self._frozen, ~self.active)
        if self._held is not None:
            restore_members(params, self._held, bad)

    def take_skipped(self) -> torch.Tensor:
        """Return (K,) 1.0 for the members some of whose updates were skipped since the last call, else 0.0."""
        skipped = self._skipped.double()
        self._skipped = torch.zeros_like(self._skipped)
        return skipped


def member_scales(rates: tuple[float, ...] | None, params: list[torch.Tensor]) -> list[torch.Tensor] | None:
    """Return one (K, 1, ...) factor per parameter holding member k's rate; None when one rate serves all."""
    if rates is None:
        return None
    values = torch.tensor(rates, dtype=torch.float64, device=params[0].device)
    return [values.to(p.dtype).view(-1, *([1] * (p.dim() - 1))) for p in params]


def scale_steps(params: list[torch.Tensor], before: list[torch.Tensor], scales: list[torch.Tensor]) -> None:
    """Scale each member's change of its parameters by its learning rate: θ ← θ_old + lr_k (θ − θ_old)."""
    with torch.no_grad():
        for p, old, scale in zip(params, before, scales):
            p.sub_(old).mul_(scale).add_(old)


def zero_member_grads(params: list[torch.Tensor], members: torch.Tensor) -> None:
    """Set the gradient of the selected ``members`` (K,) to zero in every parameter."""
    for p in params:
        if p.grad is not None:
            keep = (~members).view(-1, *([1] * (p.dim() - 1)))
            p.grad.copy_(torch.where(keep, p.grad, torch.zeros_like(p.grad)))


def restore_members(params: list[torch.Tensor], saved: list[torch.Tensor], members: torch.Tensor) -> None:
    """Copy the selected ``members`` (K,) back from ``saved`` into every parameter."""
    with torch.no_grad():
        for p, s in zip(params, saved):
            select = members.view(-1, *([1] * (p.dim() - 1)))
            p.copy_(torch.where(select, s, p))
