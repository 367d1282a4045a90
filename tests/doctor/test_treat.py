"""``gradtrace.doctor.treat`` end to end, its statistics on hand-made trials, and its errors.

treat trains deep copies, each remedy paired by seed with an untreated copy: on the exploding ReLU RNN the
untreated copy diverges and a remedy fixes it; on the deep sigmoid MLP ReLU with He's initialization does;
a healthy model gets nothing. The user's model comes back bit-identical, the global RNG too.
"""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace.doctor import LossFunctionError, Treatment, Trial, diagnose, treat
from gradtrace.doctor.examples import SUBJECTS
from gradtrace.doctor.remedies import REMEDY_NAMES
from gradtrace.doctor.treat import MIN_IMPROVEMENT, SIGNIFICANCE, _compare

INF = float("inf")


# ---------------------------------------------------------------------------------------------------------
# The model as it came: parameters, .grad, buffers, flags, forward attributes, hooks, the global RNG.


def _snapshot(model: nn.Module) -> dict:
    return {
        "state": {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()},
        "grads": {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()},
        "training": {n: m.training for n, m in model.named_modules()},
        "types": {n: type(m) for n, m in model.named_modules()},
        "forwards": {n for n, m in model.named_modules() if "forward" in m.__dict__},
        "hooks": sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
                     for m in model.modules()),
        "rng": torch.get_rng_state(),
    }


def _assert_untouched(model: nn.Module, before: dict) -> None:
    after = _snapshot(model)
    assert after["state"].keys() == before["state"].keys()
    for key, value in before["state"].items():
        assert after["state"][key].dtype == value.dtype and torch.equal(after["state"][key], value), key
    for name, grad in before["grads"].items():
        assert (grad is None and after["grads"][name] is None) or torch.equal(after["grads"][name], grad), name
    for key in ("training", "types", "forwards", "hooks"):
        assert after[key] == before[key], key
    assert torch.equal(after["rng"], before["rng"])


def _table_ok(treatment: Treatment) -> None:
    best = treatment.best
    code = {f"    {line}" for line in best.code} if best else set()
    for line in treatment.table().splitlines():
        assert line in code or len(line) <= 80, line


def _json(treatment: Treatment) -> dict:
    return json.loads(json.dumps(treatment.to_dict(), allow_nan=False))


# ---------------------------------------------------------------------------------------------------------
# The realistic subjects.


@pytest.fixture(scope="module")
def exploding():
    subject = SUBJECTS["exploding-rnn"]
    model = subject.make_model()
    model.head.eval()  # mixed flags must come back as they were
    batches = subject.batches(count=2, batch_size=16)
    before = _snapshot(model)
    treatment = treat(model, subject.loss_fn, batches, steps=30, seeds=5, lr=0.03)
    return model, before, treatment


def test_exploding_rnn_diverges_untreated_and_a_remedy_fixes_it(exploding):
    model, before, treatment = exploding
    _assert_untouched(model, before)
    assert treatment.diagnosis.found("exploding")
    untreated = treatment.untreated
    assert untreated.divergences == 5 and untreated.final_losses == [INF] * 5
    names = [t.name for t in treatment.trials]
    assert {"clip-norm-1", "clip-norm-5", "orthogonal-w-hh", "swap-to-gru"} <= set(names)
    assert all(t.error is None for t in treatment.trials)
    fixed = treatment.fixed
    assert fixed and all(t.fixed and t.divergences == 0 and t.wins == 5 for t in fixed)
    assert treatment.best is fixed[0] and treatment.best.code
    assert treatment.best.median_loss == min(t.median_loss for t in fixed)
    for trial in (untreated, *treatment.trials):
        for curve, diverged in zip(trial.curves, trial.diverged_at):
            assert len(curve) == (30 if diverged is None else diverged)
            assert all(math.isfinite(v) for v in curve)
        if not trial.fixed:
            assert trial.divergences > 0 or trial.wins < 5 or trial.improvement < 0.1
    _table_ok(treatment)
    table = treatment.table()
    assert f"Best: {treatment.best.name}" in table and "\n    " + treatment.best.code[0] in table
    data = _json(treatment)
    assert data["best"] == treatment.best.name and data["code"] == treatment.best.code
    assert data["untreated"]["final_losses"] == ["inf"] * 5 and data["untreated"]["divergences"] == 5


