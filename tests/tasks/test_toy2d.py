"""2-D classification: circle radii, spiral arms, blob centers, ln(classes) baseline, scoring, checks."""

import math

import pytest
import torch

from gradtrace.tasks import SPIRAL_START_RADIUS, TASKS, Blobs, Circles, Spiral, make_task, member_loss

TASK_CASES = [Circles(), Spiral(), Spiral(classes=3, turns=1.0), Blobs(), Blobs(classes=5, spread=0.5)]


@pytest.mark.parametrize("task", TASK_CASES, ids=lambda task: task.describe())
def test_layout_dtypes_and_seeding(task):
    batch = task.sample(64, seed=0)
    assert (task.input_size, task.max_length, task.loss_kind) == (2, 1, "cross_entropy")
    assert batch.inputs.shape == (64, 1, 2) and batch.inputs.dtype == torch.float32
    assert batch.targets.shape == (64, 1) and batch.targets.dtype == torch.int64
    assert batch.mask.shape == (64, 1) and bool(batch.mask.all()) and batch.loss == "cross_entropy"
    assert set(batch.targets.flatten().tolist()) == set(range(task.output_size))
    again = task.sample(64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again.inputs, batch.inputs) and torch.equal(again.targets, batch.targets)
    assert not torch.equal(task.sample(64, seed=1).inputs, batch.inputs)


@pytest.mark.parametrize("task", TASK_CASES, ids=lambda task: task.describe())
def test_baseline_is_uniform_guessing_and_scoring_perfect_and_constant_outputs(task):
    batch = task.sample(200, seed=2)
    classes = task.output_size
    assert task.baseline_loss == pytest.approx(math.log(classes))
    uniform = torch.zeros(1, 200, classes)
    assert float(member_loss(uniform, batch)[0]) == pytest.approx(math.log(classes))
    perfect = 10.0 * torch.nn.functional.one_hot(batch.targets[:, -1], classes).float()
    always_zero = torch.zeros(200, classes)
    always_zero[:, 0] = 1.0
    outputs = torch.stack([perfect, always_zero])  # K = 2 members, last-step readout
    scores = task.score(outputs, batch)
    share_of_zero = float((batch.targets[:, -1] == 0).float().mean())
    torch.testing.assert_close(scores["task/accuracy"], torch.tensor([1.0, share_of_zero]))
    assert scores["task/success"].tolist() == [True, False]
    assert task.correct(perfect[None, :, None], batch).all()  # per-step outputs (K, B, T, O)


@pytest.mark.parametrize("factor", [0.5, 0.2])
def test_circles_lie_on_radius_one_and_factor(factor):
    batch = Circles(noise=0.0, factor=factor).sample(500, seed=0)
    radius = batch.inputs[:, 0].norm(dim=-1)
    expected = torch.where(batch.targets[:, 0] == 0, 1.0, factor)
    torch.testing.assert_close(radius, expected)
    angle = torch.atan2(batch.inputs[:, 0, 1], batch.inputs[:, 0, 0])
    assert float(angle.min()) < -3.0 and float(angle.max()) > 3.0  # all the way round


def test_circle_noise_is_gaussian_of_the_given_std():
    clean, noisy = Circles(noise=0.0).sample(4000, seed=1), Circles(noise=0.05).sample(4000, seed=1)
    jitter = (noisy.inputs - clean.inputs).double()
    assert float(jitter.std()) == pytest.approx(0.05, rel=0.05)


@pytest.mark.parametrize(("classes", "turns"), [(2, 1.5), (3, 0.75)])
def test_spiral_points_follow_their_arm(classes, turns):
    batch = Spiral(classes=classes, turns=turns, noise=0.0).sample(500, seed=0)
    point, label = batch.inputs[:, 0].double(), batch.targets[:, 0].double()
    radius = point.norm(dim=-1)
    assert float(radius.min()) >= SPIRAL_START_RADIUS - 1e-6 and float(radius.max()) <= 1 + 1e-6
    t = (radius - SPIRAL_START_RADIUS) / (1 - SPIRAL_START_RADIUS)
    angle = 2 * math.pi * (turns * t + label / classes)
    torch.testing.assert_close(point, radius[:, None] * torch.stack([angle.cos(), angle.sin()], -1),
                               rtol=0, atol=1e-5)


