"""The jaeger2001 study: NRMSE84 over seeds beside Jaeger's published value, and its report."""

import numpy as np
import pytest

from gradtrace.store import Store
from gradtrace.studies import Jaeger2001, Jaeger2001Config, run_study
from gradtrace.studies.jaeger2001.figures import draw as jaeger2001_figures

TINY = Jaeger2001Config(train_lengths=(400, 3000), reservoir_size=40, washout=50, test_starts=2, teacher_forced=60,
                        ridge=1e-8, show_steps=30, horizon=20)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("jaeger"))
    run_study(Jaeger2001(TINY), store, seeds=2)
    return store


def test_errors_are_measured_per_seed(store):
    assert store.names("jaeger2001") == ["train400", "train3000"]
    record = store.get("jaeger2001", "train3000")
    s = record.summary
    assert record.arrays["nrmse84"].shape == (2,) and record.arrays["nrmse_by_horizon"].shape == (2, 20)
    assert 0 < s["nrmse1"] < 0.05  # one step ahead is easy even for a tiny reservoir
    assert s["nrmse84_low"] <= s["nrmse84"] <= s["nrmse84_high"]
    assert s["published_nrmse84"] == pytest.approx(2.8e-4)
    assert np.isnan(store.get("jaeger2001", "train400").summary["published_nrmse84"])


def test_report_puts_published_beside_ours(store):
    figures, tables = jaeger2001_figures(store)
    assert len(figures) == 3 and all(f.png.startswith(b"\x89PNG") for f in figures)
    table = tables[0]
    assert table.columns == ["setting", "published", "ours", "budget"]
    assert any("2.8e-04" in row[1] for row in table.rows)


def test_training_shorter_than_the_washout_is_refused():
    with pytest.raises(ValueError, match="must exceed the washout"):
        Jaeger2001(Jaeger2001Config(train_lengths=(500,), washout=1000)).plan(quick=False, seeds=1)
