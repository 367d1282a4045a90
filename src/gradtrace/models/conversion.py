"""Helpers shared by the conversions from and to torch.nn recurrent modules."""

from __future__ import annotations

import torch
from torch import nn

from gradtrace.errors import describe

__all__ = ["check_torch_rnn", "output_head"]


def check_torch_rnn(module: nn.Module, kind: type[nn.Module]) -> None:
    """Raise unless ``module`` is a one-layer, unidirectional ``kind`` without projections."""
    if not isinstance(module, kind):
        raise TypeError(f"`module` must be a torch.nn.{kind.__name__}, got {describe(module)}.")
    problems = []
    if module.num_layers != 1:
        problems.append(f"num_layers={module.num_layers} (expected 1: stack gradtrace models instead)")
    if module.bidirectional:
        problems.append("bidirectional=True (expected False)")
    if getattr(module, "proj_size", 0):
        problems.append(f"proj_size={module.proj_size} (expected 0)")
    if problems:
        raise ValueError("Cannot convert `module`: " + "; ".join(problems) + ".")


def output_head(head: nn.Linear | None, hidden_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (W_out, b_out) from ``head``, or the identity map when there is none."""
    if head is None:
        eye = torch.eye(hidden_size)
        return eye, torch.zeros(hidden_size)
    if not isinstance(head, nn.Linear) or head.in_features != hidden_size:
        raise ValueError(f"`head` must be an nn.Linear with in_features={hidden_size}, got {describe(head)}.")
    bias = head.bias if head.bias is not None else torch.zeros(head.out_features)
    return head.weight.detach(), bias.detach()
