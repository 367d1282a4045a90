"""Gated recurrent unit, equal to torch.nn.GRU with the same weights."""

from __future__ import annotations

import torch
from torch import nn

from gradtrace.models.base import RecurrentModel
from gradtrace.models.conversion import check_torch_rnn, output_head

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

    @classmethod
    def from_torch(cls, module: nn.GRU, head: nn.Linear | None = None, **options) -> GRU:
        """Build a GRU equal to a one-layer ``torch.nn.GRU`` (and its output ``head``)."""
        check_torch_rnn(module, nn.GRU)
        W_out, b_out = output_head(head, module.hidden_size)  # noqa: N806
        model = cls(module.input_size, module.hidden_size, W_out.shape[0], seed=0,
                    dtype=module.weight_hh_l0.dtype, **options)
        with torch.no_grad():
            model.W_in[0].copy_(module.weight_ih_l0)
            model.W_rec[0].copy_(module.weight_hh_l0)
            if module.bias:
                model.b[0].copy_(module.bias_ih_l0)
                model.b_rec[0].copy_(module.bias_hh_l0)
            else:
                model.b.zero_()
                model.b_rec.zero_()
            model.W_out[0].copy_(W_out)
            model.b_out[0].copy_(b_out)
        return model

    def to_torch(self, member: int = 0) -> tuple[nn.GRU, nn.Linear]:
        """Return member ``member`` as a ``torch.nn.GRU`` (batch_first) and its output layer."""
        weights = self.member(member)
        gru = nn.GRU(self.input_size, self.hidden_size, batch_first=True, dtype=self.W_rec.dtype)
        head = nn.Linear(self.hidden_size, self.output_size, dtype=self.W_rec.dtype)
        with torch.no_grad():
            gru.weight_ih_l0.copy_(weights.W_in[0])
            gru.weight_hh_l0.copy_(weights.W_rec[0])
            gru.bias_ih_l0.copy_(weights.b[0])
            gru.bias_hh_l0.copy_(weights.b_rec[0])
            head.weight.copy_(weights.W_out[0])
            head.bias.copy_(weights.b_out[0])
        return gru, head
