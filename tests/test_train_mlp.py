"""fit on MLPs and on fixed datasets: batch, stochastic and mini-batch descent see the same examples."""

import numpy as np
import pytest
import torch

from gradtrace.models import MLP, ElmanRNN
from gradtrace.remedies import clip_by_global_norm, pascanu_penalty
from gradtrace.tasks import XOR, Adding, Circles, Forecast, member_loss
from gradtrace.train import fit


def test_an_mlp_learns_circles_and_keeps_its_per_layer_trace():
    model = MLP(2, [8, 8], 2, activation="tanh", num_models=2, seed=0)
    run = fit(model, Circles(), steps=150, lr=3e-2, trace_every=50)
    assert run.trace_grad_norms.shape == (3, 2, 2)        # snapshots × members × hidden layers
    assert np.all(run.history["train/loss"][-1] < run.history["train/loss"][0])
    assert np.all(run.final["task/accuracy"] > 0.9)


def test_mlp_member_k_equals_its_single_run():
    options = {"steps": 5, "lr": 1e-2, "batch_size": 8, "seed": 3}
    ensemble = fit(MLP(2, [4], 2, num_models=3, seed=0, dtype=torch.float64), Circles(), **options)
    for k in range(3):
        alone = fit(MLP(2, [4], 2, seed=k, dtype=torch.float64), Circles(), **{**options, "seed": 3 + k})
        np.testing.assert_allclose(ensemble.history["train/loss"][:, k], alone.history["train/loss"][:, 0],
                                   rtol=1e-12)


def test_one_update_equals_a_hand_written_sgd_step():
    model = MLP(2, [3], 1, activation="sigmoid", seed=0, dtype=torch.float64)
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    run = fit(model, XOR(), steps=1, optimizer="sgd", lr=0.5, batch_size=4, dataset_size=4, seed=0)
    reference = MLP(2, [3], 1, activation="sigmoid", seed=0, dtype=torch.float64)
    data = XOR().sample(4, generator=torch.Generator().manual_seed(0))
    loss = member_loss(reference(data.inputs).outputs, data).sum()   # one full-batch epoch: all 4 examples
    loss.backward()
    for name, p in reference.named_parameters():
        torch.testing.assert_close(dict(run.model.named_parameters())[name].detach(), start[name] - 0.5 * p.grad)


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_a_fixed_dataset_is_passed_over_once_per_epoch(batch_size):
    seen = []
    task = XOR(noise=0.1)
    model = MLP(2, [2], 1, seed=0, dtype=torch.float64)

    def spy(step, metrics):
        seen.append(step)

    run = fit(model, task, steps=6, batch_size=batch_size, dataset_size=8, callback=spy)
    per_epoch = -(-8 // batch_size)
    expected = [(i % per_epoch + 1) * batch_size if (i % per_epoch + 1) * batch_size < 8 else 8
                for i in range(6)]
    epochs = [i // per_epoch + e / 8 for i, e in enumerate(expected)]
    np.testing.assert_allclose(run.history["epoch"], epochs)
    assert run.elapsed.shape == (6,) and np.all(np.diff(run.elapsed) >= 0)
    assert "epoch" not in fit(MLP(2, [2], 1, seed=0), task, steps=2).history


def test_the_epoch_sampler_draws_each_example_exactly_once_per_epoch():
    from gradtrace.tasks import Batch
    from gradtrace.train.sampling import EpochSampler

    inputs = torch.arange(10.0).view(1, 10, 1, 1).expand(2, 10, 1, 1).contiguous()
    data = Batch(inputs, inputs.clone(), torch.ones(2, 10, 1, dtype=torch.bool))
    sampler = EpochSampler(data, 4, [torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)])
    batches = [sampler() for _ in range(3)]
    assert [b.batch_size for b in batches] == [4, 4, 2]
    for k in range(2):
        values = torch.cat([b.inputs[k].flatten() for b in batches])
        assert sorted(values.tolist()) == list(range(10))
    assert not torch.equal(batches[0].inputs[0], batches[0].inputs[1])   # members shuffle on their own
    assert sampler.epochs == 1.0


def test_a_forecasting_window_trains_an_mlp_and_a_recurrent_model_alike():
    task = Forecast(window=5, length=400)
    mlp = fit(MLP(5, [8], 1, seed=0), task, steps=3)
    rnn = fit(ElmanRNN(1, 8, 1, readout="last", seed=0), task, steps=3)
    assert mlp.trace_grad_norms.shape[-1] == 1 and rnn.trace_grad_norms.shape[-1] == 5


def test_gradient_remedies_apply_to_mlps_and_recurrent_only_ones_refuse():
    run = fit(MLP(2, [4], 2, seed=0), Circles(), steps=3, remedies=clip_by_global_norm(1e-3))
    assert np.all(run.history["clip_by_global_norm/fired"] == 1.0)
    with pytest.raises(TypeError, match=r"ElmanRNN"):
        fit(MLP(2, [4], 2, seed=0), Circles(), steps=1, remedies=pascanu_penalty(1.0))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: fit(MLP(3, [4], 2, seed=0), Circles(), steps=1),
         r"MLP with input_size=3, output_size=2, but task circles.* feeds 1 step\(s\) × 2 feature\(s\) = 2"),
        (lambda: fit(MLP(2, [4], 1, seed=0), Circles(), steps=1), r"needs output_size=2"),
        (lambda: fit(MLP(20, [4], 1, seed=0), Adding(10), steps=1, truncation=(5, 5)),
         r"`truncation` cuts back-propagation through time; an MLP has no time axis"),
        (lambda: fit(MLP(2, [4], 2, seed=0), Circles(), steps=1, batch_size=16, dataset_size=8),
         r"`batch_size` must be at most `dataset_size` = 8 \(full-batch descent\), got 16"),
        (lambda: fit(MLP(2, [4], 2, seed=0), Circles(), steps=1, dataset_size=0), r"`dataset_size` must be at least 1"),
    ],
)
def test_mismatches_are_refused_naming_the_sizes(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
