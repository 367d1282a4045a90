"""The depth-cures study: its plan, what a run stores, its figures in both languages, its claims."""

import pytest

from gradtrace.store import Store
from gradtrace.studies import STUDIES, evaluate_claims, run_study
from gradtrace.studies.depth_cures import QUICK, DepthCures, DepthCuresConfig
from gradtrace.studies.depth_cures.figures import draw
from gradtrace.studies.through_depth.runs import ACCURACY, GRAD_NORMS, HISTORY_ACCURACY, RATIO, phase_key

SEEDS = 2
CLAIMS = ["plain-deep-sigmoid-cannot-train", "initialization-keeps-the-gradient",
          "no-initialization-rescues-the-sigmoid", "batch-norm-trains-deep-sigmoid", "residual-trains-deep-sigmoid",
          "residual-branches-scaled"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("depth_cures"))
    run_study(DepthCures(), store, quick=True, seeds=SEEDS)
    return store


def test_the_registry_has_the_study_and_the_plan_starts_with_the_costliest_run():
    assert STUDIES["depth-cures"] is DepthCures
    names = [spec.name for spec in DepthCures().plan(quick=False, seeds=1)]
    assert names[0] == "sigmoid-standard-batch_norm" and len(names) == len(set(names)) == 10
    assert {"sigmoid-standard", "tanh-xavier", "relu-he-scaled_residual"} <= set(names)


def test_a_run_stores_profiles_accuracy_and_the_branch_scale(store):
    for name in ("sigmoid-standard", "relu-he-scaled_residual", "sigmoid-standard-batch_norm"):
        run = store.get("depth-cures", name)
        assert run.arrays[phase_key("init", GRAD_NORMS)].shape == (SEEDS, QUICK.depth)
        assert run.arrays[phase_key("init", RATIO)].shape == run.arrays[ACCURACY].shape == (SEEDS,)
        assert run.arrays[HISTORY_ACCURACY].shape[1] == SEEDS
    scaled = store.get("depth-cures", "relu-he-scaled_residual").config
    assert scaled["residual_scale"] == pytest.approx(QUICK.depth ** -0.5) and scaled["cure"] == "scaled_residual"
    assert store.get("depth-cures", "relu-he-residual").config["residual_scale"] == 1.0


@pytest.mark.parametrize("lang", ["en", "pt"])
def test_figures_and_the_table_draw_in_both_languages(store, lang):
    figures, tables = draw(store, lang=lang)
    assert len(figures) == 3 and all(f.png.startswith(b"\x89PNG") and f.caption for f in figures)
    table, = tables
    # Rows follow the config's order whatever order the workers finished in.
    assert len(table.rows) == 10 and table.rows[0][0] == ("sigmoid, U[±1/√n]" if lang == "en" else
                                                          "sigmoide, U[±1/√n]")
    if lang == "pt":
        assert "normalização em lote" in table.rows[6][0] and "0,408" in table.caption


def test_an_empty_store_draws_nothing(tmp_path):
    assert draw(Store(tmp_path)) == ([], [])


def test_the_claims_are_measured_on_the_quick_runs(store):
    verdicts = evaluate_claims(store, DepthCures())
    assert [v.name for v in verdicts] == CLAIMS
    assert all(v.measured and "{" not in v.sentence["en"] + v.sentence["pt"] for v in verdicts)


def test_the_plain_sigmoid_claim_fails_where_the_network_is_shallow(tmp_path):
    # Two sigmoid layers pass a quarter of the gradient back, and the network learns the blobs.
    shallow = DepthCuresConfig(depth=2, width=8, steps=40, lr=1e-2, batch_size=16, probe_batch_size=32,
                               eval_batch_size=64, networks=(("sigmoid", "standard", "plain"),))
    store = Store(tmp_path)
    run_study(DepthCures(shallow), store, seeds=SEEDS)
    verdict, = evaluate_claims(store, DepthCures(shallow))
    assert verdict.name == "plain-deep-sigmoid-cannot-train" and not verdict.held
    assert verdict.values["best"] > 1 / 3 + 0.1


def test_claims_leave_out_the_networks_the_config_does_not_run():
    only = DepthCuresConfig(networks=(("sigmoid", "standard", "plain"), ("relu", "he", "residual")))
    assert [c.name for c in DepthCures(only).claims(quick=False, seeds=SEEDS)] == ["plain-deep-sigmoid-cannot-train"]
    assert DepthCures(DepthCuresConfig(networks=(("relu", "he", "plain"),))).claims(quick=False, seeds=SEEDS) == []


@pytest.mark.parametrize(("change", "match"), [
    ({"networks": (("sigmoid", "standard", "dropout"),)}, "Unknown cure 'dropout'"),
    ({"networks": (("sigmoid", "standard", "plain"),) * 2}, "must not repeat"),
    ({"networks": ()}, "at least one"),
    ({"batch_size": 1}, "`batch_size` must be at least 2"),
])
def test_bad_configs_are_refused(change, match):
    with pytest.raises(ValueError, match=match):
        DepthCuresConfig(**change)
