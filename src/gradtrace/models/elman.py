"""The Elman (vanilla) recurrent network of the seeds: W_in, W_rec, W_out."""

from __future__ import annotations

import torch
from torch import nn

from gradtrace.activations import ACTIVATIONS, get_activation
from gradtrace.errors import describe
from gradtrace.models.base import RecurrentModel
from gradtrace.models.bptt import FAST_ELMAN_ACTIVATIONS, elman_recurrence

__all__ = ["ElmanRNN"]


class ElmanRNN(RecurrentModel):
    """A vanilla RNN: h_t = φ(W_in x_t + W_rec h_{t−1} + b), ŷ_t = W_out h_t + b_out.

    Back-propagated through time, the error at step T reaches step T−k multiplied by k Jacobians
    diag(φ′(a_t)) W_rec: a W_rec whose spectral radius is below 1 makes it vanish geometrically,
    one well above 1 can make it explode.

    Args:
        input_size, hidden_size, output_size, num_models, readout, seed, dtype, use_fast_bptt: see
            :class:`~gradtrace.models.base.RecurrentModel`.
        activation: any non-learnable name in :data:`~gradtrace.activations.ACTIVATIONS` ("tanh",
            "sigmoid", "relu", "linear", "leaky_relu", "gelu", "step"). PReLU's slope is learned per
            layer of an :class:`~gradtrace.models.MLP`, so it is not offered here.

    Example:
        >>> model = ElmanRNN(2, 8, 1, num_models=3, seed=0)
        >>> model(torch.zeros(4, 10, 2)).states.shape
        torch.Size([3, 4, 10, 8])

    References:
        Elman 1990, "Finding structure in time"; Bengio, Simard & Frasconi 1994, "Learning
        long-term dependencies with gradient descent is difficult".
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int, *,
                 activation: str = "tanh", **options):
        chosen = get_activation(activation)
        if chosen.learnable:
            usable = ", ".join(repr(n) for n, a in ACTIVATIONS.items() if not a.learnable)
            raise ValueError(f"ElmanRNN takes no learnable activation; got {activation!r} for `activation`. "
                             f"Available: {usable}.")
        self.activation = chosen.name
        super().__init__(input_size, hidden_size, output_size, **options)
        self._phi = get_activation(activation).fn

    def step(self, drive, state, W_rec_T):  # noqa: N803
        (h,) = state
        return (self._phi(torch.baddbmm(drive, h, W_rec_T)),), {}

    def _recurrence(self, drives, state, probes):
        return elman_recurrence(drives, state, self.W_rec, probes, activation=self.activation)

    def _fast_bptt_unsupported(self):
        if self.activation not in FAST_ELMAN_ACTIVATIONS:
            return f"activation {self.activation!r} has no hand-written derivative"
        return super()._fast_bptt_unsupported()

    def extra_repr(self) -> str:
        return super().extra_repr() + f", activation={self.activation!r}"

    torch_class = nn.RNN

    @classmethod
    def _options_from_torch(cls, module):
        return {"activation": module.nonlinearity}

    def _torch_options(self):
        if self.activation not in ("tanh", "relu"):
            raise ValueError(
                f"torch.nn.RNN supports nonlinearity 'tanh' or 'relu'; this model uses "
                f"{describe(self.activation)}."
            )
        return {"nonlinearity": self.activation}
