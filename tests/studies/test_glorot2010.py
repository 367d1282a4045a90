"""The glorot2010 study: the standard init shrinks activations, gradients and Jacobians layer by layer."""

import numpy as np
import pytest
import torch

from gradtrace.store import Store
from gradtrace.studies import run_study
from gradtrace.studies.glorot2010.figures import draw as glorot2010_figures
from gradtrace.studies.glorot2010.study import (
    PUBLISHED,
    QUARTER_CIRCLE_MEAN,
    QUICK,
    Glorot2010,
    Glorot2010Config,
    _model,
)

SEEDS = 2
SMALL = Glorot2010Config(width=48, input_size=64, examples=32, jacobian_examples=2, bins=20)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("glorot2010"))
    run_study(Glorot2010(SMALL), store, seeds=SEEDS)
    return store


def test_one_run_per_init_and_a_quick_form_of_the_same_network():
    assert [s.name for s in Glorot2010().plan(quick=False, seeds=1)] == ["standard", "normalized"]
    assert (QUICK.depth, QUICK.width, Glorot2010Config().width) == (5, 64, 1000)


def test_arrays_have_the_documented_shapes(store):
    M, n = SMALL.depth, SMALL.width  # noqa: N806
    for name in ("standard", "normalized"):
        a = store.get("glorot2010", name).arrays
        for key in ("activation_mean", "activation_std", "saturated_fraction", "backprop_std", "backprop_norms",
                    "state_grad_norms"):
            assert a[key].shape == (SEEDS, M), key
        assert a["weight_grad_rms"].shape == (SEEDS, M + 1)
        assert a["weight_scale"].shape == a["mean_singular_value"].shape == (SEEDS, M - 1)
        assert a["singular_values"].shape == (SEEDS, M - 1, n)
        assert a["activation_histogram"].shape == a["gradient_histogram"].shape == (M, SMALL.bins)
        assert a["activation_edges"].shape == (SMALL.bins + 1,)
        assert np.isfinite(a["singular_values"]).all() and (a["singular_values"] >= 0).all()


def test_standard_init_shrinks_signals_and_jacobians_and_normalized_does_less(store):
    standard, normalized = (store.get("glorot2010", name) for name in ("standard", "normalized"))
    s, z = standard.summary, normalized.summary
    assert (s["published_singular_value"], z["published_singular_value"]) == (0.5, 0.8)
    # n·Var[W] = 1/3: the quarter-circle mean (8/3π)/√3 ≈ 0.49; normalized: 8/3π ≈ 0.85.
    assert s["linear_prediction"] == pytest.approx(QUARTER_CIRCLE_MEAN / np.sqrt(3), rel=0.1)
    assert z["linear_prediction"] == pytest.approx(QUARTER_CIRCLE_MEAN, rel=0.1)
    assert 0.35 < s["mean_singular_value"] < 0.6 < z["mean_singular_value"] < 0.9
    assert s["mean_singular_value_min"] <= s["mean_singular_value"] <= s["mean_singular_value_max"]
    # Activations: each standard layer divides the variance by about 3.
    assert s["activation_std/last"] < s["activation_std/first"] / 4
    assert z["activation_std/last"] > z["activation_std/first"] / 4
    # The back-propagated gradient shrinks on its way down, much more with the standard init.
    assert s["backprop_std_ratio"] < 0.5 * z["backprop_std_ratio"] and s["backprop_std_ratio"] < 0.3
    # ... while the weight gradients per entry stay of one size (the paper's eq. 14).
    assert 0.3 < s["weight_grad_rms_ratio"] < 3


def test_standard_init_starts_every_bias_at_zero():
    model = _model(SMALL, "standard", 2)
    biases = [p for name, p in model.named_parameters() if name.startswith("b_")]
    assert len(biases) == SMALL.depth + 1 and all(bool((b == 0).all()) for b in biases)
    bound = 1 / np.sqrt(SMALL.width)
    largest = float(model.W_2.detach().abs().max())
    assert 0.9 * bound < largest <= bound
    assert torch.count_nonzero(_model(SMALL, "normalized", 1).W_3) > 0


def test_published_figures_are_cited():
    assert PUBLISHED.settings["mean_jacobian_singular_value"] == {"standard": 0.5, "normalized": 0.8}
    assert "Glorot & Bengio 2010" in PUBLISHED.source and "4.2.2" in PUBLISHED.source


def test_figures_and_published_against_measured_table(store):
    figures, tables = glorot2010_figures(store)
    assert [f.title for f in figures] == ["Activations layer by layer at initialization",
                                         "Back-propagated gradients layer by layer at initialization",
                                         "Singular values of the layer Jacobians"]
    assert all(f.png.startswith(b"\x89PNG") and f.caption for f in figures)
    (table,) = tables
    rows = {row[0]: row for row in table.rows}
    assert rows["standard U[±1/√n]"][1] == "≈ 0.5" and rows["normalized (Xavier)"][1] == "≈ 0.8"
    assert all(len(row) == len(table.columns) for row in table.rows)
    assert glorot2010_figures(Store(store.root / "empty")) == ([], [])


@pytest.mark.parametrize(("change", "match"), [
    ({"inits": ("standard", "he")}, "Unknown initialization 'he' for `inits`"),
    ({"inputs": "images"}, "Unknown input kind 'images'"),
    ({"depth": 1}, "`depth` must be at least 2"),
    ({"examples": 4, "jacobian_examples": 8}, "`jacobian_examples` must be at most 4"),
    ({"inits": ()}, "non-empty tuple"),
])
def test_bad_configs_are_refused(change, match):
    with pytest.raises(ValueError, match=match):
        Glorot2010Config(**change)


def test_a_config_of_the_wrong_type_is_refused():
    with pytest.raises(TypeError, match="Glorot2010Config or None"):
        Glorot2010("quick")
