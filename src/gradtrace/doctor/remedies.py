"""The remedies the doctor tries on copies of a user's model, and the code that applies each one.

A remedy changes the copy (its initialization, a module, an activation) or the training loop (clipping,
the learning rate), never the user's model. Each one also writes the lines a practitioner pastes into
their own code to apply it, with the qualified names of their model's modules.

References: clipping by norm and the regularizer Ω, Pascanu et al. 2013 (arXiv:1211.5063); forget-gate
bias 1, Gers et al. 2000 and Jozefowicz et al. 2015; orthogonal recurrent weights, Saxe et al. 2014;
identity initialization of ReLU RNNs, Le et al. 2015 (arXiv:1504.00941); the GRU, Cho et al. 2014;
He initialization, He et al. 2015; Glorot initialization, Glorot & Bengio 2010; batch normalization,
Ioffe & Szegedy 2015.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from gradtrace.doctor.twins import GATES, layout
from gradtrace.init import scale_to_spectral_radius_

__all__ = ["REMEDY_NAMES", "LSTMWithRNNInterface", "Remedy", "auto_remedies", "make_remedy"]

#: Multiples of the measured median gradient norm at which clipping by norm is tried...
CLIP_MULTIPLES = (0.1, 1.0)
#: ...and the fixed bounds practitioners use (the word language model example clips at 0.25, seq2seq
#: models at 1 to 5): when the gradient has already exploded at the start, its median is no guide.
CLIP_BOUNDS = (1.0, 5.0)
#: The learning rate is divided by this in the "lower learning rate" trial.
LR_DIVISOR = 10.0
#: α of Pascanu's Ω: the default of the authors' released code, which their experiments used.
OMEGA_WEIGHT = 2.0

_SATURATING = (nn.Sigmoid, nn.Tanh)
_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass
class Remedy:
    """One treatment: how it changes a copy of the model or its training loop, and its code.

    Attributes:
        name: a short stable key (``"clip-norm-0.1x"``, ``"forget-bias-1"``...).
        description: one line saying what it does.
        apply: changes a copy of the model in place (None for loop-only remedies).
        clip_norm: clip the global gradient norm at this value after each backward pass.
        lr_scale: multiply every learning rate by this.
        omega: α of Pascanu's Ω, added to the gradient of every ``nn.RNN`` (None: no Ω).
        code: the lines that apply it to the user's model, named ``model``.
    """

    name: str
    description: str
    apply: Callable[[nn.Module], None] | None = None
    clip_norm: float | None = None
    lr_scale: float = 1.0
    omega: float | None = None  # add α · ∂Ω/∂W_hh of Pascanu's regularizer to every nn.RNN's gradient
    code: list[str] = field(default_factory=list)


def _recurrent(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.RNNBase, nn.RNNCellBase))]


def _kind(module: nn.Module) -> str:
    if isinstance(module, nn.RNNBase):
        return layout(module).kind
    if isinstance(module, nn.LSTMCell):
        return "LSTM"
    if isinstance(module, nn.GRUCell):
        return "GRU"
    return "RNN_RELU" if module.nonlinearity == "relu" else "RNN_TANH"


def _hh(module: nn.Module) -> list[tuple[str, torch.Tensor]]:
    return [(n, p) for n, p in module.named_parameters() if n.startswith("weight_hh")]


def _gate_counts(model: nn.Module, names: list[str]) -> dict[str, int]:
    """The gate blocks stacked in each named module's W_hh, read from the module (a subclass keeps its gates)."""
    return {name: len(GATES[_kind(model.get_submodule(name))]) for name in names}


def _ref(name: str) -> str:
    """Python that reaches the module ``name`` from ``model``."""
    return f'model.get_submodule("{name}")' if name else "model"


def _clip(multiple: float | None, median: float, fixed: float | None = None) -> Remedy:
    if fixed is not None:
        bound, name, why = fixed, f"clip-norm-{fixed:g}", ""
    else:
        bound = float(f"{multiple * median:.3g}")
        name, why = f"clip-norm-{multiple:g}x", f" ({multiple:g}× the measured median norm)"
    return Remedy(name, f"clip the gradient's global norm at {bound:g}{why} before each step", clip_norm=bound,
                  code=["# after loss.backward(), before optimizer.step():",
                        f"torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm={bound:g})"])


def _lower_lr() -> Remedy:
    return Remedy("lower-lr", f"divide the learning rate by {LR_DIVISOR:g}", lr_scale=1 / LR_DIVISOR,
                  code=["for group in optimizer.param_groups:", f"    group['lr'] /= {LR_DIVISOR:g}"])


