"""The dying-ReLU study: negative biases and large steps leave ReLU units dead; its variants' units come back."""

import numpy as np
import pytest
import torch

from gradtrace.errors import RunInterrupted
from gradtrace.models import MLP
from gradtrace.store import Store
from gradtrace.studies.base import run_study
from gradtrace.studies.claims import Results
from gradtrace.studies.dying_relu import QUICK, Condition, DyingRelu, DyingReluConfig, Key, UnitMonitor
from gradtrace.studies.dying_relu.figures import draw
from gradtrace.tasks import Circles

SEEDS = 3
SMALL = DyingReluConfig(activations=("relu", "leaky_relu"), depth=3, width=8, steps=30, batch_size=16,
                        probe_batch_size=64, measure_every=10, eval_batch_size=64)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("dying-relu"))
    run_study(DyingRelu(SMALL), store, seeds=SEEDS)
    return store


def _verdicts(store, config):
    claims = DyingRelu(config).claims(quick=False, seeds=SEEDS)
    return {claim.name: claim.check(Results(store, "dying-relu")) for claim in claims}


def test_runs_and_shapes(store):
    assert store.names("dying-relu") == [f"{a}-{c}" for c in SMALL.conditions for a in SMALL.activations]
    run = store.get("dying-relu", "relu-normal")
    checkpoints = SMALL.steps // SMALL.measure_every + 1
    assert run.arrays[Key.PROBE_STEP].tolist() == [0, 10, 20, 30]
    assert run.arrays[Key.DEAD].shape == (checkpoints, SEEDS, SMALL.depth)
    assert run.arrays[Key.INACTIVE].shape == (checkpoints, SEEDS, SMALL.depth)
    assert run.arrays[Key.UNIT_INACTIVE].shape == (checkpoints, SEEDS, SMALL.depth, SMALL.width)
    assert run.arrays[Key.TRAIN_LOSS].shape == (SMALL.steps, SEEDS)
    s = run.summary
    assert 0 <= s[Key.DEAD_INIT] <= 1 and s[Key.DEAD_END_MIN] <= s[Key.DEAD_END] <= s[Key.DEAD_END_MAX]
    assert s[Key.UNITS] == SEEDS * SMALL.depth * SMALL.width and s[Key.DIVERGED] == 0
    assert 0 <= s[Key.REVIVED] <= s[Key.EVER_INACTIVE] <= s[Key.UNITS]
    assert s[Key.REVIVED_FRACTION] == pytest.approx(s[Key.REVIVED] / s[Key.EVER_INACTIVE])


def test_relu_dead_means_inactive_and_leaky_units_never_die(store):
    relu = store.get("dying-relu", "relu-negative_bias")
    np.testing.assert_array_equal(relu.arrays[Key.DEAD], relu.arrays[Key.INACTIVE])
    leaky = store.get("dying-relu", "leaky_relu-negative_bias")
    assert (leaky.arrays[Key.DEAD] == 0).all()
    # The same start (same seeds and biases): as many units start switched off, but only ReLU's are dead.
    assert leaky.summary[Key.INACTIVE_INIT] == relu.summary[Key.INACTIVE_INIT] > 0.5


def test_negative_bias_kills_relus_for_good_and_a_large_step_kills_more(store):
    normal = store.get("dying-relu", "relu-normal").summary
    negative = store.get("dying-relu", "relu-negative_bias").summary
    assert negative[Key.DEAD_INIT] > normal[Key.DEAD_INIT] + 0.3
    # No gradient reaches a dead unit, and a cut network changes nothing below it.
    assert negative[Key.REVIVED] == 0 and negative[Key.DEAD_END] >= negative[Key.DEAD_INIT]
    large = store.get("dying-relu", "relu-large_lr").summary
    assert large[Key.DEAD_END] > normal[Key.DEAD_END]


