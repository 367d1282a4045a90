"""The gradient-path study: its measurements against autograd, a quick run end to end, its claims, its figures."""

import numpy as np
import pytest
import torch

from gradtrace.models import ElmanRNN
from gradtrace.store import Store
from gradtrace.studies import GradientPath, GradientPathConfig, evaluate_claims, run_study
from gradtrace.studies.gradient_path.config import (
    CARRIED,
    MANY_TO_MANY,
    MANY_TO_ONE,
    OWN_ERROR,
    PROBES_VS_AUTOGRAD,
    PROFILE,
    W_REC_TERMS,
)
from gradtrace.studies.gradient_path.figures import draw
from gradtrace.studies.gradient_path.measurements import (
    by_autograd_per_step,
    by_equations,
    by_probes,
    relative_difference,
    w_rec_by_finite_differences,
)
from gradtrace.tasks import Batch

SEEDS = 2
CLAIMS = ("error-enters-at-the-last-step", "every-step-receives-its-error", "one-backward-pass",
          "w-rec-gradient-sums-over-time", "early-steps-share")


def _case(readout, *, steps=7, batch=3, hidden=5):
    generator = torch.Generator().manual_seed(3)
    inputs = torch.randn(batch, steps, 2, generator=generator, dtype=torch.float64)
    targets = torch.randn(batch, steps, 1, generator=generator, dtype=torch.float64)
    mask = torch.ones(batch, steps, dtype=torch.bool)
    if readout == "last":
        mask[:, :-1] = False
    model = ElmanRNN(2, hidden, 1, readout=readout, num_models=2, seed=11, dtype=torch.float64)
    return model, Batch(inputs, targets, mask, loss="half_mse")


@pytest.mark.parametrize("readout", ["last", "all"])
def test_one_pass_and_the_written_recursion_equal_one_autograd_call_per_step(readout):
    model, batch = _case(readout)
    reference = by_autograd_per_step(model, batch)
    probes, w_rec = by_probes(model, batch)
    written = by_equations(model, batch)
    assert relative_difference(probes, reference, (1, 3)).max() < 1e-12
    assert relative_difference(written.delta, reference, (1, 3)).max() < 1e-12
    torch.testing.assert_close(written.own + written.carried, written.delta, rtol=0, atol=0)
    assert relative_difference(written.w_rec_terms.sum(1), w_rec, (1, 2)).max() < 1e-12
    assert relative_difference(w_rec_by_finite_differences(model, batch, 1e-6), w_rec, (1, 2)).max() < 1e-7
    # Step 1 multiplies h_0 = 0; only the last step carries nothing back.
    assert written.w_rec_terms[:, 0].abs().max() == 0 and written.carried[:, :, -1].abs().max() == 0
    if readout == "last":  # no error of its own anywhere but at T
        assert written.own[:, :, :-1].abs().max() == 0 and written.own[:, :, -1].abs().max() > 0


def test_the_measurements_refuse_what_they_cannot_measure():
    model, batch = _case("all")
    with pytest.raises(ValueError, match=r"`batch.loss` must be 'half_mse'.*got 'mse'"):
        by_equations(model, Batch(batch.inputs, batch.targets, batch.mask, loss="mse"))
    relu = ElmanRNN(2, 5, 1, activation="relu", seed=0, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"tanh ElmanRNN.*activation='relu'"):
        by_autograd_per_step(relu, batch)
    per_member = Batch(batch.inputs.expand(2, -1, -1, -1), batch.targets.expand(2, -1, -1, -1),
                       batch.mask.expand(2, -1, -1), loss="half_mse")
    with pytest.raises(ValueError, match=r"inputs \(B, T, input_size\) shared by every member, got \(2, 3, 7, 2\)"):
        by_probes(model, per_member)
    with pytest.raises(ValueError, match="`step` must be"):
        w_rec_by_finite_differences(model, batch, 0.0)


@pytest.fixture(scope="module")
def quick_store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("gradient-path"))
    run_study(GradientPath(), store, quick=True, seeds=SEEDS)
    return store


