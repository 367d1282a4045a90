"""Gated recurrent unit, equal to torch.nn.GRU with the same weights."""

from __future__ import annotations

import torch
from torch import nn

from gradtrace.models.base import RecurrentModel
from gradtrace.models.bptt import gru_recurrence

__all__ = ["GRU"]


class GRU(RecurrentModel):
    """A GRU ensemble equal to ``torch.nn.GRU`` (gate order r, z, n).

    r, z = σ(W_in x_t + b_in + W_rec h_{t−1} + b_rec) (their slices);
    n = tanh(W_in,n x_t + b_in,n + r ⊙ (W_rec,n h_{t−1} + b_rec,n));  h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}.

    The update gate z interpolates: z → 1 copies the state and its gradient unchanged. The reset
    gate multiplies the recurrent bias too, so the two biases are kept apart: ``b`` (K, 3H) on the
    input side, ``b_rec`` (K, 3H) on the recurrent side. Gates "reset" and "update" are kept with
    ``keep_gates=True``.

    Example:
        >>> GRU(3, 5, 2, seed=0)(torch.zeros(2, 4, 3)).outputs.shape
        torch.Size([1, 2, 4, 2])

    References:
        Cho et al. 2014, "Learning phrase representations using RNN encoder-decoder", arXiv:1406.1078.
    """

    num_gates = 3
    gate_names = ("reset", "update")
    torch_class = nn.GRU

    def _make_biases(self, K, width, options):
        super()._make_biases(K, width, options)
        self.b_rec = nn.Parameter(torch.empty(K, width, **options))

    def step(self, drive, state, W_rec_T):  # noqa: N803
        (h,) = state
        recurrent = torch.baddbmm(self.b_rec[:, None, :], h, W_rec_T)
        d_r, d_z, d_n = drive.chunk(3, dim=-1)
        g_r, g_z, g_n = recurrent.chunk(3, dim=-1)
        r = torch.sigmoid(d_r + g_r)
        z = torch.sigmoid(d_z + g_z)
        n = torch.tanh(torch.addcmul(d_n, r, g_n))
        return (torch.addcmul(n, z, h - n),), {"reset": r, "update": z}

    def _recurrence(self, drives, state, probes):
        return gru_recurrence(drives, state, self.W_rec, self.b_rec, probes)

    def _biases(self, member):
        return member.b[0], member.b_rec[0]

    def _set_biases(self, bias_ih, bias_hh):
        # The reset gate multiplies the recurrent bias, so the two cannot be summed.
        self.b[0].copy_(bias_ih)
        self.b_rec[0].copy_(bias_hh)
