"""The through-depth study: the sigmoid's gradient vanishes through depth, ReLU's does not, skips make it grow."""

import numpy as np
import pytest

from gradtrace.errors import RunInterrupted
from gradtrace.store import Store
from gradtrace.studies import run_study
from gradtrace.studies.through_depth import QUICK, ThroughDepth, ThroughDepthConfig
from gradtrace.studies.through_depth.figures import draw as through_depth_figures
from gradtrace.studies.through_depth.figures import through_depth_headline

SEEDS = 3
DEPTH = 12
SMALL = ThroughDepthConfig(activations=("sigmoid", "relu"), variants=("plain", "batch_norm", "residual"),
                           depth=DEPTH, width=8, sweep_depths=(2, 6, DEPTH),
                           sweep=(("sigmoid", "plain"), ("relu", "plain")), steps=5, batch_size=16,
                           probe_batch_size=32, eval_batch_size=32, trace_snapshots=5)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("through_depth"))
    run_study(ThroughDepth(SMALL), store, seeds=SEEDS)
    return store


def test_plans_name_one_run_per_network_and_one_sweep_per_pair():
    names = [spec.name for spec in ThroughDepth(SMALL).plan(quick=False, seeds=1)]
    assert names == ["sigmoid-plain", "sigmoid-batch_norm", "sigmoid-residual", "relu-plain", "relu-batch_norm",
                     "relu-residual", "depth-sigmoid-plain", "depth-relu-plain"]
    full = ThroughDepth().plan(quick=False, seeds=1)
    assert len(full) == 5 * 4 + 5 and {"relu-standard_init", "gelu-residual", "depth-relu-batch_norm"} <= {
        spec.name for spec in full}
    quick = ThroughDepth().plan(quick=True, seeds=1)
    # The quick form keeps depth 20 and the four networks the default run's closing note compares.
    assert QUICK.depth == 20 and {"sigmoid-plain", "relu-plain", "relu-batch_norm", "relu-residual"} <= {
        spec.name for spec in quick}
    assert max(s.steps for s in full) >= max(s.steps for s in quick)


def test_trained_runs_store_profiles_before_during_and_after_training(store):
    run = store.get("through-depth", "relu-plain")
    a = run.arrays
    for phase in ("init", "trained"):
        assert a[f"{phase}/grad_norms"].shape == (SEEDS, DEPTH)
        assert a[f"{phase}/weight_grad_norms"].shape == (SEEDS, DEPTH + 1)
        assert a[f"{phase}/first_last_ratio"].shape == (SEEDS,)
        assert np.isfinite(a[f"{phase}/grad_norms"]).all() and (a[f"{phase}/grad_norms"] > 0).all()
    assert a["relative_weight_change"].shape == (SEEDS, DEPTH + 1)
    assert (a["relative_weight_change"] > 0).all()
    snapshots = len(a["trace/step"])
    assert snapshots >= 1 and a["trace/grad_norms"].shape == (snapshots, SEEDS, DEPTH)
    assert a["train/loss"].shape == (SMALL.steps, SEEDS)
    s = run.summary
    assert (s["activation"], s["variant"], s["init"], s["depth"], s["seeds"]) == ("relu", "plain", "kaiming_uniform",
                                                                                DEPTH, SEEDS)
    assert s["init/first_last_ratio_min"] <= s["init/first_last_ratio"] <= s["init/first_last_ratio_max"]
    assert 0.0 <= s["task/accuracy"] <= 1.0 and s["diverged"] == 0


