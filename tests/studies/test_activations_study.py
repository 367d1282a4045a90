"""The activations study: each function and derivative, checked by autograd, and the bound (max φ′)^M."""

import numpy as np
import pytest

from gradtrace.activations import ACTIVATIONS
from gradtrace.store import Store
from gradtrace.studies.activations import QUICK, Activations, ActivationsConfig
from gradtrace.studies.activations.figures import draw as activations_figures
from gradtrace.studies.base import run_study


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("activations"))
    run_study(Activations(), store)
    return store


def test_one_run_per_activation_with_its_curves(store):
    assert store.names("activations") == list(ACTIVATIONS)
    config = ActivationsConfig()
    for name in ACTIVATIONS:
        a = store.get("activations", name).arrays
        assert a["x"].shape == a["value"].shape == a["derivative"].shape == (config.points,)
        assert a["x"][0] == -config.x_max and a["x"][-1] == config.x_max
        np.testing.assert_array_equal(a["layers"], np.arange(1, config.max_layers + 1))


def test_the_hand_written_derivatives_agree_with_autograd(store):
    for name in ACTIVATIONS:
        run = store.get("activations", name)
        assert run.summary["autograd_difference"] < 1e-12, name
        np.testing.assert_allclose(run.arrays["derivative"], run.arrays["derivative_autograd"], atol=1e-12)


def test_the_supremum_bounds_the_derivative_and_is_reached(store):
    for name in ACTIVATIONS:
        run = store.get("activations", name)
        assert run.arrays["derivative"].max() <= run.summary["max_derivative"] + 1e-12, name
    for name in ("sigmoid", "tanh", "relu", "gelu", "linear"):
        summary = store.get("activations", name).summary
        assert summary["max_derivative_on_grid"] == pytest.approx(summary["max_derivative"], abs=1e-6), name


def test_the_seeds_numbers(store):
    sigmoid, tanh = store.get("activations", "sigmoid").summary, store.get("activations", "tanh").summary
    assert sigmoid["max_derivative"] == 0.25 and sigmoid["derivative_at_0"] == 0.25 and sigmoid["saturating"]
    assert sigmoid["bound_10"] == pytest.approx(0.25**10) and sigmoid["bound_20"] == pytest.approx(0.25**20)
    assert tanh["max_derivative"] == 1.0 and tanh["bound_20"] == 1.0 and tanh["saturating"]
    relu = store.get("activations", "relu")
    assert relu.summary["derivative_at_0"] == 0.0 and not relu.summary["saturating"]
    np.testing.assert_allclose(relu.arrays["bound"], 1.0)
    # The typical factor: rms φ′ under N(0, 1); for ReLU √½ (to the grid's accuracy at the kink).
    assert relu.summary["rms_derivative"] == pytest.approx(np.sqrt(0.5), abs=2e-3)
    assert store.get("activations", "linear").summary["rms_derivative"] == pytest.approx(1.0)
    assert store.get("activations", "prelu").summary["learnable"]
    gelu = store.get("activations", "gelu").summary
    assert gelu["bound_10"] == pytest.approx(gelu["max_derivative"] ** 10) and gelu["bound_10"] > 1


def test_figures_and_table(store):
    figures, tables = activations_figures(store)
    assert [f.title for f in figures] == ["Activation functions and their derivatives",
                                          "What the activations let through M layers"]
    assert all(f.png.startswith(b"\x89PNG\r\n\x1a\n") and f.caption for f in figures)
    (table,) = tables
    assert table.columns[:5] == ["activation", "max φ′", "φ′(0)", "bound after 10 layers",
                                 "bound after 20 layers"]
    rows = {row[0]: row for row in table.rows}
    assert rows["sigmoid (saturating)"][1:5] == ["0.25", "0.25", "9.54e-07", "9.09e-13"]
    assert rows["tanh (saturating)"][1:5] == ["1", "1", "1", "1"]


def test_the_quick_form_uses_fewer_points(tmp_path):
    store = Store(tmp_path)
    run_study(Activations(), store, quick=True)
    assert store.get("activations", "tanh").arrays["x"].shape == (QUICK.points,)
    assert QUICK.points < ActivationsConfig().points


def test_an_empty_store_draws_nothing(tmp_path):
    assert activations_figures(Store(tmp_path)) == ([], [])


def test_a_subset_and_wrong_configs():
    plan = Activations(ActivationsConfig(activations=("tanh", "relu"))).plan(quick=False, seeds=1)
    assert [s.name for s in plan] == ["tanh", "relu"]
    with pytest.raises(ValueError, match=r"Unknown activation\(s\) \['swish'\].*Available: step, sigmoid"):
        Activations(ActivationsConfig(activations=("tanh", "swish"))).plan(quick=False, seeds=1)
    with pytest.raises(ValueError, match="max_layers ≥ every table_layers entry.*max_layers=5"):
        Activations(ActivationsConfig(max_layers=5)).plan(quick=False, seeds=1)