def test_spiral_defaults_leave_a_perfect_classifier_above_the_success_accuracy():
    # The Bayes classifier of the generative model: integrate each arm's Gaussian likelihood over t.
    task = Spiral()
    batch = task.sample(2000, seed=5)
    t = (torch.arange(1000, dtype=torch.float64) + 0.5) / 1000
    radius = SPIRAL_START_RADIUS + (1 - SPIRAL_START_RADIUS) * t
    points = batch.inputs[:, 0].double()
    log_likelihood = []
    for arm in range(task.classes):
        angle = 2 * math.pi * (task.turns * t + arm / task.classes)
        on_arm = radius[:, None] * torch.stack([angle.cos(), angle.sin()], -1)
        squared = (points[:, None] - on_arm[None]).square().sum(-1)
        log_likelihood.append(torch.logsumexp(-squared / (2 * task.noise**2), dim=1))
    bayes = torch.stack(log_likelihood, -1).float()  # (B, classes) logits
    accuracy = float(task.score(bayes[None], batch)["task/accuracy"][0])
    assert task.success_accuracy <= accuracy < 1.0  # measured 0.996


def test_blobs_gather_around_their_documented_centers():
    task = Blobs(classes=4, spread=0.3)
    expected = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    assert torch.equal(task.centers(), expected)
    batch = task.sample(8000, seed=0)
    for k in range(4):
        cloud = batch.inputs[batch.targets[:, 0] == k, 0].double()
        torch.testing.assert_close(cloud.mean(0), expected[k].double(), rtol=0, atol=0.03)
        torch.testing.assert_close(cloud.std(0), torch.full((2,), 0.3, dtype=torch.float64), rtol=0.06, atol=0)


def test_registered_and_described():
    assert (TASKS["circles"], TASKS["spiral"], TASKS["blobs"]) == (Circles, Spiral, Blobs)
    assert make_task("spiral", classes=3) == Spiral(classes=3)
    assert make_task("circles", factor=0.3) == Circles(factor=0.3)
    assert make_task("blobs", spread=0.1) == Blobs(spread=0.1)
    assert Spiral().describe() == "spiral(classes=2, turns=1.5, noise=0.05)"
    assert Circles().describe() == "circles(noise=0.05, factor=0.5)"
    assert Blobs().describe() == "blobs(classes=3, spread=0.2)"


@pytest.mark.parametrize(
    ("cls", "params", "error", "match"),
    [
        (Circles, {"factor": 1.0}, ValueError,
         r"`factor` \(the inner circle's radius\) must lie in \(0, 1\), got 1\.0"),
        (Circles, {"factor": 0.0}, ValueError, r"`factor` .* must lie in \(0, 1\), got 0\.0"),
        (Circles, {"factor": "half"}, TypeError, r"`factor` must be a real number, got 'half'"),
        (Circles, {"noise": -0.01}, ValueError, r"`noise` must be at least 0\.0, got -0\.01"),
        (Spiral, {"classes": 1}, ValueError, r"`classes` must be at least 2, got 1"),
        (Spiral, {"classes": 2.0}, TypeError, r"`classes` must be an integer"),
        (Spiral, {"turns": 0.0}, ValueError, r"`turns` must be greater than 0\.0, got 0\.0"),
        (Spiral, {"noise": -1.0}, ValueError, r"`noise` must be at least 0\.0"),
        (Blobs, {"classes": 0}, ValueError, r"`classes` must be at least 2, got 0"),
        (Blobs, {"spread": float("inf")}, ValueError, r"`spread` must be finite"),
        (Blobs, {"spread": -0.2}, ValueError, r"`spread` must be at least 0\.0, got -0\.2"),
    ],
)
def test_invalid_parameters_raise(cls, params, error, match):
    with pytest.raises(error, match=match):
        cls(**params)