def test_the_sigmoid_gradient_vanishes_through_depth_and_relu_or_skips_keep_it(store):
    ratio = {name: store.get("through-depth", name).summary["init/first_last_ratio"]
             for name in ("sigmoid-plain", "relu-plain", "relu-batch_norm", "relu-residual", "sigmoid-residual")}
    # σ′ ≤ 1/4 over 11 layer Jacobians: 0.25^11 ≈ 2e-7, and Xavier weights give little back.
    assert ratio["sigmoid-plain"] < 1e-5
    assert ratio["sigmoid-plain"] < 1e-3 * ratio["relu-plain"]
    # A skip adds the identity to every layer Jacobian: the gradient reaches the first layer whole.
    assert ratio["relu-residual"] > 1 and ratio["sigmoid-residual"] > 0.5
    assert ratio["relu-batch_norm"] > ratio["relu-plain"]
    sigmoid = store.get("through-depth", "sigmoid-plain")
    relu = store.get("through-depth", "relu-plain")
    assert sigmoid.summary["init/decay_rate"] < 0.4 < relu.summary["init/decay_rate"]
    # Adam cannot move a layer whose gradient sits far below its ε.
    change = sigmoid.arrays["relative_weight_change"]
    assert (change[:, 0] < change[:, DEPTH - 1]).all()


def test_the_depth_sweep_falls_geometrically_for_the_sigmoid(store):
    sweep = store.get("through-depth", "depth-sigmoid-plain")
    a = sweep.arrays
    assert a["depths"].tolist() == [2, 6, DEPTH]
    assert a["first_last_ratio"].shape == (SEEDS, 3) and a["decay_rate"].shape == (SEEDS, 3)
    assert a[f"grad_norms/M{DEPTH}"].shape == (SEEDS, DEPTH)
    np.testing.assert_allclose(a["derivative_bound"], 0.25 ** (a["depths"] - 1.0))
    medians = np.median(a["first_last_ratio"], 0)
    assert medians[0] > medians[1] > medians[2]
    relu = store.get("through-depth", "depth-relu-plain").summary
    assert relu[f"ratio/M{DEPTH}"] > 1e3 * sweep.summary[f"ratio/M{DEPTH}"]
    assert relu[f"bound/M{DEPTH}"] == 1.0


def test_figures_tables_and_headline(store):
    figures, tables = through_depth_figures(store)
    assert [f.title for f in figures] == ["Gradient through depth, layer by layer",
                                         "Gradient through depth during training",
                                         "First-to-last gradient ratio against depth",
                                         "First-layer against last-layer learning speed"]
    assert all(f.png.startswith(b"\x89PNG") and f.caption for f in figures)
    runs, sweep = tables
    assert len(runs.rows) == 6 and all(len(row) == len(runs.columns) for row in runs.rows)
    assert len(sweep.rows) == 3 and sweep.rows[-1][0].startswith("0.25^(M−1)")
    headline = through_depth_headline(store)
    assert headline.startswith(f"At depth {DEPTH}") and "sigmoid" in headline and "ReLU + residual" in headline


def test_an_empty_store_draws_nothing(tmp_path):
    assert through_depth_figures(Store(tmp_path)) == ([], [])
    assert through_depth_headline(Store(tmp_path)) is None


def test_ctrl_c_keeps_the_trace_at_initialization(tmp_path, interrupt_at):
    store = Store(tmp_path)
    with pytest.raises(RunInterrupted, match="0 of 8 runs are finished"):
        run_study(ThroughDepth(SMALL), store, seeds=1, progress=interrupt_at(step=2))
    partial = store.get("through-depth", "sigmoid-plain")
    assert partial.status == "interrupted" and partial.summary == {}
    assert partial.arrays["init/grad_norms"].shape == (1, DEPTH)


@pytest.mark.parametrize(("change", "match"), [
    ({"activations": ("swish",)}, "Unknown activation 'swish' for `activations`"),
    ({"variants": ("plain", "dropout")}, "Unknown variant 'dropout' for `variants`"),
    ({"sweep": (("relu",),)}, "`sweep` must be tuple"),
    ({"depth": 1}, "`depth` must be at least 2"),
    ({"optimizer": "lbfgs"}, "Unknown optimizer 'lbfgs'"),
    ({"activations": ("relu", "relu")}, "without repeats"),
])
def test_bad_configs_are_refused(change, match):
    with pytest.raises(ValueError, match=match):
        ThroughDepthConfig(**change)


def test_a_config_of_the_wrong_type_is_refused():
    with pytest.raises(TypeError, match="ThroughDepthConfig or None"):
        ThroughDepth({"depth": 3})
