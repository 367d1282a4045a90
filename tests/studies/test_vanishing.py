"""The vanishing study: every model runs, the ESN is fitted in closed form, the claims decide, the report draws."""

import numpy as np
import pytest
import torch

from gradtrace.errors import ConfigError
from gradtrace.instruments import trace
from gradtrace.models import ESN
from gradtrace.store import Store
from gradtrace.studies import Vanishing, VanishingConfig, evaluate_claims, run_study
from gradtrace.studies.vanishing import CURES, MODELS, QUICK, build_model, fit_esn_readout
from gradtrace.studies.vanishing.figures import draw
from gradtrace.tasks import Adding, Latch, TemporalOrder

SEEDS = 2


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("vanishing"))
    run_study(Vanishing(), store, quick=True, seeds=SEEDS)
    return store


def test_every_model_runs_and_records_its_profiles(store):
    assert store.names("vanishing") == list(MODELS)
    for name in MODELS:
        record = store.get("vanishing", name)
        s = record.summary
        assert 0 <= s["successes"] <= SEEDS and s["success_low"] <= s["success_rate"] <= s["success_high"]
        for key in ("init/grad_norms", "final/grad_norms"):
            assert record.arrays[key].shape == (SEEDS, QUICK.length)
        assert record.arrays["task/loss"].shape[1] == SEEDS
    assert store.get("vanishing", "irnn").config["model"] == "irnn"


def test_the_esn_sends_no_gradient_back_through_time(store):
    esn = store.get("vanishing", "esn")
    norms = esn.arrays["final/grad_norms"]
    assert (norms[:, :-1] == 0).all() and (norms[:, -1] > 0).all()
    assert esn.summary["init/horizon_min"] == 1
    assert esn.arrays["eval/step"].tolist() == [0]


def test_the_default_tanh_start_vanishes_where_the_cures_do_not():
    task = Latch(60)
    config = VanishingConfig(length=60, hidden_size=16)
    batch = task.sample(16, seed=0)
    horizons = {name: trace(build_model(name, task, config, 2), batch, jacobian_steps=0).horizon
                for name in ("tanh", "irnn", "lstm", "gru")}
    assert (horizons["tanh"] < 60).all()
    for cure in ("irnn", "lstm", "gru"):
        assert (horizons[cure] == 60).all(), cure


def test_the_models_start_as_the_config_says():
    task, config = Latch(10), VanishingConfig(hidden_size=3, gate_bias=2.5, irnn_input_std=0.1)
    irnn = build_model("irnn", task, config, 2)
    assert irnn.activation == "relu" and torch.equal(irnn.W_rec.detach(), torch.eye(3).expand(2, 3, 3))
    W = build_model("orthogonal", task, config, 2).W_rec.detach()  # noqa: N806
    torch.testing.assert_close(W @ W.transpose(-1, -2), torch.eye(3).expand(2, 3, 3), atol=1e-5, rtol=0)
    assert (build_model("lstm", task, config, 2).b.detach()[:, 3:6] == 2.5).all()
    gru = build_model("gru", task, config, 2)
    assert (gru.b.detach()[:, 3:6] == 2.5).all() and (gru.b_rec.detach()[:, 3:6] == 0).all()
    tanh = build_model("tanh", task, config, 2)
    assert tanh.activation == "tanh" and tanh.W_rec.detach().abs().max() <= 3 ** -0.5
    with pytest.raises(ValueError, match="Unknown model 'rnn'.*Available: tanh, irnn"):
        build_model("rnn", task, config, 2)


def test_esn_readout_fits_last_step_targets_in_closed_form():
    task = Adding(6)
    esn = ESN(2, 30, 1, readout="last", seed=0, dtype=torch.float64, ridge=1e-8)
    fit_esn_readout(esn, task, 200, seed=0)
    batch = task.sample(200, seed=0)
    states = esn.reservoir_states(batch.inputs.double())[0, :, -1]
    X = torch.cat([states, torch.ones(200, 1, dtype=torch.float64)], 1)  # noqa: N806
    solution = torch.linalg.lstsq(X, batch.targets[:, -1].double()).solution
    torch.testing.assert_close(esn.W_out[0, 0], solution[:-1, 0], rtol=1e-4, atol=1e-6)
    classes = ESN(8, 20, 4, readout="last", num_models=2, seed=0)
    fit_esn_readout(classes, TemporalOrder(12), 64, seed=3)
    assert np.isfinite(classes.W_out.detach().numpy()).all()


