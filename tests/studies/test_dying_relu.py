"""The dying-ReLU study: negative biases and large steps leave ReLU units dead; leaky ones stay alive."""

import numpy as np
import pytest
import torch

from gradtrace.errors import RunInterrupted
from gradtrace.models import MLP
from gradtrace.store import Store
from gradtrace.studies.base import run_study
from gradtrace.studies.dying_relu import DyingRelu, DyingReluConfig, UnitMonitor
from gradtrace.studies.dying_relu.figures import draw as dying_relu_figures
from gradtrace.tasks import Circles

SEEDS = 3
SMALL = DyingReluConfig(activations=("relu", "leaky_relu"), depth=3, width=8, steps=30, batch_size=16,
                        probe_batch_size=64, measure_every=10, eval_batch_size=64)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("dying-relu"))
    run_study(DyingRelu(SMALL), store, seeds=SEEDS)
    return store


def test_runs_and_shapes(store):
    assert store.names("dying-relu") == [f"{a}-{c}" for c in SMALL.conditions for a in SMALL.activations]
    run = store.get("dying-relu", "relu-normal")
    checkpoints = SMALL.steps // SMALL.measure_every + 1
    assert run.arrays["probe/step"].tolist() == [0, 10, 20, 30]
    assert run.arrays["dead"].shape == (checkpoints, SEEDS, SMALL.depth)
    assert run.arrays["inactive"].shape == (checkpoints, SEEDS, SMALL.depth)
    assert run.arrays["unit_inactive"].shape == (checkpoints, SEEDS, SMALL.depth, SMALL.width)
    assert run.arrays["train/loss"].shape == (SMALL.steps, SEEDS)
    s = run.summary
    assert 0 <= s["dead_init"] <= 1 and 0 <= s["dead_end"] <= 1
    assert s["units"] == SEEDS * SMALL.depth * SMALL.width and s["diverged"] == 0
    assert 0 <= s["revived"] <= s["ever_inactive"] <= s["units"]


def test_relu_dead_means_inactive_and_leaky_units_never_die(store):
    relu = store.get("dying-relu", "relu-negative_bias")
    np.testing.assert_array_equal(relu.arrays["dead"], relu.arrays["inactive"])
    leaky = store.get("dying-relu", "leaky_relu-negative_bias")
    assert (leaky.arrays["dead"] == 0).all()
    # Nearly the same start (same seeds, biases; the leaky slope barely moves deeper inputs): about as
    # many units start switched off, but only ReLU's are dead.
    assert abs(leaky.summary["inactive_init"] - relu.summary["inactive_init"]) < 0.1
    assert leaky.summary["inactive_init"] > 0.5


def test_negative_bias_kills_relus_for_good_and_a_large_step_kills_more(store):
    normal = store.get("dying-relu", "relu-normal").summary
    negative = store.get("dying-relu", "relu-negative_bias")
    assert negative.summary["dead_init"] > normal["dead_init"] + 0.3
    # No gradient reaches a dead unit, and a cut network changes nothing below it.
    assert negative.summary["revived"] == 0
    assert negative.summary["dead_end"] >= negative.summary["dead_init"]
    large = store.get("dying-relu", "relu-large_lr").summary
    assert large["dead_end"] > normal["dead_end"]
    assert normal["task/accuracy"] > negative.summary["task/accuracy"]


def test_monitor_blanks_diverged_members():
    model = MLP(2, depth=2, width=4, output_size=2, activation="gelu", num_models=3, seed=0)
    monitor = UnitMonitor(model, Circles().sample(16, seed=0))
    monitor.measure(0)
    monitor.measure(5, torch.tensor([False, True, False]))
    monitor.measure(10, torch.tensor([False, False, False]))  # divergence is sticky
    arrays = monitor.arrays()
    assert np.isnan(arrays["dead"][1:, 1]).all() and np.isfinite(arrays["dead"][:, [0, 2]]).all()
    assert (arrays["unit_inactive"][1:, 1] == -1).all() and (arrays["unit_inactive"][0] >= 0).all()


def test_monitor_records_prelu_slopes():
    model = MLP(2, depth=2, width=4, output_size=2, activation="prelu", num_models=2, seed=0)
    monitor = UnitMonitor(model, Circles().sample(16, seed=0))
    monitor.measure(0)
    np.testing.assert_allclose(monitor.arrays()["slope"], 0.25)


def test_unequal_widths_are_refused():
    model = MLP(2, [4, 3], 2, activation="relu", seed=0)
    with pytest.raises(ValueError, match="equal width.*hidden_sizes=\\[4, 3\\]"):
        UnitMonitor(model, Circles().sample(4, seed=0))


def test_interrupted_run_keeps_its_measurements():
    spec = DyingRelu(SMALL).plan(quick=False, seeds=2)[0]

    def interrupt(step, metrics):
        if step == 14:
            raise KeyboardInterrupt

    with pytest.raises(RunInterrupted) as caught:
        spec.execute(interrupt)
    partial = caught.value.partial
    assert partial.status == "interrupted"
    assert partial.arrays["probe/step"].tolist() == [0, 10]


@pytest.mark.parametrize(("change", "message"), [
    ({"activations": ("relu", "swish")}, "Unknown or no activations \\['swish'\\].*Available: relu, leaky_relu"),
    ({"conditions": ()}, "Unknown or no conditions \\[\\]"),
    ({"measure_every": 0}, "`measure_every` must be at least 1"),
])
def test_bad_config_is_refused(change, message):
    config = DyingReluConfig(**change)
    with pytest.raises(ValueError, match=message):
        DyingRelu(config).plan(quick=False, seeds=1)


def test_quick_plan_is_small():
    specs = DyingRelu().plan(quick=True, seeds=2)
    assert len(specs) == 4 and all(spec.steps <= 50 for spec in specs)


def test_figures_and_table(store):
    figures, tables = dying_relu_figures(store)
    assert [f.title for f in figures] == ["Dead and inactive units during training",
                                          "Dead and inactive units per layer after training"]
    assert all(f.png.startswith(b"\x89PNG") for f in figures)
    assert len(tables) == 1 and len(tables[0].rows) == len(SMALL.conditions) * len(SMALL.activations)
    assert dying_relu_figures(Store(store.root / "empty")) == ([], [])
