"""Every remedy's pasted ``code`` does to a user's ``model`` what its trial did to the copy.

For each remedy that changes the model, one deep copy gets ``remedy.apply`` and another gets
``exec(remedy.code)``, both under the same seed: the two must hold the same module types at every
qualified name, the same dtypes and the same state_dict, and compute the same outputs. The remedy must
also do what it says (orthogonal gate blocks, He/Glorot variances, zero biases, forget bias 1...), and the
loop remedies' code (clipping, a lower learning rate, Pascanu's Ω) must act as the training loop of
``treat`` does.
"""

import copy
import math

import pytest
import torch
from torch import nn

from gradtrace.doctor.examples import exploding_rnn
from gradtrace.doctor.remedies import CLIP_BOUNDS, CLIP_MULTIPLES, LR_DIVISOR, REMEDY_NAMES, auto_remedies, make_remedy
from gradtrace.doctor.treat import _train

LOOP_ONLY = ("clip-norm", "lower-lr", "pascanu-omega")
STRUCTURAL = tuple(n for n in REMEDY_NAMES if n not in LOOP_ONLY)
GATES = {nn.LSTM: 4, nn.LSTMCell: 4, nn.GRU: 3, nn.GRUCell: 3, nn.RNN: 1, nn.RNNCell: 1}


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(3, 4, nonlinearity="relu", num_layers=2, bidirectional=True, batch_first=True)
        self.tanh_rnn = nn.RNN(3, 4)
        self.lstm = nn.LSTM(3, 4, num_layers=2)
        self.gru = nn.GRU(3, 4)
        self.cell = nn.LSTMCell(3, 4)
        self.gru_cell = nn.GRUCell(3, 4)
        self.rnn_cell = nn.RNNCell(3, 4, nonlinearity="relu")


class MyLSTM(nn.LSTM):
    """A user's subclass: still an LSTM with four gate blocks."""


class Everything(nn.Module):
    """Every kind of module a remedy acts on, at qualified names (``encoder.rnn``, ``stack.0``...)."""

    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.stack = nn.ModuleList([nn.RNN(3, 4), MyLSTM(3, 4)])  # names that are not identifiers
        self.head = nn.Sequential(nn.Linear(8, 6), nn.Tanh(), nn.Linear(6, 6), nn.Sigmoid(),
                                  nn.Sequential(nn.Linear(6, 6), nn.ReLU()), nn.Linear(6, 1))

    def forward(self, x):  # x: (B, T, 3)
        e = self.encoder
        time_major = x.transpose(0, 1)
        out, _ = e.rnn(x)
        t, _ = e.tanh_rnn(time_major)
        lstm, _ = e.lstm(time_major)
        gru, _ = e.gru(time_major)
        s0, _ = self.stack[0](time_major)
        s1, _ = self.stack[1](time_major)
        h, _ = e.cell(x[:, 0])
        cells = h + e.gru_cell(x[:, 1]) + e.rnn_cell(x[:, 2])
        features = out[:, -1] + torch.cat([t[-1] + lstm[-1] + s0[-1], gru[-1] + cells + s1[-1]], -1)
        return self.head(features).squeeze(-1)


def _everything(dtype=torch.float32) -> Everything:
    torch.manual_seed(0)
    return Everything().to(dtype)


def _loss(model, batch):
    x, y = batch
    return ((model(x) - y) ** 2).mean()


def _batch(dtype=torch.float32):
    g = torch.Generator().manual_seed(1)
    return torch.randn(5, 6, 3, generator=g).to(dtype), torch.randn(5, generator=g).to(dtype)


def _applied(remedy, model, seed=11):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        twin = copy.deepcopy(model)
        remedy.apply(twin)
    return twin


def _pasted(remedy, model, seed=11, **names):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        twin = copy.deepcopy(model)
        exec("\n".join(remedy.code), {"torch": torch, "model": twin, **names})
    return twin


def _lineage(module: nn.Module) -> list[str]:
    """The class names up to torch's own class (the pasted code defines its own LSTMWithRNNInterface)."""
    return [c.__name__ for c in type(module).__mro__ if c.__module__.startswith("torch") or c is type(module)]


