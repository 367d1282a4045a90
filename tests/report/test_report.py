"""The HTML report: self-contained, one section per study, honest about what is missing."""

import base64
import html
import re

import numpy as np
import pytest

from gradtrace.errors import RunInterrupted, StoreError
from gradtrace.report import write_report
from gradtrace.store import Store
from gradtrace.studies import STUDIES, ThroughTime, ThroughTimeConfig, get_study, run_study
from gradtrace.studies.long_range.figures import draw as long_range_figures
from gradtrace.studies.stats import wilson_interval

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("quick"))
    for name in ("through-time", "long-range"):
        run_study(get_study(name), store, quick=True, seeds=2)
    return store


@pytest.fixture(scope="module")
def quick_report(quick_store):
    """The report of both quick studies, written once (drawing takes a second or two)."""
    return write_report(quick_store)


def _images(document):
    return re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', document)


def test_the_report_is_one_self_contained_html_file(quick_store, quick_report):
    path = quick_report
    assert path == quick_store.root / "report.html" and path.is_file()
    document = path.read_text(encoding="utf-8")
    assert document.startswith("<!DOCTYPE html>") and document.rstrip().endswith("</html>")
    assert "data:image/png;base64," in document
    # Nothing is fetched from elsewhere: no remote src/href, no scripts, stylesheets or imports.
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", document, re.IGNORECASE)
    assert not re.search(r"<script|<link|@import|url\(", document, re.IGNORECASE)
    images = _images(document)
    assert len(images) == 5  # gradient against lag, factor per step; loss curves, success rates, heatmaps
    assert all(base64.b64decode(data).startswith(PNG_MAGIC) for data in images)
    assert not list(quick_store.root.glob("*.tmp"))


def test_the_report_has_a_section_per_study_with_its_tables(quick_report):
    document = quick_report.read_text(encoding="utf-8")
    for name in ("through-time", "long-range"):
        cls = STUDIES[name]
        assert f'id="{name}"' in document
        assert html.escape(cls.title) in document and html.escape(cls.description) in document
    # Through time comes first, as DRAWERS orders it.
    assert document.index('id="through-time"') < document.index('id="long-range"')
    assert (
        "Decay per step and horizon" in document and "Success rate per model and length" in document
    )
    assert "Quick mode" in document and "incomplete" not in document
    assert "2 runs; 2 seeds each" in document and "6 runs; 2 seeds each" in document
    assert document.count("<tr>") == 1 + 2 + 1 + 6  # header and one row per finished run


def test_an_incomplete_study_says_so_and_draws_what_finished(tmp_path):
    class Interrupted(ThroughTime):
        def plan(self, *, quick, seeds):
            specs = super().plan(quick=quick, seeds=seeds)

            def ctrl_c(callback):
                raise KeyboardInterrupt

            return [specs[0], specs[1].__class__(specs[1].name, specs[1].steps, ctrl_c)]

    config = ThroughTimeConfig(
        radii=(0.5, 1.5), length=6, hidden_size=4, steps=2, batch_size=2, probe_batch_size=2
    )
    store = Store(tmp_path)
    with pytest.raises(RunInterrupted, match="interrupted during run 'rho=1.5'"):
        run_study(Interrupted(config), store, seeds=1)
    target = tmp_path / "elsewhere.html"
    assert write_report(str(tmp_path), target) == target  # a folder and a path of one's own
    document = target.read_text(encoding="utf-8")
    assert "This study is incomplete: 1 of 2 runs finished (missing: rho=1.5)" in document
    assert len(_images(document)) == 2 and document.count("<tr>") == 2  # through-time draws two figures