def _forget_bias(model: nn.Module) -> Remedy:
    names = [n for n, m in _recurrent(model) if _kind(m) == "LSTM"]

    def apply(copy: nn.Module) -> None:
        with torch.no_grad():
            for name in names:
                module = copy.get_submodule(name)
                hidden = module.hidden_size
                for pname, p in module.named_parameters():
                    if pname.startswith("bias_ih"):
                        p[hidden: 2 * hidden] = 1.0
                    elif pname.startswith("bias_hh"):
                        p[hidden: 2 * hidden] = 0.0

    code = ["with torch.no_grad():", f"    for name in {names!r}:", "        lstm = model.get_submodule(name)",
            "        H = lstm.hidden_size",
            "        # the gates are stacked i, f, g, o: rows H:2H are the forget gate",
            "        for pname, p in lstm.named_parameters():",
            "            if pname.startswith('bias_ih'):", "                p[H:2 * H] = 1.0",
            "            elif pname.startswith('bias_hh'):", "                p[H:2 * H] = 0.0"]
    return Remedy("forget-bias-1", "set the LSTM forget-gate bias to 1, so the cell keeps its memory at the start",
                  apply, code=code)


def _orthogonal(model: nn.Module) -> Remedy:
    names = [n for n, _ in _recurrent(model)]

    def apply(copy: nn.Module) -> None:
        with torch.no_grad():
            for name in names:
                module = copy.get_submodule(name)
                for _, p in _hh(module):
                    for block in p.chunk(len(GATES[_kind(module)]), 0):
                        nn.init.orthogonal_(block)

    code = ["with torch.no_grad():", f"    for name, gates in {_gate_counts(model, names)!r}.items():",
            "        for pname, p in model.get_submodule(name).named_parameters():",
            "            if pname.startswith('weight_hh'):",
            "                for block in p.chunk(gates, 0):  # one per gate",
            "                    torch.nn.init.orthogonal_(block)"]
    return Remedy("orthogonal-w-hh", "make each gate's block of W_hh orthogonal (every singular value 1)", apply,
                  code=code)


def _identity(model: nn.Module) -> Remedy:
    names = [n for n, m in _recurrent(model) if _kind(m) == "RNN_RELU"]

    def apply(copy: nn.Module) -> None:
        with torch.no_grad():
            for name in names:
                module = copy.get_submodule(name)
                for pname, p in module.named_parameters():
                    if pname.startswith("weight_hh"):
                        p.copy_(torch.eye(p.shape[0], dtype=p.dtype, device=p.device))
                    elif pname.startswith("bias"):
                        p.zero_()

    code = ["with torch.no_grad():  # the IRNN of Le et al. 2015", f"    for name in {names!r}:",
            "        for pname, p in model.get_submodule(name).named_parameters():",
            "            if pname.startswith('weight_hh'):", "                p.copy_(torch.eye(p.shape[0]))",
            "            elif pname.startswith('bias'):", "                p.zero_()"]
    return Remedy("identity-w-hh", "start the ReLU RNN's W_hh at the identity and its biases at 0 (IRNN)", apply,
                  code=code)


def _rescale(model: nn.Module, target: float) -> Remedy:
    names = [n for n, _ in _recurrent(model)]

    def apply(copy: nn.Module) -> None:
        with torch.no_grad():
            for name in names:
                module = copy.get_submodule(name)
                gates = len(GATES[_kind(module)])
                for _, p in _hh(module):
                    if p.shape[0] != gates * p.shape[1]:
                        continue  # a projected LSTM's W_hh blocks are (hidden, proj): not square
                    # the gate blocks as one (gates, H, H) view, rescaled in place, each to the target
                    scale_to_spectral_radius_(p.view(gates, p.shape[1], p.shape[1]), target)

    code = ["with torch.no_grad():", f"    for name, gates in {_gate_counts(model, names)!r}.items():",
            "        for pname, p in model.get_submodule(name).named_parameters():",
            "            # one square block per gate (a projected LSTM's are not square: skipped)",
            "            if pname.startswith('weight_hh') and p.shape[0] == gates * p.shape[1]:",
            "                for block in p.chunk(gates, 0):",
            "                    radius = torch.linalg.eigvals(block).abs().max()",
            "                    if radius > 0:",
            f"                        block.mul_({target:g} / radius)"]
    return Remedy(f"spectral-radius-{target:g}", f"rescale each gate's block of W_hh to spectral radius {target:g}",
                  apply, code=code)