@pytest.fixture(scope="module")
def sigmoid():
    subject = SUBJECTS["deep-sigmoid-mlp"]
    model = subject.make_model()
    batches = subject.batches(count=2, batch_size=64)
    before = _snapshot(model)
    return model, before, treat(model, subject.loss_fn, batches, steps=40, seeds=5)


def test_deep_sigmoid_mlp_is_fixed_by_relu_and_he_init(sigmoid):
    model, before, treatment = sigmoid
    _assert_untouched(model, before)
    assert [v.where for v in treatment.diagnosis.found("vanishing")] == ["depth"]
    assert treatment.untreated.divergences == 0
    relu = next(t for t in treatment.trials if t.name == "relu-and-he-init")
    assert relu.fixed and relu in treatment.fixed and relu.improvement >= MIN_IMPROVEMENT
    assert treatment.best is not None and treatment.best.name in {t.name for t in treatment.fixed}
    assert relu.after is not None and relu.first_last_ratio > treatment.diagnosis.depth.first_last_ratio
    _table_ok(treatment)
    _json(treatment)


# ---------------------------------------------------------------------------------------------------------
# Small models.


class Small(nn.Module):
    """A shallow healthy model with batch norm (buffers), dropout (random masks) and an nn.RNN."""

    def __init__(self, reads_nonlinearity: bool = False):
        super().__init__()
        self.rnn = nn.RNN(2, 6, batch_first=True)
        self.norm = nn.BatchNorm1d(6)
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(6, 1)
        self.reads_nonlinearity = reads_nonlinearity

    def forward(self, x):
        out, h_n = self.rnn(x)
        if self.reads_nonlinearity:  # user code that only works with an nn.RNN
            assert self.rnn.nonlinearity == "tanh"
        return self.head(self.drop(self.norm(h_n[-1]))).squeeze(-1)


def _small(**options) -> Small:
    torch.manual_seed(0)
    return Small(**options)


def _small_loss(model, batch):
    x, y = batch[:2]
    return F.mse_loss(model(x), y)


def _small_batches(count=2, length=5):
    g = torch.Generator().manual_seed(3)
    return [(torch.randn(8, length, 2, generator=g), torch.randn(8, generator=g)) for _ in range(count)]


@pytest.fixture(scope="module")
def small_diagnosis():
    return diagnose(_small(), _small_loss, batches=_small_batches())


def test_healthy_model_gets_nothing_to_treat(small_diagnosis):
    model = _small()
    model.norm.eval()
    before = _snapshot(model)
    treatment = treat(model, _small_loss, _small_batches(), steps=4, seeds=2)
    _assert_untouched(model, before)
    assert treatment.diagnosis.healthy
    assert treatment.trials == [] and treatment.best is None and treatment.fixed == []
    assert treatment.table().splitlines()[-1] == "Nothing to treat: every verdict is healthy."
    assert len(treatment.untreated.curves) == 2 and treatment.untreated.divergences == 0
    assert _json(treatment)["best"] is None


def test_every_remedy_runs_through_treat_and_leaves_the_model_alone(small_diagnosis):
    model = _small()
    model.train()
    model.head.eval()
    model.head.weight.grad = torch.ones_like(model.head.weight)  # a user's leftover gradient stays
    before = _snapshot(model)
    treatment = treat(model, _small_loss, _small_batches(), steps=3, seeds=2, remedies=list(REMEDY_NAMES),
                      diagnosis=small_diagnosis)
    _assert_untouched(model, before)
    assert treatment.diagnosis is small_diagnosis
    assert len(treatment.trials) == len(REMEDY_NAMES) + 3  # clip-norm gives four trials
    for trial in treatment.trials:
        assert trial.error is None, trial.name
        assert len(trial.final_losses) == 2 and trial.code
    _table_ok(treatment)
    _json(treatment)