def test_a_quick_run_stores_both_ways_of_scoring(quick_store):
    config = GradientPath.quick_config
    assert quick_store.names("gradient-path") == [MANY_TO_ONE, MANY_TO_MANY]
    for name, readout in ((MANY_TO_ONE, "last"), (MANY_TO_MANY, "all")):
        record = quick_store.get("gradient-path", name)
        assert record.status == "finished" and record.config["readout"] == readout
        for key in (PROFILE, OWN_ERROR, CARRIED, W_REC_TERMS):
            assert record.arrays[key].shape == (SEEDS, config.length), key
        assert record.arrays[PROBES_VS_AUTOGRAD].shape == (SEEDS,)
        assert record.summary[PROBES_VS_AUTOGRAD] < 1e-12
    single = quick_store.get("gradient-path", MANY_TO_ONE).arrays[OWN_ERROR]
    assert (single[:, :-1] == 0).all() and (single[:, -1] > 0).all()


def test_the_claims_are_measured_in_both_languages(quick_store):
    verdicts = {v.name: v for v in evaluate_claims(quick_store, "gradient-path")}
    assert tuple(verdicts) == CLAIMS
    assert all(v.measured for v in verdicts.values())
    assert verdicts["one-backward-pass"].held and verdicts["w-rec-gradient-sums-over-time"].held
    assert "muitos-para-um" in verdicts["early-steps-share"].sentence["pt"]


def test_a_sequence_too_short_to_vanish_fails_the_early_steps_claim(tmp_path):
    # Over 4 steps the error entering at T loses a factor of a few, not thousands: the first half of a
    # many-to-one sequence still carries a real share of W_rec's gradient.
    study = GradientPath(GradientPathConfig(length=4, hidden_size=8, batch_size=4))
    store = Store(tmp_path)
    run_study(study, store, seeds=3)
    verdicts = {v.name: v for v in evaluate_claims(store, study)}
    assert not verdicts["early-steps-share"].held
    assert verdicts["early-steps-share"].values["single_max"] > 1e-3
    assert verdicts["one-backward-pass"].held  # exactness does not depend on the length


def test_the_one_pass_claim_fails_when_a_method_disagrees(quick_store, tmp_path):
    copy = Store(tmp_path)
    for name in quick_store.names("gradient-path"):
        run = quick_store.get("gradient-path", name)
        arrays = dict(run.arrays)
        if name == MANY_TO_MANY:
            arrays[PROBES_VS_AUTOGRAD] = np.array([0.0, 1e-6])
        copy.put("gradient-path", name, arrays, config=run.config, summary=run.summary)
    copy.set_meta("study/gradient-path", quick_store.meta("study/gradient-path"))
    verdict = {v.name: v for v in evaluate_claims(copy, "gradient-path")}["one-backward-pass"]
    assert not verdict.held and verdict.values["probes"] == 1e-6


def test_figures_are_drawn_in_both_languages_and_captions_state_no_result(quick_store):
    for lang, title in (("en", "The gradient along the sequence"), ("pt", "O gradiente ao longo da sequência")):
        figures, (table,) = draw(quick_store, lang)
        assert figures[0].title == title and len(figures) == 2
        assert all(f.png.startswith(b"\x89PNG") for f in figures)
        assert [row[0] for row in table.rows] == (["many-to-one", "many-to-many"] if lang == "en"
                                                   else ["muitos-para-um", "muitos-para-muitos"])
        for text in [f.caption for f in figures] + [table.caption]:
            for verdict in ("vanish", "equal", "agree", "desaparece", "igua", "concord"):
                assert verdict not in text.lower(), (verdict, text)


def test_a_config_is_checked_where_it_is_made():
    with pytest.raises(ValueError, match="length"):
        GradientPathConfig(length=1)
    with pytest.raises(ValueError, match="finite_difference_step"):
        GradientPathConfig(finite_difference_step=0.0)