def test_a_partial_run_left_by_ctrl_c_is_drawn_without_its_missing_arrays(tmp_path):
    config = ThroughTimeConfig(
        radii=(0.5,), length=6, hidden_size=4, steps=2, batch_size=2, probe_batch_size=2
    )
    store = Store(tmp_path)
    run_study(ThroughTime(config), store, seeds=1)
    first = store.get("through-time", "rho=0.5")
    store.put(
        "through-time",
        "rho=2",
        {k: v for k, v in first.arrays.items() if k.startswith("init/")},
        config={**first.config, "rho": 2.0},
        summary={},
        status="interrupted",
    )
    store.set_meta("study/through-time", {"quick": False, "seeds": 1, "runs": ["rho=0.5", "rho=2"]})
    document = write_report(store).read_text(encoding="utf-8")
    assert "missing: rho=2" in document
    assert (
        len(_images(document)) == 2 and document.count("<tr>") == 2
    )  # two figures from the init arrays; the table holds finished runs


def _long_range_record(store, model, length, seeds, successes):
    steps, T = 4, length
    rng = np.random.default_rng(length)
    loss = rng.uniform(0.01, 0.2, size=(2, seeds))
    low, high = wilson_interval(successes, seeds)
    store.put(
        "long-range",
        f"{model}-T{length}",
        {
            "train/loss": rng.uniform(0.01, 0.2, size=(steps, seeds)),
            "eval/step": np.array([0, steps - 1]),
            "task/loss": loss,
            "task/accuracy": np.ones((2, seeds)),
            "task/success": np.ones((2, seeds), bool),
            "trace/steps": np.arange(2),
            "trace/grad_norms": rng.uniform(1e-3, 1, size=(2, seeds, T)),
            "diverged_at": np.full(seeds, -1),
            "final/horizon": np.full(seeds, T),
            "final/decay_rate": np.ones(seeds),
        },
        config={"model": model, "length": length, "seeds": seeds},
        summary={
            "model": model,
            "length": length,
            "baseline_loss": 1 / 6,
            "successes": successes,
            "seeds": seeds,
            "success_rate": successes / seeds,
            "success_low": low,
            "success_high": high,
            "task/loss": float(np.median(loss[-1])),
            "task/accuracy": 1.0,
            "final/horizon": float(T),
            "diverged": 0,
        },
    )


def test_every_seed_solving_the_task_draws_a_full_bar(tmp_path):
    # Regression: 6 of 6 gave a top of 1 − 2⁻⁵³, and matplotlib refused the negative error bar.
    store = Store(tmp_path)
    for model in ("elman", "lstm"):
        _long_range_record(store, model, 5, seeds=6, successes=6)
    _long_range_record(store, "gru", 5, seeds=11, successes=0)
    figures, tables = long_range_figures(store)
    assert [f.title for f in figures] == [
        "Loss curves against the baseline",
        "Success rate per length",
        "‖∂L/∂h_t‖ along training (T = 5)",
    ]
    assert [row[2] for row in tables[0].rows] == ["6/6 = 100%", "6/6 = 100%", "0/11 = 0%"]
    assert "[61%, 100%]" in [row[3] for row in tables[0].rows]
    assert all(figure.png.startswith(PNG_MAGIC) for figure in figures)


def test_an_empty_store_has_nothing_to_report(tmp_path):
    with pytest.raises(ValueError, match="has no runs to report yet"):
        write_report(Store(tmp_path))
    assert not (tmp_path / "report.html").exists()


def test_a_folder_without_a_store_raises_store_error(tmp_path):
    with pytest.raises(StoreError, match="No gradtrace run store"):
        write_report(tmp_path)


def test_runs_whose_figures_cannot_be_drawn_still_get_their_section_and_claims(tmp_path, monkeypatch):
    from gradtrace.studies import run_study
    from gradtrace.studies.exploding import figures

    store = Store(tmp_path)
    run_study("exploding", store, quick=True, seeds=1)

    def older_runs(store, lang="en"):
        raise KeyError("clip")  # a value an older gradtrace did not store

    monkeypatch.setattr(figures, "draw", older_runs)
    document = write_report(store).read_text(encoding="utf-8")
    assert '<section id="exploding">' in document and 'class="claims"' in document
    assert "cannot be drawn from these runs" in document and "gradtrace run exploding" in document