def test_claims_are_built_from_the_runs_the_config_has(store):
    verdicts = _verdicts(store, SMALL)
    assert set(verdicts) == {"large-lr-kills-relus", "switched-off-units-come-back",
                             "negative-bias-relus-never-return"}
    assert all(v.measured for v in verdicts.values())
    negative = verdicts["negative-bias-relus-never-return"]
    assert negative.values["relu_revived"] == 0
    assert "Leaky ReLU" in negative.sentence["en"] and "com a Leaky ReLU" in negative.sentence["pt"]
    # ReLU only: nothing to compare it with.
    assert [c.name for c in DyingRelu(SMALL.model_copy(update={"activations": ("relu",)})).claims(
        quick=False, seeds=SEEDS)] == ["large-lr-kills-relus"]


def test_without_negative_biases_the_relus_are_not_dead_and_the_claim_fails(tmp_path):
    # Biases at 0 instead of −1: ReLU units start alive, so "most start dead and none returns" must not hold.
    config = SMALL.model_copy(update={"conditions": (Condition.NEGATIVE_BIAS,), "negative_bias": 0.0})
    store = Store(tmp_path)
    run_study(DyingRelu(config), store, seeds=SEEDS)
    verdict = _verdicts(store, config)["negative-bias-relus-never-return"]
    assert verdict.measured and not verdict.held
    assert verdict.values["relu_init"] < 0.5


def test_monitor_blanks_diverged_members():
    model = MLP(2, depth=2, width=4, output_size=2, activation="gelu", num_models=3, seed=0)
    monitor = UnitMonitor(model, Circles().sample(16, seed=0))
    monitor.measure(0)
    monitor.measure(5, torch.tensor([False, True, False]))
    monitor.measure(10, torch.tensor([False, False, False]))  # divergence is sticky
    arrays = monitor.arrays()
    assert np.isnan(arrays[Key.DEAD][1:, 1]).all() and np.isfinite(arrays[Key.DEAD][:, [0, 2]]).all()
    assert (arrays[Key.UNIT_INACTIVE][1:, 1] == -1).all() and (arrays[Key.UNIT_INACTIVE][0] >= 0).all()


def test_monitor_records_prelu_slopes():
    model = MLP(2, depth=2, width=4, output_size=2, activation="prelu", num_models=2, seed=0)
    monitor = UnitMonitor(model, Circles().sample(16, seed=0))
    monitor.measure(0)
    np.testing.assert_allclose(monitor.arrays()[Key.SLOPE], 0.25)


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
    assert partial.arrays[Key.PROBE_STEP].tolist() == [0, 10]


@pytest.mark.parametrize(("change", "message"), [
    ({"activations": ("relu", "swish")}, "Unknown or no activations \\['swish'\\].*Available: relu, leaky_relu"),
    ({"conditions": ()}, "Unknown or no conditions \\[\\]"),
    ({"measure_every": 0}, "`measure_every` must be at least 1"),
    ({"optimizer": "lbfgs"}, "Unknown optimizer 'lbfgs' for `optimizer`. Available: 'sgd', 'adam', 'rmsprop'"),
])
def test_bad_config_is_refused(change, message):
    with pytest.raises(ValueError, match=message):
        DyingReluConfig(**change)


def test_quick_plan_is_small():
    specs = DyingRelu().plan(quick=True, seeds=2)
    assert len(specs) == 4 and all(spec.steps <= 50 for spec in specs)
    assert DyingRelu().resolve(quick=True) == QUICK


def test_figures_and_table(store):
    drawn = {lang: draw(store, lang) for lang in ("en", "pt")}
    for figures, tables in drawn.values():
        assert len(figures) == 2 and all(f.png.startswith(b"\x89PNG") and f.caption for f in figures)
        assert len(tables) == 1 and len(tables[0].rows) == len(SMALL.conditions) * len(SMALL.activations)
    (figures, (table,)), (figures_pt, (table_pt,)) = drawn["en"], drawn["pt"]
    assert [f.title for f in figures] == ["Dead and inactive units during training",
                                          "Dead and inactive units per layer after training"]
    assert table.rows[0][2] == "0.005" and table_pt.rows[0][2] == "0,005"
    assert "ReLU agonizante" in figures_pt[0].caption and "dying ReLU" in figures[0].caption
    assert draw(Store(store.root / "empty")) == ([], [])
