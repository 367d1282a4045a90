"""The remedies study: every setup runs, the ESN is fitted in closed form, the report draws them all."""

import numpy as np
import pytest
import torch

from gradtrace.models import ESN
from gradtrace.store import Store
from gradtrace.studies import Remedies, RemediesConfig, run_study
from gradtrace.studies.remedies import REMEDY_SETUPS, fit_esn_readout
from gradtrace.studies.remedies.figures import draw as remedies_figures
from gradtrace.tasks import Adding, TemporalOrder

TINY = RemediesConfig(adding_length=8, temporal_order_length=10, hidden_size=4, steps=4, batch_size=4,
                      eval_batch_size=8, reservoir_size=8, esn_train_sequences=16)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("remedies"))
    run_study(Remedies(TINY), store, seeds=2)
    return store


def test_every_setup_runs_on_both_tasks(store):
    names = store.names("remedies")
    assert sorted(names) == sorted(f"{t}-{s}" for t in ("adding", "temporal_order") for s in REMEDY_SETUPS)
    for name in names:
        record = store.get("remedies", name)
        s = record.summary
        assert 0 <= s["successes"] <= 2 and s["success_low"] <= s["success_rate"] <= s["success_high"]
        assert record.arrays["final/grad_norms"].shape == (2, s["length"])
    assert store.get("remedies", "adding-clip_omega").config["remedy"].startswith("chain(pascanu_penalty")
    assert store.get("remedies", "adding-tbptt").config["truncation"] == [4, 4]


def test_the_esn_gradient_stops_at_the_readout(store):
    norms = store.get("remedies", "adding-esn").arrays["final/grad_norms"]
    assert (norms[:, :-1] == 0).all() and (norms[:, -1] > 0).all()
    assert store.get("remedies", "adding-esn").summary["final/horizon"] == 1


def test_esn_readout_fits_last_step_targets_in_closed_form():
    task = Adding(6)
    esn = ESN(2, 30, 1, readout="last", seed=0, dtype=torch.float64, ridge=1e-8)
    fit_esn_readout(esn, task, 200, seed=0)
    batch = task.sample(200, seed=0)
    states = esn.reservoir_states(batch.inputs.double())[0, :, -1]
    X = torch.cat([states, torch.ones(200, 1, dtype=torch.float64)], 1)  # noqa: N806
    solution = torch.linalg.lstsq(X, batch.targets[:, -1].double()).solution
    torch.testing.assert_close(esn.W_out[0, 0], solution[:-1, 0], rtol=1e-4, atol=1e-6)
    classes = TemporalOrder(12)
    esn = ESN(8, 20, 4, readout="last", num_models=2, seed=0)
    fit_esn_readout(esn, classes, 64, seed=3)
    assert np.isfinite(esn.W_out.detach().numpy()).all()


def test_figures_and_table(store):
    figures, tables = remedies_figures(store)
    assert len(figures) == 3 and all(f.png.startswith(b"\x89PNG") for f in figures)
    assert len(tables[0].rows) == 2 * len(REMEDY_SETUPS)


@pytest.mark.parametrize(("config", "match"), [
    (RemediesConfig(setups=("tanh", "magic")), "Unknown setup.*Available: tanh, clip"),
    (RemediesConfig(tasks=("copy",)), "Unknown task"),
])
def test_bad_config_is_refused(config, match):
    with pytest.raises(ValueError, match=match):
        Remedies(config).plan(quick=False, seeds=1)