class LSTMWithRNNInterface(nn.LSTM):
    """An ``nn.LSTM`` that takes and returns the hidden state as an ``nn.RNN`` does: a tensor h, not (h, c).

    Swapping an ``nn.RNN`` for an ``nn.LSTM`` changes what the module returns, and code that reads h_n
    then silently computes something else (a pair broadcast against a target). This subclass keeps the
    RNN's interface, starting c at zero and dropping c_n, so the swap changes the cell and nothing else.
    """

    def forward(self, input, hx=None):
        if hx is not None:
            hx = (hx, torch.zeros(*hx.shape[:-1], self.hidden_size, dtype=hx.dtype, device=hx.device))
        output, (h_n, _) = super().forward(input, hx)
        return output, h_n


_LSTM_CODE = ["class LSTMWithRNNInterface(torch.nn.LSTM):  # h in and out, as nn.RNN",
              "    def forward(self, input, hx=None):",
              "        if hx is not None:",
              "            c0 = hx.new_zeros(*hx.shape[:-1], self.hidden_size)",
              "            hx = (hx, c0)",
              "        output, (h_n, _) = super().forward(input, hx)",
              "        return output, h_n"]


def _swap(model: nn.Module, to: type) -> Remedy:
    if type(model) is nn.RNN:  # apply changes the copy in place: it cannot replace the copy itself
        raise ValueError(f"swap-to-{to.__name__.lower()} replaces an nn.RNN inside the model; it cannot replace "
                         "`model` itself, which is the nn.RNN. Wrap it in a module to swap it.")
    names = [n for n, m in _recurrent(model) if type(m) is nn.RNN]
    cell = LSTMWithRNNInterface if to is nn.LSTM else to

    def build(module: nn.RNN) -> nn.Module:
        swapped = cell(module.input_size, module.hidden_size, num_layers=module.num_layers, bias=module.bias,
                       batch_first=module.batch_first, dropout=module.dropout, bidirectional=module.bidirectional)
        return swapped.to(device=module.weight_ih_l0.device, dtype=module.weight_ih_l0.dtype)

    def apply(copy: nn.Module) -> None:
        for name in names:
            parent, _, child = name.rpartition(".")
            holder = copy.get_submodule(parent) if parent else copy
            setattr(holder, child, build(copy.get_submodule(name)))

    constructor = "LSTMWithRNNInterface" if to is nn.LSTM else f"torch.nn.{to.__name__}"
    code = list(_LSTM_CODE) if to is nn.LSTM else []
    for name in names:
        parent, _, child = name.rpartition(".")
        # setattr: a child of an nn.Sequential or nn.ModuleList is named "0", not an identifier;
        # .to(old.weight_ih_l0): the old module's dtype and device, as apply builds it
        code += [f"old = {_ref(name)}",
                 f"setattr({_ref(parent)}, {child!r}, {constructor}(",
                 "    old.input_size, old.hidden_size, num_layers=old.num_layers,",
                 "    bias=old.bias, batch_first=old.batch_first, dropout=old.dropout,",
                 "    bidirectional=old.bidirectional).to(old.weight_ih_l0))"]
    note = " (kept to the nn.RNN's interface: it takes and returns h alone)" if to is nn.LSTM else ""
    return Remedy(f"swap-to-{to.__name__.lower()}", f"replace the nn.RNN by an nn.{to.__name__} of the same size"
                  f"{note}", apply, code=code)


def _activations_to_relu(model: nn.Module) -> Remedy:
    def apply(copy: nn.Module) -> None:
        for name, module in list(copy.named_modules()):
            if isinstance(module, _SATURATING):
                parent, _, child = name.rpartition(".")
                setattr(copy.get_submodule(parent) if parent else copy, child, nn.ReLU())
        _he(copy)

    code = ["for name, module in list(model.named_modules()):",
            "    if isinstance(module, (torch.nn.Sigmoid, torch.nn.Tanh)):",
            "        parent, _, child = name.rpartition('.')",
            "        setattr(model.get_submodule(parent), child, torch.nn.ReLU())",
            *_HE_CODE]
    return Remedy("relu-and-he-init", "replace every nn.Sigmoid/nn.Tanh by nn.ReLU and re-initialize the weighted "
                  "layers with He's initialization", apply, code=code)


_LAYERS_CODE = "layers = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)"
_HE_CODE = [_LAYERS_CODE, "for module in model.modules():",
            "    if isinstance(module, layers):",
            "        torch.nn.init.kaiming_normal_(module.weight, nonlinearity='relu')",
            "        if module.bias is not None:",
            "            torch.nn.init.zeros_(module.bias)"]


