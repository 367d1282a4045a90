"""The Elman (vanilla) recurrent network of the seeds: W_in, W_rec, W_out."""

from __future__ import annotations

import torch
from torch import nn

from gradtrace.activations import get_activation
from gradtrace.errors import describe
from gradtrace.models.base import RecurrentModel
from gradtrace.models.conversion import check_torch_rnn, output_head

__all__ = ["ElmanRNN"]


class ElmanRNN(RecurrentModel):
    """A vanilla RNN: h_t = φ(W_in x_t + W_rec h_{t−1} + b), ŷ_t = W_out h_t + b_out.

    Back-propagated through time, the error at step T reaches step T−k multiplied by k Jacobians
    diag(φ′(a_t)) W_rec: a W_rec whose spectral radius is below 1 makes it vanish geometrically,
    one well above 1 can make it explode.

    Args:
        input_size, hidden_size, output_size, num_models, readout, seed, dtype: see
            :class:`~gradtrace.models.base.RecurrentModel`.
        activation: "tanh", "sigmoid", "relu" or "linear".

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
        self.activation = get_activation(activation).name
        super().__init__(input_size, hidden_size, output_size, **options)
        self._phi = get_activation(activation).fn

    def step(self, drive, state, W_rec_T):  # noqa: N803
        (h,) = state
        return (self._phi(torch.baddbmm(drive, h, W_rec_T)),), {}

    def extra_repr(self) -> str:
        return super().extra_repr() + f", activation={self.activation!r}"

    @classmethod
    def from_torch(cls, module: nn.RNN, head: nn.Linear | None = None, **options) -> ElmanRNN:
        """Build an ElmanRNN equal to ``module`` (and its output layer ``head``, if any).

        Args:
            module: a one-layer, unidirectional ``torch.nn.RNN``.
            head: the ``nn.Linear`` applied to its outputs; without one, W_out is the identity and
                the outputs are the hidden states.
            options: passed to the constructor (``readout``...).
        """
        check_torch_rnn(module, nn.RNN)
        activation = module.nonlinearity
        W_out, b_out = output_head(head, module.hidden_size)  # noqa: N806
        model = cls(module.input_size, module.hidden_size, W_out.shape[0], activation=activation,
                    seed=0, dtype=module.weight_hh_l0.dtype, **options)
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

    def to_torch(self, member: int = 0) -> tuple[nn.RNN, nn.Linear]:
        """Return member ``member`` as a ``torch.nn.RNN`` (batch_first) and its output ``nn.Linear``."""
        if self.activation not in ("tanh", "relu"):
            raise ValueError(
                f"torch.nn.RNN supports nonlinearity 'tanh' or 'relu'; this model uses "
                f"{describe(self.activation)}."
            )
        weights = self.member(member)
        rnn = nn.RNN(self.input_size, self.hidden_size, nonlinearity=self.activation, batch_first=True,
                     dtype=self.W_rec.dtype)
        head = nn.Linear(self.hidden_size, self.output_size, dtype=self.W_rec.dtype)
        with torch.no_grad():
            rnn.weight_ih_l0.copy_(weights.W_in[0])
            rnn.weight_hh_l0.copy_(weights.W_rec[0])
            rnn.bias_ih_l0.copy_(weights.b[0])
            rnn.bias_hh_l0.zero_()
            head.weight.copy_(weights.W_out[0])
            head.bias.copy_(weights.b_out[0])
        return rnn, head
