"""Long short-term memory with its gates and cell state on the gradient path."""

from __future__ import annotations

import torch
from torch import nn

from gradtrace.models.base import RecurrentModel
from gradtrace.models.conversion import check_torch_rnn, output_head

__all__ = ["LSTM"]


class LSTM(RecurrentModel):
    """An LSTM ensemble equal to ``torch.nn.LSTM`` (gate order i, f, g, o) with the same weights.

    i, f, o = σ(·), g = tanh(·) of W_in x_t + W_rec h_{t−1} + b, split in four;
    c_t = f ⊙ c_{t−1} + i ⊙ g;  h_t = o ⊙ tanh(c_t).

    The cell state's own path multiplies the gradient by f only, so an open forget gate carries it
    back over long lags (the constant error carousel). ``W_in`` is (K, 4H, input_size), ``W_rec``
    (K, 4H, H), ``b`` (K, 4H); gates "input", "forget", "output" are kept with ``keep_gates=True``.

    Example:
        >>> LSTM(3, 5, 2, num_models=2, seed=0)(torch.zeros(1, 4, 3)).cells.shape
        torch.Size([2, 1, 4, 5])

    References:
        Hochreiter & Schmidhuber 1997, "Long short-term memory"; Gers, Schmidhuber & Cummins 2000
        (the forget gate).
    """

    num_gates = 4
    state_names = ("h", "c")
    gate_names = ("input", "forget", "output")

    def step(self, drive, state, W_rec_T):  # noqa: N803
        return self._advance(drive, state, W_rec_T)

    def _probed_step(self, drive, state, W_rec_T, probes):  # noqa: N803
        return self._advance(drive, state, W_rec_T, probes)

    def _advance(self, drive, state, W_rec_T, probes=None):  # noqa: N803
        h, c = state
        i, f, g, o = torch.baddbmm(drive, h, W_rec_T).chunk(4, dim=-1)
        i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
        if probes is None:
            c = torch.addcmul(f * c, i, torch.tanh(g))
            return (o * torch.tanh(c), c), {"input": i, "forget": f, "output": o}
        probe_h, probe_c = probes
        # Each probe rides in the op that makes its state, and the cell probe goes in before h_t
        # reads c_t, so ∂L/∂c_t is the total derivative (through h_t of this step and c_{t+1}).
        c = torch.addcmul(torch.addcmul(probe_c, f, c), i, torch.tanh(g))
        h = torch.addcmul(probe_h, o, torch.tanh(c))
        return (h, c), {"input": i, "forget": f, "output": o}

    @classmethod
    def from_torch(cls, module: nn.LSTM, head: nn.Linear | None = None, **options) -> LSTM:
        """Build an LSTM equal to a one-layer ``torch.nn.LSTM`` (and its output ``head``)."""
        check_torch_rnn(module, nn.LSTM)
        W_out, b_out = output_head(head, module.hidden_size)  # noqa: N806
        model = cls(module.input_size, module.hidden_size, W_out.shape[0], seed=0,
                    dtype=module.weight_hh_l0.dtype, **options)
        with torch.no_grad():
            model.W_in[0].copy_(module.weight_ih_l0)
            model.W_rec[0].copy_(module.weight_hh_l0)
            if module.bias:
                model.b[0].copy_(module.bias_ih_l0 + module.bias_hh_l0)
            else:
                model.b.zero_()
            model.W_out[0].copy_(W_out)
            model.b_out[0].copy_(b_out)
        return model

    def to_torch(self, member: int = 0) -> tuple[nn.LSTM, nn.Linear]:
        """Return member ``member`` as a ``torch.nn.LSTM`` (batch_first) and its output layer."""
        weights = self.member(member)
        lstm = nn.LSTM(self.input_size, self.hidden_size, batch_first=True, dtype=self.W_rec.dtype)
        head = nn.Linear(self.hidden_size, self.output_size, dtype=self.W_rec.dtype)
        with torch.no_grad():
            lstm.weight_ih_l0.copy_(weights.W_in[0])
            lstm.weight_hh_l0.copy_(weights.W_rec[0])
            lstm.bias_ih_l0.copy_(weights.b[0])
            lstm.bias_hh_l0.zero_()
            head.weight.copy_(weights.W_out[0])
            head.bias.copy_(weights.b_out[0])
        return lstm, head