_NORMS = {nn.Linear: ("BatchNorm1d", "out_features"), nn.Conv1d: ("BatchNorm1d", "out_channels"),
          nn.Conv2d: ("BatchNorm2d", "out_channels"), nn.Conv3d: ("BatchNorm3d", "out_channels")}


def _feeding_saturation(model: nn.Module) -> list[str]:
    """The weighted layers whose next module, in the order they are defined, is a sigmoid or tanh."""
    leaves = [(n, m) for n, m in model.named_modules() if not any(True for _ in m.children())]
    return [name for (name, module), (_, after) in zip(leaves, leaves[1:])
            if type(module) in _NORMS and isinstance(after, _SATURATING)]


def _batch_norm(model: nn.Module) -> Remedy:
    names = _feeding_saturation(model)

    def apply(copy: nn.Module) -> None:
        for name in names:
            layer = copy.get_submodule(name)
            norm, size = _NORMS[type(layer)]
            parent, _, child = name.rpartition(".")
            normed = nn.Sequential(layer, getattr(nn, norm)(getattr(layer, size)))
            setattr(copy.get_submodule(parent) if parent else copy, child,
                    normed.to(device=layer.weight.device, dtype=layer.weight.dtype))

    code = [f"for name in {names!r}:  # each feeds a sigmoid or tanh",
            "    layer = model.get_submodule(name)",
            "    parent, _, child = name.rpartition('.')",
            "    conv = isinstance(layer, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d))",
            "    size = layer.out_channels if conv else layer.out_features",
            "    dims = layer.weight.dim() - 2 if conv else 1",
            "    norm = getattr(torch.nn, f'BatchNorm{max(dims, 1)}d')(size)",
            "    normed = torch.nn.Sequential(layer, norm).to(layer.weight)",
            "    setattr(model.get_submodule(parent), child, normed)"]
    return Remedy("batch-norm", "put batch normalization after every layer that feeds a sigmoid or tanh, so its "
                  "inputs stay where the derivative is large (Ioffe & Szegedy 2015)", apply, code=code)


def _he(copy: nn.Module) -> None:
    with torch.no_grad():
        for module in copy.modules():
            if isinstance(module, _WEIGHTED):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)


def _he_init(model: nn.Module) -> Remedy:
    return Remedy("he-init", "re-initialize the weighted layers with He's initialization (variance 2 / fan_in)",
                  _he, code=list(_HE_CODE))


def _glorot_init(model: nn.Module) -> Remedy:
    def apply(copy: nn.Module) -> None:
        with torch.no_grad():
            for module in copy.modules():
                if isinstance(module, _WEIGHTED):
                    nn.init.xavier_uniform_(module.weight)
                    if module.bias is not None:
                        nn.init.zeros_(module.bias)

    code = [_LAYERS_CODE, "for module in model.modules():", "    if isinstance(module, layers):",
            "        torch.nn.init.xavier_uniform_(module.weight)",
            "        if module.bias is not None:", "            torch.nn.init.zeros_(module.bias)"]
    return Remedy("glorot-init", "re-initialize the weighted layers with Glorot's initialization "
                  "(variance 2 / (fan_in + fan_out))", apply, code=code)


def _leaky(model: nn.Module) -> Remedy:
    def apply(copy: nn.Module) -> None:
        for name, module in list(copy.named_modules()):
            if isinstance(module, nn.ReLU):
                parent, _, child = name.rpartition(".")
                setattr(copy.get_submodule(parent) if parent else copy, child, nn.LeakyReLU(0.01))

    code = ["for name, module in list(model.named_modules()):", "    if isinstance(module, torch.nn.ReLU):",
            "        parent, _, child = name.rpartition('.')",
            "        setattr(model.get_submodule(parent), child, torch.nn.LeakyReLU(0.01))"]
    return Remedy("leaky-relu", "replace every nn.ReLU by nn.LeakyReLU(0.01), whose units never stop passing "
                  "a gradient", apply, code=code)


def _omega(model: nn.Module, median_norm: float) -> Remedy:
    # Pascanu et al. use Ω together with clipping (their SGD-CR): Ω pushes W_hh to keep the gradient's norm,
    # and alone it lets the gradient explode; the clip here is at the measured median norm.
    bound = float(f"{median_norm:.3g}")
    code = ["from gradtrace.doctor import PascanuOmega",
            f"omega = PascanuOmega(model, weight={OMEGA_WEIGHT:g})  # once, before training",
            "# in each training step:", "with omega.recording():  # the nn.RNN runs unrolled, showing dL/dh_t",
            "    loss = loss_fn(model, batch)", "optimizer.zero_grad()", "loss.backward()",
            "omega.add_to_grads()  # adds alpha * dOmega/dW_hh",
            f"torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm={bound:g})", "optimizer.step()"]
    return Remedy("pascanu-omega", f"add Pascanu's regularizer Ω (α = {OMEGA_WEIGHT:g}), which rewards a W_hh "
                  f"whose steps back keep the gradient's norm, with clipping at {bound:g} (the measured median "
                  "norm) as Pascanu et al. pair them", omega=OMEGA_WEIGHT, clip_norm=bound, code=code)