def test_clip_norm_only_gives_the_clip_trials(small_diagnosis):
    for remedies in ("clip-norm", ["clip-norm"]):
        treatment = treat(_small(), _small_loss, _small_batches(), steps=2, seeds=1, remedies=remedies,
                          diagnosis=small_diagnosis)
        assert [t.name for t in treatment.trials] == ["clip-norm-0.1x", "clip-norm-1x", "clip-norm-1",
                                                      "clip-norm-5"]


def test_a_no_op_remedy_is_paired_seed_by_seed_with_the_untreated_copy(small_diagnosis):
    """forget-bias-1 changes nothing in a model without an LSTM: with the same batch order and dropout masks,
    every curve equals the untreated one exactly, so it wins nothing and fixes nothing."""
    treatment = treat(_small(), _small_loss, _small_batches(count=3), steps=6, seeds=3,
                      remedies=["forget-bias-1"], diagnosis=small_diagnosis)
    (trial,) = treatment.trials
    assert trial.curves == treatment.untreated.curves
    assert len({tuple(c) for c in trial.curves}) == 3  # the seeds do differ
    assert (trial.wins, trial.p_value, trial.improvement, trial.fixed) == (0, 1.0, 0.0, False)


def test_custom_optimizer_factory_is_used(small_diagnosis):
    built = []

    def adam(params):
        built.append(torch.optim.Adam(params, lr=0.05))
        return built[-1]

    common = {"steps": 5, "seeds": 2, "diagnosis": small_diagnosis}
    with_adam = treat(_small(), _small_loss, _small_batches(), optimizer=adam, remedies=["lower-lr"], **common)
    with_sgd = treat(_small(), _small_loss, _small_batches(), remedies=["lower-lr"], lr=0.05, **common)
    assert len(built) == 4  # one per seed, untreated and lower-lr
    assert [g["lr"] for o in built for g in o.param_groups] == pytest.approx([0.05, 0.05, 0.005, 0.005])
    for adam_curve, sgd_curve in zip(with_adam.untreated.curves, with_sgd.untreated.curves):
        assert adam_curve[0] == sgd_curve[0]  # the same copy, batch and seed before the first step
        assert adam_curve[1:] != sgd_curve[1:]


def test_a_remedy_that_breaks_the_users_code_is_a_failed_trial_not_a_crash(small_diagnosis):
    model = _small(reads_nonlinearity=True)
    before = _snapshot(model)
    treatment = treat(model, _small_loss, _small_batches(), steps=3, seeds=2,
                      remedies=["swap-to-gru", "swap-to-lstm", "clip-norm"], diagnosis=small_diagnosis)
    _assert_untouched(model, before)
    gru, lstm, *clips = treatment.trials
    for trial in (gru, lstm):
        assert "AttributeError" in trial.error and "nonlinearity" in trial.error
        assert trial.final_losses == [] and not trial.fixed and trial.wins == 0
    assert all(t.error is None and len(t.final_losses) == 2 for t in clips)
    table = treatment.table()
    assert "swap-to-gru          could not run: LossFunctionError" in table
    _table_ok(treatment)  # the long error wraps at 80 columns
    data = _json(treatment)
    assert data["trials"][0]["error"] == gru.error and data["trials"][0]["p_value"] == "nan"


