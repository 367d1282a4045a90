"""fit: ensembles train like their members alone, runs reproduce, non-finite members are handled."""

import numpy as np
import pytest
import torch

from gradtrace.errors import NonFiniteError, RunInterrupted
from gradtrace.instruments import trace
from gradtrace.models import LSTM, ElmanRNN
from gradtrace.tasks import Adding, CopyMemory
from gradtrace.train import Run, fit

F64 = torch.float64
T, H, K = 6, 4, 3
MODEL_SEED, DATA_SEED = 10, 20
SMALL = {"batch_size": 4, "eval_batch_size": 4}


def _model(cls=ElmanRNN, *, num_models=K, seed=MODEL_SEED, **options):
    return cls(2, H, 1, readout="last", num_models=num_models, seed=seed, dtype=F64, **options)


def _params(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _inject_at(model, step_at, member, value=1e300):
    """A callback that blows up ``member``'s W_out after step ``step_at``; keeps the result."""
    injected = {}

    def callback(step, metrics):
        if step == step_at:
            with torch.no_grad():
                model.W_out[member].fill_(value)
            injected.update(_params(model))

    return callback, injected


# ------------------------------------------------------------------------------------------------
# Ensembles
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
@pytest.mark.parametrize("cls", [ElmanRNN, LSTM], ids=["elman", "lstm"])
def test_member_k_trains_like_the_single_model_with_seeds_plus_k(cls, optimizer):
    task = Adding(T)
    options = {"steps": 4, "optimizer": optimizer, "lr": 1e-2, **SMALL}
    ensemble = _model(cls)
    run = fit(ensemble, task, seed=DATA_SEED, **options)
    for k in range(K):
        single = _model(cls, num_models=1, seed=MODEL_SEED + k)
        alone = fit(single, task, seed=DATA_SEED + k, **options)
        for (name, param), (_, own) in zip(
            ensemble.named_parameters(), single.named_parameters(), strict=True
        ):
            torch.testing.assert_close(param[k], own[0], rtol=0, atol=1e-10, msg=name)
        for key in ("train/loss", "grad/norm", "task/loss"):
            np.testing.assert_allclose(
                run.history[key][:, k], alone.history[key][:, 0], rtol=1e-10, err_msg=key
            )
        np.testing.assert_allclose(
            run.trace_grad_norms[:, k], alone.trace_grad_norms[:, 0], rtol=1e-6
        )


def test_training_moves_the_parameters_and_lowers_the_loss_of_an_easy_task():
    model = _model(num_models=2)
    before = _params(model)
    run = fit(model, Adding(3), steps=30, lr=3e-2, seed=0, **SMALL)
    assert all(not torch.equal(before[n], p) for n, p in model.named_parameters())
    assert np.all(run.history["task/loss"][-1] < run.history["task/loss"][0])


def test_same_seeds_give_bit_identical_runs():
    runs = [fit(_model(), Adding(T), steps=3, seed=DATA_SEED, **SMALL) for _ in range(2)]
    assert runs[0].history.keys() == runs[1].history.keys()
    for key in runs[0].history:
        np.testing.assert_array_equal(runs[0].history[key], runs[1].history[key], err_msg=key)
    np.testing.assert_array_equal(runs[0].trace_grad_norms, runs[1].trace_grad_norms)
    first, second = (run.model.named_parameters() for run in runs)
    for (name, a), (_, b) in zip(first, second, strict=True):
        assert torch.equal(a, b), name


def test_another_data_seed_gives_another_run():
    first, second = (fit(_model(), Adding(T), steps=2, seed=s, **SMALL) for s in (0, 1))
    assert not np.array_equal(first.history["train/loss"], second.history["train/loss"])


# ------------------------------------------------------------------------------------------------
# What a run records
# ------------------------------------------------------------------------------------------------
def test_run_records_history_traces_and_final_metrics_per_member():
    steps = 6
    run = fit(_model(), Adding(T), steps=steps, seed=0, trace_every=2, eval_every=4, **SMALL)
    assert isinstance(run, Run)
    assert (run.status, run.steps_done, run.num_models) == ("finished", steps, K)
    history = run.history
    assert set(history) == {
        "step",
        "train/loss",
        "grad/norm",
        "eval/step",
        "task/loss",
        "task/accuracy",
        "task/success",
    }
    np.testing.assert_array_equal(history["step"], np.arange(steps))
    assert history["train/loss"].shape == history["grad/norm"].shape == (steps, K)
    # Evaluated every 4 steps and after the last one.
    np.testing.assert_array_equal(history["eval/step"], [0, 4, 5])
    for key in ("task/loss", "task/accuracy", "task/success"):
        assert history[key].shape == (3, K), key
    np.testing.assert_array_equal(run.trace_steps, [0, 2, 4])
    assert run.trace_grad_norms.shape == (3, K, T)
    assert np.all(np.isfinite(run.trace_grad_norms)) and np.all(run.trace_grad_norms >= 0)
    assert set(run.final) == {"task/loss", "task/accuracy", "task/success"}
    for key, value in run.final.items():
        np.testing.assert_array_equal(value, history[key][-1], err_msg=key)
    np.testing.assert_array_equal(run.diverged_at, [-1] * K)
    assert np.all(np.isfinite(history["train/loss"])) and np.all(history["grad/norm"] > 0)
    assert 0.0 <= run.success_rate <= 1.0
    assert (
        run.config["steps"] == steps
        and run.config["num_models"] == K
        and run.config["loss"] == "mse"
    )
    assert run.model is not None and not run.model.training


def test_default_schedules_keep_about_50_traces_and_20_evaluations():
    run = fit(_model(num_models=1), Adding(3), steps=100, seed=0, batch_size=2, eval_batch_size=2)
    np.testing.assert_array_equal(run.trace_steps, np.arange(0, 100, 2))
    np.testing.assert_array_equal(run.history["eval/step"], [*range(0, 100, 5), 99])


def test_first_recorded_gradient_matches_autograd_on_the_first_batch():
    task = Adding(T)
    run = fit(_model(num_models=1), task, steps=1, seed=DATA_SEED, **SMALL)
    fresh = _model(num_models=1)
    batch = task.sample(SMALL["batch_size"], generator=torch.Generator().manual_seed(DATA_SEED))
    loss = ((fresh(batch.inputs).outputs[0] - batch.targets[:, -1]) ** 2).mean()
    grads = torch.autograd.grad(loss, list(fresh.parameters()))
    expected_norm = torch.sqrt(sum(g.square().sum() for g in grads))
    np.testing.assert_allclose(run.history["train/loss"][0, 0], loss.item(), rtol=1e-12)
    np.testing.assert_allclose(run.history["grad/norm"][0, 0], expected_norm.item(), rtol=1e-12)
    expected_profile = trace(fresh, batch, jacobian_steps=0).grad_norms
    np.testing.assert_allclose(run.trace_grad_norms[0], expected_profile.numpy(), rtol=1e-6)


def test_callback_receives_every_step_with_per_member_metrics():
    seen = []
    fit(
        _model(),
        Adding(T),
        steps=3,
        seed=0,
        callback=lambda step, m: seen.append((step, m)),
        **SMALL,
    )
    assert [step for step, _ in seen] == [0, 1, 2]
    for _, metrics in seen:
        assert set(metrics) == {"train/loss", "grad/norm"}
        assert metrics["train/loss"].shape == metrics["grad/norm"].shape == (K,)


# ------------------------------------------------------------------------------------------------
# Non-finite losses and gradients
# ------------------------------------------------------------------------------------------------
def _clean_run(steps):
    return fit(_model(), Adding(T), steps=steps, seed=DATA_SEED, **SMALL)


def test_raise_policy_names_the_step_and_the_member():
    model = _model()
    callback, _ = _inject_at(model, step_at=1, member=1)
    with pytest.raises(
        NonFiniteError, match=r"Non-finite loss at step 2 for member\(s\) \[1\]"
    ) as error:
        fit(
            model,
            Adding(T),
            steps=5,
            seed=DATA_SEED,
            on_nonfinite="raise",
            callback=callback,
            **SMALL,
        )
    assert (error.value.step, error.value.members) == (2, [1])


def test_record_policy_freezes_the_diverged_member_and_trains_the_others():
    steps = 5
    model = _model()
    callback, injected = _inject_at(model, step_at=1, member=1)
    run = fit(
        model,
        Adding(T),
        steps=steps,
        seed=DATA_SEED,
        on_nonfinite="record",
        callback=callback,
        **SMALL,
    )
    assert (run.status, run.steps_done) == ("finished", steps)
    np.testing.assert_array_equal(run.diverged_at, [-1, 2, -1])
    loss = run.history["train/loss"]
    assert np.all(np.isfinite(loss[:2])) and np.all(np.isnan(loss[2:, 1]))
    assert np.all(np.isfinite(loss[:, [0, 2]]))
    evaluated = run.history["eval/step"]
    assert np.all(np.isnan(run.history["task/loss"][evaluated >= 2, 1]))
    assert np.all(np.isfinite(run.history["task/loss"][:, [0, 2]]))
    assert np.isnan(run.final["task/loss"][1])
    # The diverged member is frozen where it diverged (Adam's momentum does not move it) ...
    for name, param in model.named_parameters():
        assert torch.equal(param[1], injected[name][1]), name
    # ... and the others train exactly as they would have without it.
    clean = _clean_run(steps)
    for (name, param), (_, own) in zip(
        model.named_parameters(), clean.model.named_parameters(), strict=True
    ):
        torch.testing.assert_close(param[[0, 2]], own[[0, 2]], rtol=0, atol=1e-12, msg=name)
    np.testing.assert_allclose(loss[:, [0, 2]], clean.history["train/loss"][:, [0, 2]], rtol=1e-12)


def test_skip_policy_keeps_the_member_active_without_applying_its_non_finite_updates():
    steps = 5
    model = _model()
    callback, injected = _inject_at(model, step_at=1, member=1)
    run = fit(
        model,
        Adding(T),
        steps=steps,
        seed=DATA_SEED,
        on_nonfinite="skip",
        callback=callback,
        **SMALL,
    )
    np.testing.assert_array_equal(run.diverged_at, [-1, -1, -1])
    loss = run.history["train/loss"]
    assert np.all(np.isinf(loss[2:, 1])), (
        "a skipped member stays active, so its loss is still shown"
    )
    assert np.all(np.isfinite(loss[:, [0, 2]]))
    # Regression: with Adam, zeroing the gradient alone still moved the member by its momentum.
    for name, param in model.named_parameters():
        assert torch.equal(param[1], injected[name][1]), name
    clean = _clean_run(steps)
    for (name, param), (_, own) in zip(
        model.named_parameters(), clean.model.named_parameters(), strict=True
    ):
        torch.testing.assert_close(param[[0, 2]], own[[0, 2]], rtol=0, atol=1e-12, msg=name)


def test_record_policy_stops_when_every_member_has_diverged():
    model = _model(num_models=2)
    with torch.no_grad():
        model.W_out.fill_(1e300)
    run = fit(model, Adding(T), steps=10, seed=0, **SMALL)
    assert (run.status, run.steps_done) == ("finished", 1)
    np.testing.assert_array_equal(run.diverged_at, [0, 0])
    assert run.history["train/loss"].shape == (1, 2) and np.all(np.isnan(run.history["train/loss"]))
    assert np.all(np.isnan(run.final["task/loss"]))


# ------------------------------------------------------------------------------------------------
# Interruption
# ------------------------------------------------------------------------------------------------
def test_keyboard_interrupt_gives_the_partial_run():
    def interrupt(step, metrics):
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(RunInterrupted, match="after 4 of 10 steps") as error:
        fit(_model(), Adding(T), steps=10, seed=DATA_SEED, callback=interrupt, **SMALL)
    partial = error.value.partial
    assert isinstance(partial, Run)
    # The callback runs after step 3's update, so steps 0–3 are complete.
    assert (partial.status, partial.steps_done) == ("interrupted", 4)
    assert partial.history["train/loss"].shape == (4, K)
    np.testing.assert_array_equal(partial.history["step"], np.arange(4))
    np.testing.assert_array_equal(partial.history["eval/step"], np.arange(3))
    assert partial.trace_grad_norms.shape == (4, K, T)
    full = fit(_model(), Adding(T), steps=10, seed=DATA_SEED, **SMALL)
    np.testing.assert_array_equal(partial.history["train/loss"], full.history["train/loss"][:4])


def test_ctrl_c_in_fit_passes_a_sweeps_except_exception_and_keeps_the_partial_run():
    # Regression: RunInterrupted was an Exception, so a sweep guarding each run with `except Exception`
    # swallowed Ctrl-C and went on to the next run.
    def interrupt(step, metrics):
        if step == 1:
            raise KeyboardInterrupt

    finished = []
    with pytest.raises(KeyboardInterrupt) as error:
        for lr in (0.1, 0.01):
            try:
                fit(_model(), Adding(T), steps=5, lr=lr, seed=DATA_SEED, callback=interrupt, **SMALL)
            except Exception:  # noqa: BLE001 - the sweep pattern under test
                finished.append("swallowed")
    assert finished == []
    assert isinstance(error.value, RunInterrupted) and not isinstance(error.value, Exception)
    assert error.value.partial.steps_done == 2


def test_interrupt_before_the_first_step_gives_an_empty_partial_run():
    draws = []

    class Interrupting(Adding):
        def _sample(self, batch_size, generator):
            draws.append(batch_size)
            if len(draws) > K:  # the first K draws are the members' held-out batches
                raise KeyboardInterrupt
            return super()._sample(batch_size, generator)

    with pytest.raises(RunInterrupted, match="after 0 of 5 steps") as error:
        fit(_model(), Interrupting(T), steps=5, **SMALL)
    partial = error.value.partial
    assert (partial.status, partial.steps_done) == ("interrupted", 0)
    assert partial.history["train/loss"].shape == (0, K)
    assert partial.trace_grad_norms.shape == (0, K, T)
    assert partial.final == {}


# ------------------------------------------------------------------------------------------------
# Arguments
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"steps": 0}, "`steps` must be at least 1, got 0"),
        (
            {"optimizer": "lbfgs"},
            "Unknown optimizer 'lbfgs' for `optimizer`. Available: 'sgd', 'adam', 'rmsprop'",
        ),
        ({"lr": -0.1}, "`lr` must be greater than 0.0, got -0.1"),
        ({"lr": 0.0}, "`lr` must be greater than 0.0"),
        ({"lr": float("nan")}, "`lr` must be finite"),
        (
            {"on_nonfinite": "ignore"},
            "Unknown policy 'ignore' for `on_nonfinite`. Available: 'raise', 'skip'",
        ),
        ({"loss": "l1"}, "Unknown loss kind 'l1' for `loss`"),
        ({"batch_size": 0}, "`batch_size` must be at least 1"),
        ({"seed": -1}, "`seed` must be at least 0"),
        ({"trace_every": -2}, "`trace_every` must be at least 1"),
    ],
)
def test_invalid_arguments_raise_value_error(options, match):
    with pytest.raises(ValueError, match=match):
        fit(_model(), Adding(T), **{"steps": 1, **options})


def test_model_and_task_sizes_must_agree():
    model = ElmanRNN(3, H, 1, readout="last", seed=0)
    with pytest.raises(
        ValueError,
        match=r"`model` has input_size=3, output_size=1 but task adding.* needs "
        r"input_size=2, output_size=1",
    ):
        fit(model, Adding(T), steps=1)


def test_a_task_scored_every_step_needs_readout_all():
    model = ElmanRNN(10, H, 9, readout="last", seed=0)
    with pytest.raises(
        ValueError,
        match=r"Task copy_memory\(delay=2\) scores every step; build the model "
        r"with readout='all'",
    ):
        fit(model, CopyMemory(2), steps=1)


def test_model_and_task_must_be_gradtrace_objects():
    with pytest.raises(TypeError, match="`model` must be a gradtrace RecurrentModel or MLP, got RNN"):
        fit(torch.nn.RNN(2, H), Adding(T), steps=1)
    with pytest.raises(TypeError, match="`task` must be a gradtrace Task, got str"):
        fit(_model(), "adding", steps=1)
    with pytest.raises(TypeError, match="`steps` must be an integer, got 2.5"):
        fit(_model(), Adding(T), steps=2.5)