#: Every remedy the doctor can try, by name (``clip-norm`` tries every one of CLIP_MULTIPLES and CLIP_BOUNDS).
REMEDY_NAMES = ("clip-norm", "lower-lr", "forget-bias-1", "orthogonal-w-hh", "identity-w-hh", "spectral-radius-0.9",
                "spectral-radius-1", "swap-to-gru", "swap-to-lstm", "pascanu-omega", "relu-and-he-init", "batch-norm",
                "he-init", "glorot-init", "leaky-relu")


def make_remedy(name: str, model: nn.Module, median_norm: float) -> list[Remedy]:
    """Build the remedies called ``name`` for ``model`` (``clip-norm`` gives one per multiple and bound)."""
    if name == "clip-norm":
        return [_clip(m, median_norm) for m in CLIP_MULTIPLES] + [_clip(None, median_norm, b) for b in CLIP_BOUNDS]
    builders = {
        "lower-lr": lambda: _lower_lr(),
        "forget-bias-1": lambda: _forget_bias(model),
        "orthogonal-w-hh": lambda: _orthogonal(model),
        "identity-w-hh": lambda: _identity(model),
        "spectral-radius-0.9": lambda: _rescale(model, 0.9),
        "spectral-radius-1": lambda: _rescale(model, 1.0),
        "swap-to-gru": lambda: _swap(model, nn.GRU),
        "swap-to-lstm": lambda: _swap(model, nn.LSTM),
        "pascanu-omega": lambda: _omega(model, median_norm),
        "relu-and-he-init": lambda: _activations_to_relu(model),
        "batch-norm": lambda: _batch_norm(model),
        "he-init": lambda: _he_init(model),
        "glorot-init": lambda: _glorot_init(model),
        "leaky-relu": lambda: _leaky(model),
    }
    if name not in builders:
        raise ValueError(f"Unknown remedy {name!r} in `remedies`. Available: {', '.join(map(repr, REMEDY_NAMES))}.")
    return [builders[name]()]


def auto_remedies(model: nn.Module, kinds_time: set[str], kinds_depth: set[str]) -> list[str]:
    """Choose the remedies relevant to what the diagnosis found.

    Args:
        model: the user's model (what it contains decides which remedies apply).
        kinds_time: the verdict kinds found on recurrent layers.
        kinds_depth: the verdict kinds found through depth or on the loss.
    """
    recurrent = [m for _, m in _recurrent(model)]
    kinds = {_kind(m) for m in recurrent}
    plain_rnn = any(type(m) is nn.RNN for m in recurrent)
    swappable = plain_rnn and type(model) is not nn.RNN  # a swap replaces a submodule, never the model
    names: list[str] = []

    def add(*more: str) -> None:
        names.extend(n for n in more if n not in names)

    if "non-finite" in kinds_time | kinds_depth:
        add("clip-norm", "lower-lr")
    if "exploding" in kinds_time:
        add("clip-norm", "spectral-radius-0.9", "orthogonal-w-hh", "lower-lr")
        if "RNN_RELU" in kinds:
            add("identity-w-hh")
        if swappable:
            add("swap-to-gru", "swap-to-lstm")
    if "vanishing" in kinds_time:
        if "LSTM" in kinds:
            add("forget-bias-1")
        add("orthogonal-w-hh")
        if "RNN_RELU" in kinds:
            add("identity-w-hh")
        if kinds & {"RNN_TANH", "RNN_RELU", "GRU"}:
            add("spectral-radius-1")
        if plain_rnn:
            add("pascanu-omega")
        if swappable:
            add("swap-to-gru", "swap-to-lstm")
    saturating = any(isinstance(m, _SATURATING) for m in model.modules())
    rectified = any(isinstance(m, nn.ReLU) for m in model.modules())
    if "vanishing" in kinds_depth:
        if saturating:
            add("relu-and-he-init", "glorot-init")
            if _feeding_saturation(model):
                add("batch-norm")
        else:
            add("he-init")
    if "exploding" in kinds_depth:
        add("clip-norm", "he-init" if rectified else "glorot-init", "lower-lr")
    if "dead units" in kinds_depth:
        add("leaky-relu", "he-init", "lower-lr")
    return names
