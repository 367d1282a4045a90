"""Long short-term memory with its gates and cell state on the gradient path."""

from __future__ import annotations

import torch
from torch import nn

from gradtrace.models.base import RecurrentModel
from gradtrace.models.bptt import lstm_recurrence

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
    torch_class = nn.LSTM
    _recurrence_methods = (*RecurrentModel._recurrence_methods, "_advance")

    def step(self, drive, state, W_rec_T):  # noqa: N803
        return self._advance(drive, state, W_rec_T)

    def _probed_step(self, drive, state, W_rec_T, probes):  # noqa: N803
        return self._advance(drive, state, W_rec_T, probes)

    def _recurrence(self, drives, state, probes):
        return lstm_recurrence(drives, state, self.W_rec, probes)

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