def _blocks(module: nn.Module):
    """Every gate block of every weight_hh of a recurrent module."""
    gates = next(g for cls, g in GATES.items() if isinstance(module, cls))
    for name, p in module.named_parameters():
        if name.startswith("weight_hh"):
            yield from p.detach().double().chunk(gates, 0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", STRUCTURAL)
def test_pasted_code_builds_the_model_the_trial_trained(name, dtype):
    model = _everything(dtype)
    (remedy,) = make_remedy(name, model, 1.0)
    applied, pasted = _applied(remedy, model), _pasted(remedy, model)
    modules_a, modules_b = dict(applied.named_modules()), dict(pasted.named_modules())
    assert modules_a.keys() == modules_b.keys()
    for qualified, module in modules_a.items():
        assert _lineage(module) == _lineage(modules_b[qualified]), qualified
    state_a, state_b = applied.state_dict(), pasted.state_dict()
    assert state_a.keys() == state_b.keys()
    for key, value in state_a.items():
        # batch norm's step counter is an integer whatever the model's dtype
        assert state_b[key].dtype == value.dtype == (torch.int64 if key.endswith("num_batches_tracked") else dtype), key
        if name.startswith("spectral-radius"):  # the code's eigvals run in the weight's dtype, apply's in float64
            torch.testing.assert_close(state_b[key], value, rtol=1e-5, atol=1e-6)
        else:  # the same random draws in the same order: the user gets the very weights the trial started from
            assert torch.equal(state_b[key], value), key
    batch = _batch(dtype)
    torch.testing.assert_close(pasted(batch[0]), applied(batch[0]), rtol=1e-5, atol=1e-6)
    assert state_a.keys() != model.state_dict().keys() or any(
        not torch.equal(v, model.state_dict()[k]) for k, v in state_a.items()) or [
        type(m) for m in applied.modules()] != [type(m) for m in model.modules()], "the remedy changed nothing"


def test_the_user_model_is_left_alone_by_make_remedy_and_apply():
    model = _everything()
    before = copy.deepcopy(model.state_dict())
    for name in REMEDY_NAMES:
        for remedy in make_remedy(name, model, 1.0):
            if remedy.apply is not None:
                _applied(remedy, model)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert type(model.encoder.rnn) is nn.RNN and isinstance(model.head[1], nn.Tanh)


def _check_orthogonal(model):
    for module in model.modules():
        if isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
            for block in _blocks(module):
                torch.testing.assert_close(block @ block.T, torch.eye(block.shape[0], dtype=torch.float64),
                                           atol=1e-5, rtol=0)


def test_orthogonal_makes_every_gate_block_orthogonal_also_of_a_subclass():
    model = _everything()
    (remedy,) = make_remedy("orthogonal-w-hh", model, 1.0)
    for treated in (_applied(remedy, model), _pasted(remedy, model)):
        _check_orthogonal(treated)
        # nothing but weight_hh moved
        for key, value in treated.state_dict().items():
            if "weight_hh" not in key:
                assert torch.equal(value, model.state_dict()[key])


@pytest.mark.parametrize("target", [0.9, 1.0])
def test_spectral_radius_of_every_gate_block(target):
    model = _everything()
    (remedy,) = make_remedy(f"spectral-radius-{target:g}", model, 1.0)
    for treated in (_applied(remedy, model), _pasted(remedy, model)):
        for module in treated.modules():
            if isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
                for block in _blocks(module):
                    assert float(torch.linalg.eigvals(block).abs().max()) == pytest.approx(target, rel=1e-5)


def test_spectral_radius_skips_a_projected_lstm_whose_blocks_are_not_square():
    """W_hh is (4H, proj) = (16, 2): 16 % 2 == 0 passed the old test for square blocks, yet each gate's block
    is (4, 2) and has no eigenvalues; it is left alone (before, apply raised and the pasted code too)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.LSTM(3, 4, proj_size=2), nn.Linear(2, 1))
    (remedy,) = make_remedy("spectral-radius-0.9", model, 1.0)
    for treated in (_applied(remedy, model), _pasted(remedy, model)):
        assert torch.equal(treated[0].weight_hh_l0, model[0].weight_hh_l0)


def test_identity_and_forget_bias_set_exactly_what_they_say():
    model = _everything()
    (identity,) = make_remedy("identity-w-hh", model, 1.0)
    (forget,) = make_remedy("forget-bias-1", model, 1.0)
    for treated in (_applied(identity, model), _pasted(identity, model)):
        for name in ("encoder.rnn", "encoder.rnn_cell"):  # the ReLU ones
            for pname, p in treated.get_submodule(name).named_parameters():
                if pname.startswith("weight_hh"):
                    assert torch.equal(p, torch.eye(4))
                elif pname.startswith("bias"):
                    assert not p.any()
        assert torch.equal(treated.encoder.tanh_rnn.weight_hh_l0, model.encoder.tanh_rnn.weight_hh_l0)
    for treated in (_applied(forget, model), _pasted(forget, model)):
        for name in ("encoder.lstm", "encoder.cell", "stack.1"):
            for pname, p in treated.get_submodule(name).named_parameters():
                original = model.get_submodule(name).get_parameter(pname)
                if pname.startswith("bias_"):
                    expected = original.detach().clone()
                    expected[4:8] = 1.0 if pname.startswith("bias_ih") else 0.0
                    assert torch.equal(p, expected), (name, pname)
                else:
                    assert torch.equal(p, original)
        assert torch.equal(treated.encoder.gru.bias_ih_l0, model.encoder.gru.bias_ih_l0)


@pytest.mark.parametrize("to", ["gru", "lstm"])
def test_swap_replaces_every_plain_rnn_with_the_same_sizes_and_interface(to):
    model = _everything(torch.float64)
    (remedy,) = make_remedy(f"swap-to-{to}", model, 1.0)
    for treated in (_applied(remedy, model), _pasted(remedy, model)):
        for name in ("encoder.rnn", "encoder.tanh_rnn", "stack.0"):
            old, new = model.get_submodule(name), treated.get_submodule(name)
            assert isinstance(new, nn.GRU if to == "gru" else nn.LSTM)
            for attribute in ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "bidirectional"):
                assert getattr(new, attribute) == getattr(old, attribute)
        assert type(treated.stack[1]) is MyLSTM and type(treated.encoder.cell) is nn.LSTMCell
        output = treated(_batch(torch.float64)[0])
        assert output.shape == (5,) and output.dtype == torch.float64
    # the interface of nn.RNN, also with an initial state
    lstm = _applied(remedy, model).encoder.tanh_rnn
    out, h_n = lstm(torch.randn(6, 2, 3, dtype=torch.float64), torch.zeros(1, 2, 4, dtype=torch.float64))
    assert isinstance(h_n, torch.Tensor) and h_n.shape == (1, 2, 4)


def test_swap_cannot_replace_the_model_itself():
    """treat trains the copy that apply changed in place: an nn.RNN that is the whole model cannot be swapped,
    so it is not offered (before, apply registered a submodule named "" and trained the plain RNN as
    "swap-to-gru", and the code said `model. = torch.nn.GRU(`)."""
    model = nn.RNN(2, 3)
    assert "swap-to-gru" not in auto_remedies(model, {"exploding", "vanishing"}, set())
    assert "pascanu-omega" in auto_remedies(model, {"vanishing"}, set())
    with pytest.raises(ValueError, match="swap-to-gru.*itself"):
        make_remedy("swap-to-gru", model, 1.0)


def _variance_model():
    torch.manual_seed(3)
    return nn.Sequential(nn.Linear(256, 256), nn.Tanh(),
                         nn.Sequential(nn.Conv1d(128, 64, 2), nn.Sigmoid()), nn.Linear(64, 128), nn.ReLU())


@pytest.mark.parametrize("name", ["he-init", "relu-and-he-init", "glorot-init"])
def test_init_remedies_draw_the_documented_variance_and_zero_the_biases(name):
    model = _variance_model()
    (remedy,) = make_remedy(name, model, 1.0)
    for treated in (_applied(remedy, model), _pasted(remedy, model)):
        for module in treated.modules():
            if isinstance(module, (nn.Linear, nn.Conv1d)):
                fan_in = module.weight[0].numel()
                fan_out = module.weight.shape[0] * module.weight[0, 0].numel()
                variance = 2 / fan_in if "he" in name else 2 / (fan_in + fan_out)
                assert float(module.weight.detach().var()) == pytest.approx(variance, rel=0.1)
                assert not module.bias.any()
                if name == "glorot-init":
                    assert float(module.weight.detach().abs().max()) <= math.sqrt(6 / (fan_in + fan_out))
        saturating = [m for m in treated.modules() if isinstance(m, (nn.Sigmoid, nn.Tanh))]
        relus = [m for m in treated.modules() if type(m) is nn.ReLU]
        assert (len(saturating), len(relus)) == ((0, 3) if name == "relu-and-he-init" else (2, 1))


def test_leaky_relu_replaces_every_relu():
    model = _everything()
    (remedy,) = make_remedy("leaky-relu", model, 1.0)
    for treated in (_applied(remedy, model), _pasted(remedy, model)):
        assert not any(type(m) is nn.ReLU for m in treated.modules())
        assert isinstance(treated.head[4][1], nn.LeakyReLU) and treated.head[4][1].negative_slope == 0.01


def _gradient(model, scale=1e4):
    model.zero_grad(set_to_none=True)
    (scale * _loss(model, _batch())).backward()


def _global_norm(model):
    return float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()])))


def test_clip_code_clips_the_real_gradient_at_the_trial_bound():
    model = _everything()
    median = 0.37
    remedies = make_remedy("clip-norm", model, median)
    assert [r.name for r in remedies] == [f"clip-norm-{m:g}x" for m in CLIP_MULTIPLES] + [
        f"clip-norm-{b:g}" for b in CLIP_BOUNDS]
    assert [r.clip_norm for r in remedies] == [float(f"{m * median:.3g}") for m in CLIP_MULTIPLES] + list(CLIP_BOUNDS)
    for remedy in remedies:
        pasted, looped = copy.deepcopy(model), copy.deepcopy(model)
        _gradient(pasted)
        _gradient(looped)
        assert _global_norm(pasted) > 10 * remedy.clip_norm
        exec("\n".join(remedy.code), {"torch": torch, "model": pasted})
        assert _global_norm(pasted) == pytest.approx(remedy.clip_norm, rel=1e-5)
        torch.nn.utils.clip_grad_norm_(looped.parameters(), remedy.clip_norm)  # what treat's loop does
        for p, q in zip(pasted.parameters(), looped.parameters()):
            assert torch.equal(p.grad, q.grad)


def test_lower_lr_code_divides_every_group():
    model = _everything()
    (remedy,) = make_remedy("lower-lr", model, 1.0)
    head = list(model.head.parameters())
    rest = [p for p in model.parameters() if all(p is not q for q in head)]
    optimizer = torch.optim.SGD([{"params": rest, "lr": 0.3}, {"params": head, "lr": 0.05}], lr=0.3)
    exec("\n".join(remedy.code), {"torch": torch, "model": model, "optimizer": optimizer})
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.03, 0.005], rel=1e-12)
    assert remedy.lr_scale == pytest.approx(1 / LR_DIVISOR)
    assert [0.3 * remedy.lr_scale, 0.05 * remedy.lr_scale] == pytest.approx([0.03, 0.005], rel=1e-12)


@pytest.mark.parametrize("subject", ["everything", "exploding"])
def test_pascanu_omega_code_gives_the_gradient_of_treats_loop(subject):
    model = _everything() if subject == "everything" else exploding_rnn(hidden_size=6)
    batch = _batch() if subject == "everything" else (torch.randn(4, 7, 2), torch.randn(4))
    # a median norm so large that Ω's companion clip never bites: the gradients compare with the plain ones
    (remedy,) = make_remedy("pascanu-omega", model, 1e9)
    assert remedy.omega is not None and remedy.apply is None and remedy.clip_norm == 1e9

    def build(params):
        return torch.optim.SGD(params, lr=0.1)

    _, diverged, _, trained = _train(remedy, model, _loss, [batch], 1, 0, build)
    assert diverged is None
    pasted = copy.deepcopy(model)
    optimizer = build(pasted.parameters())
    exec("\n".join(remedy.code), {"torch": torch, "model": pasted, "optimizer": optimizer, "loss_fn": _loss,
                                  "batch": batch})
    plain = copy.deepcopy(model)
    _loss(plain, batch).backward()
    rnns = [n for n, m in model.named_modules() if type(m) is nn.RNN]
    assert rnns
    for (name, p), q, r in zip(pasted.named_parameters(), trained.parameters(), plain.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-7)  # one SGD step from the same gradient
        if "weight_hh" in name and name.rpartition(".")[0] in rnns:
            assert not torch.allclose(p.grad, r.grad, rtol=1e-4, atol=0), name  # Ω did add something
        else:
            torch.testing.assert_close(p.grad, r.grad, rtol=1e-5, atol=1e-7)
    for name in rnns:
        assert "forward" not in model.get_submodule(name).__dict__
        assert "forward" not in pasted.get_submodule(name).__dict__


def test_swap_code_reaches_a_sequential_child_and_keeps_float64():
    """The code wrote `model.0 = torch.nn.GRU(` (a SyntaxError) for a child of an nn.Sequential, and built the
    new module in float32 for a float64 model, which apply moved to the old module's dtype."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.RNN(2, 3)).double()
    for name in ("swap-to-gru", "swap-to-lstm"):
        (remedy,) = make_remedy(name, model, 1.0)
        pasted = _pasted(remedy, model)
        assert isinstance(pasted[0], nn.GRU if name == "swap-to-gru" else nn.LSTM)
        assert pasted[0].weight_hh_l0.dtype == torch.float64
        out, h_n = pasted[0](torch.randn(4, 1, 2, dtype=torch.float64))
        assert out.dtype == h_n.dtype == torch.float64 and h_n.shape == (1, 1, 3)
