"""The exploding study: without clipping members diverge and are recorded; with clipping they train."""

import numpy as np
import pytest

from gradtrace.store import Store
from gradtrace.studies import Exploding, ExplodingConfig, run_study
from gradtrace.studies.exploding.figures import draw as exploding_figures

# Long enough and steep enough to diverge within a few steps of plain SGD, yet tiny.
SMALL = ExplodingConfig(radii=(3.0,), length=30, hidden_size=8, steps=40, lr=0.5, batch_size=8,
                        eval_batch_size=16)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("exploding"))
    run_study(Exploding(SMALL), store, seeds=3)
    return store


def test_unclipped_members_diverge_and_clipped_ones_do_not(store):
    assert store.names("exploding") == ["rho3-none", "rho3-global_norm", "rho3-value", "rho3-adaptive"]
    unclipped = store.get("exploding", "rho3-none")
    assert unclipped.summary["diverged"] >= 1 and unclipped.summary["first_divergence"] >= 0
    assert unclipped.summary["max_grad_norm"] > 1e6
    at = unclipped.arrays["diverged_at"]
    assert (at[at >= 0] < SMALL.steps).all()
    for clip in ("global_norm", "value", "adaptive"):
        clipped = store.get("exploding", f"rho3-{clip}")
        assert clipped.summary["diverged"] == 0, clip
        assert clipped.summary["fired_fraction"] > 0
        assert np.isfinite(clipped.summary["task/loss"])
        assert clipped.arrays["clip/fired"].shape == (SMALL.steps, 3)
    # The study records with on_nonfinite="record", which never skips an update.
    assert unclipped.summary["skipped_steps"] == 0 and unclipped.arrays["skipped_steps"].tolist() == [0, 0, 0]


def test_figures_and_table(store):
    figures, tables = exploding_figures(store)
    assert [f.title for f in figures] == ["Gradient norm before clipping", "Training loss", "How often each clip acted"]
    assert all(f.png.startswith(b"\x89PNG") for f in figures)
    rows = {row[1]: row for row in tables[0].rows}
    assert rows["no clipping"][2].split("/")[0] != "0"
    assert rows["clip by global norm"][2] == "0/3"


def test_the_table_shows_skipped_steps_where_it_shows_diverged_members(store, tmp_path):
    copy = Store(tmp_path)
    for name in store.names("exploding"):
        run = store.get("exploding", name)
        skipped = 4 if name == "rho3-none" else 0
        copy.put("exploding", name, run.arrays, config=run.config, summary={**run.summary, "skipped_steps": skipped})
    rows = {row[1]: row for row in exploding_figures(copy)[1][0].rows}
    assert rows["no clipping"][2].endswith("; 4 step(s) skipped")
    assert "skipped" not in rows["clip by global norm"][2]


def test_unknown_clip_is_refused():
    with pytest.raises(ValueError, match="Unknown clip.*Available: none, global_norm"):
        Exploding(ExplodingConfig(clips=("none", "clip"))).plan(quick=False, seeds=1)