@pytest.mark.parametrize("lang", ["en", "pt"])
def test_figures_and_table_in_each_language(store, lang):
    figures, tables = draw(store, lang)
    assert len(figures) == 3 and all(f.png.startswith(b"\x89PNG") for f in figures)
    assert [row[1] for row in tables[0].rows] == [f"{store.get('vanishing', m).summary['successes']}/{SEEDS}"
                                                  for m in MODELS]
    if lang == "pt":
        assert figures[1].title == "Perda em dados separados de cada cura contra a RNN tanh"
        assert "0,003" in tables[0].caption and "0.003" not in tables[0].caption


def test_the_claims_are_measured_on_a_real_run(store):
    verdicts = {v.name: v for v in evaluate_claims(store, "vanishing")}
    assert set(verdicts) == {"tanh-fails", *(f"{cure}-solves-where-tanh-fails" for cure in CURES),
                             "gradient-vanishes-without-a-cure"}
    assert all(v.measured for v in verdicts.values())
    # Eight steps at T = 10 teach no trained model the latch: the cures' claims cannot hold on this run.
    for cure in ("irnn", "orthogonal", "lstm", "gru"):
        assert not verdicts[f"{cure}-solves-where-tanh-fails"].held, cure


def _fake_store(path, solved, horizons=(30, 30)):
    """A store whose runs solved ``solved[model]`` of 5 seeds at T = 100, the tanh RNN's horizons as given."""
    store = Store(path)
    store.set_meta("study/vanishing", {"quick": False, "seeds": 5, "config": VanishingConfig().model_dump(
        mode="json")})
    for model, n in solved.items():
        low, high = horizons if model == "tanh" else ((1, 1) if model == "esn" else (100, 100))
        store.put("vanishing", model, {}, config={}, summary={
            "length": 100, "seeds": 5, "successes": n, "task/loss": 0.1, "baseline_loss": 0.64,
            "init/horizon_min": low, "init/horizon_max": high, "init/first_to_peak_min": 0.01})
    return {v.name: v for v in evaluate_claims(store, "vanishing")}


def test_a_cure_holds_only_where_the_tanh_rnn_fails(tmp_path):
    cured = _fake_store(tmp_path / "a", {"tanh": 1, "irnn": 4, "orthogonal": 5, "esn": 5, "lstm": 3, "gru": 5})
    assert cured["tanh-fails"].held and cured["irnn-solves-where-tanh-fails"].held
    assert not cured["lstm-solves-where-tanh-fails"].held
    assert cured["gradient-vanishes-without-a-cure"].held
    assert "a RNN tanh, 1/5" in cured["irnn-solves-where-tanh-fails"].sentence["pt"]
    assert "em 30 passos antes" in cured["gradient-vanishes-without-a-cure"].sentence["pt"]
    # A tanh RNN that solves 2 of 5 leaves no claim of a cure standing, and one whose gradient reaches the first
    # step in a seed breaks the gradient claim.
    easy = _fake_store(tmp_path / "b", dict.fromkeys(MODELS, 5) | {"tanh": 2}, horizons=(30, 100))
    assert not any(easy[name].held for name in easy if name != "gradient-vanishes-without-a-cure")
    assert not easy["gradient-vanishes-without-a-cure"].held


def test_claims_need_the_tanh_baseline():
    assert Vanishing(VanishingConfig(models=("lstm", "gru"))).claims(quick=False, seeds=5) == []
    names = [c.name for c in Vanishing(VanishingConfig(models=("tanh", "esn"))).claims(quick=False, seeds=5)]
    assert names == ["tanh-fails", "esn-solves-where-tanh-fails"]


@pytest.mark.parametrize(("values", "match"), [
    ({"models": ("tanh", "magic")}, "models.*Available"),
    ({"models": ("tanh", "tanh")}, "names a model twice"),
    ({"models": ()}, "at least one model"),
    ({"lr": 0.0}, "lr"),
    ({"esn_leak_rate": 1.5}, "esn_leak_rate"),
])
def test_a_bad_config_is_refused(values, match):
    with pytest.raises(ValueError, match=match):
        VanishingConfig(**values)


def test_an_unknown_key_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="VanishingConfig has no key 'length_'. Valid keys: .*gate_bias"):
        VanishingConfig(length_=5)