class Saturated(nn.Module):
    """An nn.RNN whose large input weights saturate its state: a fresh GRU starts with a lower loss."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(2, 6, batch_first=True)
        self.head = nn.Linear(6, 1)
        with torch.no_grad():
            self.rnn.weight_ih_l0.mul_(20.0)
            self.head.weight.mul_(10.0)

    def forward(self, x):
        return self.head(self.rnn(x)[1][-1]).squeeze(-1)


def test_a_remedy_that_fails_on_a_later_seed_is_not_fixed():
    """The copy with a GRU breaks the user's code on the flagged batch only, which seed 2 visits first
    (orders [2, 0, 1], [1, 2, 0], [0, 2, 1]): a trial with results for fewer seeds than the untreated copy
    must not be compared on those alone. It was `fixed` (2 wins of 2) and the `best`, its code a crash."""
    torch.manual_seed(0)
    model = Saturated()

    def loss_fn(model, batch):
        x, y, flagged = batch
        if flagged:  # the user logs something only an nn.RNN has, on some batches
            assert model.rnn.nonlinearity
        return F.mse_loss(model(x), y)

    flagged = [(x, y, i == 0) for i, (x, y) in enumerate(_small_batches(count=3))]
    treatment = treat(model, loss_fn, flagged, steps=1, seeds=3, remedies=["swap-to-gru"])
    (trial,) = treatment.trials
    assert "AttributeError" in trial.error and len(trial.final_losses) == 2
    assert all(a < b for a, b in zip(trial.final_losses, treatment.untreated.final_losses))
    assert not trial.fixed and treatment.best is None
    assert "swap-to-gru          could not run" in treatment.table()
    _table_ok(treatment)


def test_a_failed_diagnosis_after_training_is_a_note_not_a_failed_trial():
    """Seed 0 trains on batch 0 only (order [0, 1]); the diagnosis after training reads batch 1 too, where the
    GRU breaks the user's code. The trial ran on every seed: its row and a note, not "could not run"."""
    torch.manual_seed(0)
    model = Saturated()

    def loss_fn(model, batch):
        x, y, flagged = batch
        if flagged:
            assert model.rnn.nonlinearity
        return F.mse_loss(model(x), y)

    flagged = [(x, y, i == 1) for i, (x, y) in enumerate(_small_batches(count=2))]
    treatment = treat(model, loss_fn, flagged, steps=1, seeds=1, remedies=["swap-to-gru"])
    (trial,) = treatment.trials
    assert trial.error.startswith("diagnosis after training failed: LossFunctionError")
    assert len(trial.final_losses) == 1 and trial.after is None and trial.wins == 1
    table = treatment.table()
    assert "could not run" not in table and "    note: diagnosis after training failed" in table
    _table_ok(treatment)


def test_the_untreated_copy_raising_propagates_and_leaves_the_model_alone(small_diagnosis):
    model = _small()
    before = _snapshot(model)

    def broken(model, batch):
        raise KeyError("the user's loss is broken")

    with pytest.raises(LossFunctionError, match="KeyError"):
        treat(model, broken, _small_batches(), steps=2, seeds=1, diagnosis=small_diagnosis)
    _assert_untouched(model, before)


def test_no_remedy_tried_on_a_sick_model_does_not_say_it_is_healthy():
    subject = SUBJECTS["deep-sigmoid-mlp"]
    model = subject.make_model(depth=8, width=8)
    treatment = treat(model, subject.loss_fn, subject.batches(count=1, batch_size=16), steps=2, seeds=1,
                      remedies=[])
    assert not treatment.diagnosis.healthy and treatment.trials == []
    assert "healthy" not in treatment.table().splitlines()[-1]


# ---------------------------------------------------------------------------------------------------------
# Errors, before anything is trained.


@pytest.mark.parametrize(("options", "error", "match"), [
    ({"steps": 0}, ValueError, "`steps`"),
    ({"steps": 2.5}, TypeError, "`steps`"),
    ({"seeds": 0}, ValueError, "`seeds`"),
    ({"lr": -1}, ValueError, "`lr`"),
    ({"lr": 0.0}, ValueError, "`lr`"),
    ({"lr": float("nan")}, ValueError, "`lr`"),
    ({"optimizer": "adam"}, TypeError, "`optimizer`"),
])
def test_bad_arguments_are_named(options, error, match):
    with pytest.raises(error, match=match):
        treat(_small(), _small_loss, _small_batches(), **options)


def test_unknown_remedy_lists_every_name(small_diagnosis):
    with pytest.raises(ValueError, match="Unknown remedy 'clip'") as raised:
        treat(_small(), _small_loss, _small_batches(), remedies=["clip"], diagnosis=small_diagnosis)
    assert all(repr(name) in str(raised.value) for name in REMEDY_NAMES)


def test_model_and_batches_are_checked():
    with pytest.raises(TypeError, match="`model`"):
        treat(lambda x: x, _small_loss, _small_batches())
    with pytest.raises(ValueError, match="`batches` is empty"):
        treat(_small(), _small_loss, [])


