"""The through-depth study: its plan, what a run stores, its figures in both languages, its claims."""

import numpy as np
import pytest

from gradtrace.errors import ConfigError, RunInterrupted
from gradtrace.store import Store
from gradtrace.studies import evaluate_claims, run_study
from gradtrace.studies.through_depth import QUICK, ThroughDepth, ThroughDepthConfig
from gradtrace.studies.through_depth.figures import draw
from gradtrace.studies.through_depth.runs import (
    ACCURACY,
    DEPTHS,
    GRAD_NORMS,
    HISTORY_ACCURACY,
    LEARNING_SPEED,
    RATIO,
    SWEEP_RATIO,
    WEIGHT_CHANGE,
    phase_key,
)

SEEDS = 2
NAMES = ["sigmoid-standard", "sigmoid-xavier", "tanh-xavier", "relu-he"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("through_depth"))
    run_study(ThroughDepth(), store, quick=True, seeds=SEEDS)
    return store


def test_one_run_per_network_in_both_plans():
    assert [spec.name for spec in ThroughDepth().plan(quick=False, seeds=1)] == NAMES
    assert [spec.name for spec in ThroughDepth().plan(quick=True, seeds=1)] == NAMES
    assert ThroughDepthConfig().depth == 20 and max(ThroughDepthConfig().sweep_depths) == 50


def test_a_run_stores_the_sweep_the_profiles_and_the_training(store):
    depth, depths = QUICK.depth, QUICK.sweep_depths
    for name in NAMES:
        run = store.get("through-depth", name)
        a = run.arrays
        assert a[DEPTHS].tolist() == list(depths) and a[SWEEP_RATIO].shape == (SEEDS, len(depths))
        for phase in ("init", "trained"):
            assert a[phase_key(phase, GRAD_NORMS)].shape == (SEEDS, depth)
            assert a[phase_key(phase, RATIO)].shape == (SEEDS,)
        assert a[WEIGHT_CHANGE].shape == (SEEDS, depth + 1) and (a[WEIGHT_CHANGE] > 0).all()
        assert a[LEARNING_SPEED].shape == a[ACCURACY].shape == (SEEDS,)
        assert a[HISTORY_ACCURACY].shape[1] == SEEDS
        s = run.summary
        assert s["network"] == name and s["depth"] == depth and s["seeds"] == SEEDS
        assert s[phase_key("init", RATIO) + "_min"] <= s[phase_key("init", RATIO)]
        assert run.config["chance"] == pytest.approx(1 / 3)
    # σ′ ≤ 1/4 at every one of the M − 1 layers: the standard sigmoid's ratio falls with depth.
    ratios = np.median(store.get("through-depth", "sigmoid-standard").arrays[SWEEP_RATIO], 0)
    assert (np.diff(ratios) < 0).all()


@pytest.mark.parametrize("lang", ["en", "pt"])
def test_figures_and_tables_draw_in_both_languages(store, lang):
    figures, tables = draw(store, lang=lang)
    assert len(figures) == 3 and all(f.png.startswith(b"\x89PNG") and f.caption for f in figures)
    runs, sweep = tables
    assert [row[0] for row in runs.rows][:2] == (["sigmoid, U[±1/√n]", "sigmoid, Xavier"] if lang == "en" else
                                                 ["sigmoide, U[±1/√n]", "sigmoide, Xavier"])
    assert all(len(row) == len(table.columns) for table in tables for row in table.rows)
    assert len(sweep.rows) == len(NAMES) + 1
    if lang == "pt":
        assert "taxa de aprendizado 0,002" in runs.caption and sweep.rows[-1][1] == "0,25"


def test_an_empty_store_draws_nothing(tmp_path):
    assert draw(Store(tmp_path)) == ([], [])


def test_the_claims_are_measured_on_the_quick_runs(store):
    verdicts = evaluate_claims(store, ThroughDepth())
    assert [v.name for v in verdicts] == ["sigmoid-under-its-bound", "sigmoid-first-layers-starve",
                                          "sigmoid-first-layers-barely-learn"]
    assert all(v.measured and v.sentence["en"] and v.sentence["pt"] for v in verdicts)
    assert verdicts[0].held  # the bound holds at any depth with the standard init


def test_the_learning_speed_claim_fails_where_the_network_is_shallow(tmp_path):
    # Two layers: the sigmoid's first layer gets a quarter of the last one's gradient, and Adam moves it as far.
    shallow = ThroughDepthConfig(depth=2, width=8, sweep_depths=(2,), steps=5, batch_size=16, probe_batch_size=32,
                                 eval_batch_size=32)
    store = Store(tmp_path)
    run_study(ThroughDepth(shallow), store, seeds=SEEDS)
    verdicts = {v.name: v for v in evaluate_claims(store, ThroughDepth(shallow))}
    assert verdicts["sigmoid-under-its-bound"].held
    assert not verdicts["sigmoid-first-layers-barely-learn"].held
    assert verdicts["sigmoid-first-layers-barely-learn"].values["sigmoid"] > 1e-3


def test_ctrl_c_keeps_the_trace_at_initialization(tmp_path, interrupt_at):
    store = Store(tmp_path)
    with pytest.raises(RunInterrupted, match="0 of 4 runs are finished"):
        run_study(ThroughDepth(), store, quick=True, seeds=1, progress=interrupt_at(step=2))
    partial = store.get("through-depth", "sigmoid-standard")
    assert partial.status == "interrupted" and partial.summary == {}
    assert partial.arrays[phase_key("init", GRAD_NORMS)].shape == (1, QUICK.depth)


@pytest.mark.parametrize(("change", "error", "match"), [
    ({"networks": (("swish", "xavier"),)}, ValueError, "Unknown activation 'swish'"),
    ({"networks": (("relu", "lecun"),)}, ValueError, "Unknown initialization 'lecun'"),
    ({"networks": (("relu", "he"), ("relu", "he"))}, ValueError, "must not repeat"),
    ({"networks": ()}, ValueError, "at least one"),
    ({"sweep_depths": (1, 5)}, ValueError, "at least 2"),
    ({"depth": 1}, ValueError, "`depth` must be at least 2"),
    ({"optimizer": "lbfgs"}, ValueError, "Unknown optimizer 'lbfgs'"),
    ({"variants": ("plain",)}, ConfigError, "no key 'variants'"),
])
def test_bad_configs_are_refused(change, error, match):
    with pytest.raises(error, match=match):
        ThroughDepthConfig(**change)


def test_a_config_of_the_wrong_type_is_refused():
    with pytest.raises(TypeError, match="ThroughDepthConfig or None"):
        ThroughDepth({"depth": 3})
