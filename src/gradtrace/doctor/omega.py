"""Pascanu's regularizer Ω for the ``nn.RNN`` modules of a user's model.

Ω needs ∂L/∂h_t and the pre-activation a_t at every step, which the fused ``nn.RNN`` never shows; the
unrolled twin does. :class:`PascanuOmega` runs the model's ``nn.RNN`` modules as twins while the loss is
computed, and after ``loss.backward()`` adds α · ∂Ω/∂W_hh to each ``weight_hh`` gradient — the same
regularizer as :func:`gradtrace.remedies.pascanu_penalty` (Pascanu et al. 2013, arXiv:1211.5063).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from gradtrace.doctor.recorders import TwinRecorder
from gradtrace.doctor.twins import layout, twin_forward
from gradtrace.errors import check_real
from gradtrace.remedies.penalties import pascanu_omega

__all__ = ["PascanuOmega"]


class PascanuOmega:
    """Add Pascanu's Ω to the gradient of every ``nn.RNN`` in a model.

    Example:
        >>> model = torch.nn.RNN(2, 8, batch_first=True)
        >>> omega = PascanuOmega(model, weight=2.0)
        >>> with omega.recording():
        ...     loss = model(torch.randn(4, 10, 2))[0][:, -1].pow(2).sum()
        >>> loss.backward()
        >>> value = omega.add_to_grads()  # α · ∂Ω/∂W_hh is now in weight_hh_l0.grad
        >>> value >= 0
        True

    Raises:
        TypeError: when the model holds no ``nn.RNN`` (Ω is defined for h_t = φ(W_ih x_t + W_hh h_(t−1) + b);
            gated cells have no single recurrent Jacobian).
    """

    def __init__(self, model: nn.Module, weight: float = 2.0):
        self.weight = check_real("weight", weight, minimum=0.0)
        self.modules = {name: m for name, m in model.named_modules() if type(m) is nn.RNN}
        if not self.modules:
            raise TypeError(f"Pascanu's Ω applies to torch.nn.RNN modules; {type(model).__name__} holds none.")
        self.recorders = {name: TwinRecorder(name, m, layout(m), keep_pre_activations=True)
                          for name, m in self.modules.items()}

    @contextlib.contextmanager
    def recording(self) -> Iterator[None]:
        """Run the model's ``nn.RNN`` modules as twins inside the block (compute the loss there)."""
        installed = []  # (module, the user's own instance forward or None)
        try:
            for name, module in self.modules.items():
                recorder = self.recorders[name]
                recorder.reset()
                installed.append((module, module.__dict__.get("forward")))
                module.forward = _forward(module, recorder)
            yield
        finally:
            for module, own in installed:
                if own is None:
                    del module.forward
                else:
                    module.forward = own

    def add_to_grads(self) -> float:
        """After ``loss.backward()``, add α · ∂Ω/∂W_hh to each ``weight_hh`` gradient; return Ω (summed)."""
        total = 0.0
        for name, module in self.modules.items():
            activation = "relu" if module.nonlinearity == "relu" else "tanh"
            for record in self.recorders[name].records:
                for (layer, direction), states in record.h.items():
                    omega, grad = self._layer(record, layer, direction, states, module, activation)
                    total += omega
                    if grad is not None:
                        weight = getattr(module, f"weight_hh_l{layer}" + ("_reverse" if direction else ""))
                        scaled = self.weight * grad.to(weight.dtype)
                        weight.grad = scaled if weight.grad is None else weight.grad + scaled
        return total

    def _layer(self, record, layer, direction, states, module, activation):
        steps = sorted(states)
        if direction:
            steps = steps[::-1]  # the reverse direction's step back is t + 1
        rows = max(states[t][0].shape[0] for t in steps)
        hidden = module.hidden_size
        weight = getattr(module, f"weight_hh_l{layer}" + ("_reverse" if direction else ""))
        pre = torch.zeros(1, rows, len(steps), hidden, dtype=torch.float64, device=weight.device)
        grads = torch.zeros_like(pre)
        for i, t in enumerate(steps):
            probe = states[t][1]
            a = record.pre_activations[(layer, direction)][t]
            pre[0, : a.shape[0], i] = a.double()
            if probe.grad is not None:
                grads[0, : probe.shape[0], i] = probe.grad.double()
        omega, grad = pascanu_omega(weight.detach().double()[None], pre, grads, activation=activation)
        return float(omega[0]), grad[0]


def _forward(module: nn.RNN, recorder: TwinRecorder):
    def forward(input, hx=None):
        recorder.start()
        return twin_forward(module, input, hx, observer=recorder)

    return forward