# ---------------------------------------------------------------------------------------------------------
# _compare on hand-made trials: wins, the exact sign test, the rule for `fixed` at its boundaries.


def _pair(treated, untreated, error=None):
    trial = Trial("remedy", "", ["pass"], final_losses=list(treated),
                  diverged_at=[0 if v == INF else None for v in treated], error=error)
    plain = Trial("untreated", "", [], final_losses=list(untreated),
                  diverged_at=[0 if v == INF else None for v in untreated])
    _compare(trial, plain)
    return trial


def test_wins_count_seeds_below_untreated_with_divergence_as_infinity():
    trial = _pair([1.0, INF, 2.0, INF, 3.0], [2.0, 3.0, INF, INF, 3.0])
    assert trial.wins == 2  # 1 < 2 and 2 < inf; inf vs 3, inf vs inf and a tie are no wins


@pytest.mark.parametrize(("wins", "n", "p"), [(5, 5, 1 / 32), (4, 5, 6 / 32), (0, 5, 1.0), (3, 3, 1 / 8),
                                              (2, 3, 4 / 8), (1, 1, 1 / 2), (7, 10, 176 / 1024)])
def test_p_value_is_the_one_sided_exact_sign_test(wins, n, p):
    trial = _pair([1.0] * wins + [3.0] * (n - wins), [2.0] * n)
    assert trial.wins == wins
    assert trial.p_value == pytest.approx(p, rel=1e-15)


@pytest.mark.parametrize(("treated", "untreated", "fixed"), [
    # 10 % lower median, exactly (10 → 9), and 5 wins of 5 (p = 1/32): fixed
    ([9.0] * 5, [10.0] * 5, True),
    # 4 wins of 5 (p = 6/32): not, though the median fell
    ([9.0, 9.0, 9.0, 9.0, 11.0], [10.0] * 5, False),
    # 1.0 → 0.9 is 10 % lower although it computes to 0.0999…
    ([0.9] * 5, [1.0] * 5, True),
    # 9.9 % lower: not, though it wins every seed
    ([9.01] * 5, [10.0] * 5, False),
    # 3 of 3 wins: p = 1/8, too few seeds to tell from chance
    ([5.0] * 3, [10.0] * 3, False),
    # 9 of 10 (p = 11/1024): fixed
    ([5.0] * 9 + [20.0], [10.0] * 10, True),
    # the untreated copy diverged once: winning every seed fixes it, without a 10 % lower median
    ([9.99] * 5, [10.0] * 4 + [INF], True),
    # the remedy diverged once: never fixed
    ([1.0] * 4 + [INF], [10.0] * 4 + [INF], False),
    # every seed of the untreated copy diverged: finite everywhere fixes it
    ([50.0, 60.0, 50.0, 60.0, 50.0], [INF] * 5, True),
])
def test_fixed_follows_the_documented_rule(treated, untreated, fixed):
    trial = _pair(treated, untreated)
    assert trial.fixed is fixed
    assert trial.p_value <= SIGNIFICANCE or not fixed


def test_improvement_against_the_untreated_median():
    assert _pair([9.0] * 3, [10.0] * 3).improvement == pytest.approx(0.1)
    assert _pair([12.0] * 3, [10.0] * 3).improvement == pytest.approx(-0.2)
    assert _pair([1.0, 1.0], [INF, INF]).improvement == 1.0  # the untreated median diverged
    assert math.isnan(_pair([INF, INF], [1.0, 1.0]).improvement)
    assert math.isnan(_pair([1.0], [0.0]).improvement)


def test_a_trial_that_could_not_run_is_not_compared():
    trial = _pair([], [INF, INF, INF], error="RuntimeError: boom")
    assert (trial.wins, trial.fixed) == (0, False) and math.isnan(trial.p_value)
    # one seed ran, then it failed: n = 1 won 1 of 1 and was `fixed` before
    partial = _pair([0.1], [INF, INF, INF], error="RuntimeError: boom")
    assert not partial.fixed and partial.wins == 0 and math.isnan(partial.p_value)
