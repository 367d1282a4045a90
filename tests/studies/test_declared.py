"""Studies declared in TOML: validation, runs keyed by the hash of their config, claims, the report section."""

import json

import numpy as np
import pytest

from gradtrace.errors import ConfigError
from gradtrace.report import write_report
from gradtrace.store import Store
from gradtrace.studies import STUDIES, evaluate_claims, run_study
from gradtrace.studies.declared import (
    DeclaredStudy,
    builtin_toml,
    load_study,
    read_study_file,
    show_study,
)
from gradtrace.studies.declared import toml as study_toml

TINY = """\
name = "tiny"
title = "Tiny study"
seeds = 2

[train]
steps = 4
batch_size = 4
eval_every = 2
trace_every = 2

[models.tanh]
type = "elman"
hidden_size = 4
readout = "last"

[tasks.add]
type = "adding"
length = 6

[remedies.clip]
type = "clip_by_global_norm"
max_norm = 1.0

[grid]
remedy = ["none", "clip"]
"""


def write(tmp_path, text, name="study.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path, text, **options):
    return load_study(write(tmp_path, text), **options)


# ---------------------------------------------------------------------------------------------------------------
# Validation


@pytest.mark.parametrize(("edit", "message"), [
    (("hidden_size = 4", "hiden_size = 4"),
     r"unknown key `models\.tanh\.hiden_size`\. Valid keys .*: activation, hidden_size, init, readout"),
    (("seeds = 2", "seeds = 2\nsteps = 3"),
     r"unknown key `steps`\. Valid keys of a declared study: claims, description"),
    (("steps = 4", 'steps = "4"'), r"`train\.steps` must be an integer, got '4' \(a string\)"),
    (("seeds = 2", "seeds = 2.5"), r"`seeds` must be an integer, got 2\.5 \(a number\)"),
    (('remedy = ["none", "clip"]', 'remedy = ["none", "clip2"]'),
     r"`grid\.remedy\[1\]` names 'clip2', which is not defined\. Defined remedies: none, clip\."),
    (('remedy = ["none", "clip"]', 'model = ["lstm"]'), r"Defined models: tanh\."),
    (("hidden_size = 4", "hidden_size = 0"), r"\[models\.tanh\] with \[tasks\.add\]: .*hidden_size"),
    (("length = 6", "length = 1"), r"\[tasks\.add\]: .*length"),
    (("max_norm = 1.0", "max_norm = -1.0"), r"\[remedies\.clip\]: .*max_norm"),
    (('type = "elman"', 'type = "elmann"'), r"unknown model type 'elmann' at `models\.tanh\.type`\. Available: elman"),
    (("batch_size = 4", 'batch_size = 4\noptimizer = "adamw"'),
     r"\[train\] for \[models\.tanh\] on \[tasks\.add\].*adamw"),
    (('remedy = ["none", "clip"]', "lr = []"), r"no run: `grid\.lr` is an empty list"),
    (('name = "tiny"', 'name = "le2015"'), r"built-in study's"),
    (("[grid]", '[remedies.both]\ntype = "chain"\nremedies = ["clip"]\n\n[grid]'),
     r"`remedies\.both\.remedies` must name at least two remedies"),
    (("[grid]", '[remedies.both]\ntype = "chain"\nremedies = ["clip", "none"]\n\n[grid]'),
     r"`remedies\.both\.remedies\[1\]` names 'none', which is not a remedy defined in the file.*Defined: clip\."),
])
def test_mistakes_are_named_with_their_toml_path(tmp_path, edit, message):
    path = write(tmp_path, TINY.replace(*edit))
    with pytest.raises(ConfigError, match=message) as caught:
        load_study(path)
    assert str(caught.value).startswith(str(path))


def test_a_chain_applies_its_remedies_in_turn(tmp_path):
    text = TINY.replace("[grid]", '[remedies.omega]\ntype = "pascanu_penalty"\nweight = 0.5\n\n'
                                  '[remedies.both]\ntype = "chain"\nremedies = ["omega", "clip"]\n\n[grid]')
    study = load(tmp_path, text.replace('remedy = ["none", "clip"]', 'remedy = ["both"]'))
    [spec] = study.plan(quick=False, seeds=2)
    assert spec.name.startswith("tanh-add-both-")
    arrays = spec.execute(None).arrays
    assert "clip/fired" in arrays and np.isfinite(arrays["train/loss"]).all()


def test_a_syntax_error_gives_the_file_and_line(tmp_path):
    path = write(tmp_path, TINY.replace("steps = 4", "steps = = 4"))
    with pytest.raises(ConfigError, match=rf"^{path}:6:9: invalid TOML: Invalid value"):
        load_study(path)


def test_a_grid_beyond_ten_thousand_runs_needs_confirming(tmp_path):
    rates = [0.001 * (i + 1) for i in range(101)]
    text = TINY.replace('remedy = ["none", "clip"]', f'remedy = ["none"]\nlr = {rates}\nseed = {list(range(100))}')
    with pytest.raises(ConfigError, match=r"declares 10,100 runs \(101 lr × 100 seed\), more than 10,000: .*--yes"):
        load(tmp_path, text)
    study = DeclaredStudy.from_dict(study_toml.loads(text), allow_large=True, check_builders=False)
    assert study.declaration.count() == 10_100


@pytest.mark.parametrize(("claim", "message"), [
    ('id = "a"\nstatement = "s"\nmetric = "task/loss"\nop = "<"\nvalue = 1\nwhere = { remedy = "clip2" }',
     r"`claims\[0\]\.where\.remedy` asks for 'clip2', which the grid does not run\. The grid's remedy values: "
     r"'none', 'clip'"),
    ('id = "a"\nstatement = "s"\nmetric = "loss"\nop = "<"\nvalue = 1', r"unknown metric 'loss'.*task/loss"),
    ('id = "a"\nstatement = "s"\nmetric = "task/loss"\nop = "<"', r"exactly one of `value`"),
    ('id = "a"\nstatement = "s"\nmetric = "task/loss"\nop = "=="\nvalue = 1', r"unknown comparison '=='"),
    ('id = "a"\nstatement = "s"\nmetric = "task/loss"\nop = "<"\nvalue = 1\nwhre = {}', r"`claims\[0\]\.whre`"),
])
def test_claims_are_validated_like_the_rest(tmp_path, claim, message):
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, TINY + "\n[[claims]]\n" + claim + "\n")


def test_horizon_claims_need_traces(tmp_path):
    text = TINY.replace("trace_every = 2\n", "") + (
        '\n[[claims]]\nid = "h"\nstatement = "s"\nmetric = "horizon"\nop = ">"\nvalue = 1\n')
    with pytest.raises(ConfigError, match="trace_every"):
        load(tmp_path, text)


def test_a_file_of_neither_kind_is_refused_with_both_shapes(tmp_path):
    with pytest.raises(ConfigError, match=r"needs `study = NAME` .* or `name = \.\.\.`"):
        load(tmp_path, "seeds = 3\n")


def test_a_builtin_study_file_reports_its_config_errors_from_the_study_config(tmp_path):
    with pytest.raises(ConfigError, match=r"\[config\]: Le2015Config has no key 'lenghts'\. Valid keys: .*lengths"):
        load(tmp_path, 'study = "le2015"\n[config]\nlenghts = [10]\n')
    with pytest.raises(ConfigError, match=r"`study` must name a built-in study, got 'le2016'\. Available: "):
        load(tmp_path, 'study = "le2016"\n')


def test_quick_true_with_full_sizes_is_refused_not_run_under_the_quick_label(tmp_path):
    full = builtin_toml("le2015").replace("seeds = 5", "seeds = 5\nquick = true")
    with pytest.raises(ConfigError, match=r"`quick = true` runs study 'le2015' at its quick sizes, but \[config\] "
                                          r"sets others: lengths = \[150\] \(quick: \[10\]\)"):
        load(tmp_path, full)
    assert load(tmp_path, builtin_toml("le2015", quick=True)).config.steps == 6


# ---------------------------------------------------------------------------------------------------------------
# Runs keyed by their config


def test_names_are_readable_and_end_in_the_config_hash(tmp_path):
    names = [spec.name for spec in load(tmp_path, TINY).plan(seeds=2)]
    assert [name[:-11] for name in names] == ["tanh-add-none", "tanh-add-clip"]
    assert all(len(name.rsplit("-", 1)[1]) == 10 for name in names)


def test_an_edit_reruns_only_the_runs_it_changes(tmp_path):
    out = tmp_path / "out"
    first = run_study(load(tmp_path, TINY), out)
    assert (len(first.ran), first.skipped) == (2, [])
    again = run_study(load(tmp_path, TINY), out)
    assert (again.ran, len(again.skipped)) == ([], 2)
    edited = run_study(load(tmp_path, TINY.replace("max_norm = 1.0", "max_norm = 0.5")), out)
    assert [name[:-11] for name in edited.ran] == ["tanh-add-clip"] and len(edited.skipped) == 1
    # Another seed count names other runs: nothing is mixed, nothing refused.
    other = run_study(load(tmp_path, TINY), out, seeds=1)
    assert len(other.ran) == 2
    # The run the edit replaced stays in the store, outside the study's summary and report.
    store = Store(out)
    assert len(store.names("tiny")) == 5
    write_report(store)
    summary = json.loads((out / "summary.json").read_text())
    entry = next(s for s in summary["studies"] if s["name"] == "tiny")
    assert entry["runs"]["planned"] == entry["runs"]["finished"] == 2
    assert entry["config"]["remedies"]["clip"]["max_norm"] == 1.0


@pytest.mark.parametrize("axis", ['lr = [0.01, 1e-2]', "seed = [1, 1]", "spectral_radius = [1, 1.0]",
                                  "truncation = [[2, 2], [2, 2]]", 'remedy = ["clip", "clip"]'])
def test_a_grid_axis_listing_a_value_twice_is_refused(tmp_path, axis):
    # Both entries would be one run under one name: refused when the file is read, not when the study runs.
    text = TINY.replace('remedy = ["none", "clip"]', axis)
    with pytest.raises(ConfigError, match=r"`grid\.\w+\[1\]` is .* again \(`grid\.\w+\[0\]`\)"):
        load(tmp_path, text)


def test_an_integer_written_as_a_float_names_the_same_run(tmp_path):
    as_float = [spec.name for spec in load(tmp_path, TINY).plan(seeds=2)]
    as_int = [spec.name for spec in load(tmp_path, TINY.replace("max_norm = 1.0", "max_norm = 1")).plan(seeds=2)]
    assert as_float == as_int


def test_a_seed_offset_names_other_runs(tmp_path):
    study = load(tmp_path, TINY)
    moved = study.with_seed_offset(3)
    assert moved.declaration.seed == 3 and moved.declaration.grid["seed"] == [3]
    assert not {s.name for s in study.plan(seeds=2)} & {s.name for s in moved.plan(seeds=2)}


def test_builtin_studies_keep_refusing_mixed_configs(tmp_path):
    from gradtrace.studies import check_resume, get_study

    store = Store(tmp_path / "out")
    run_study("gradient-path", store, quick=True, seeds=1)
    with pytest.raises(ValueError, match="would mix them"):
        check_resume(get_study("gradient-path"), store, quick=True, seeds=2)


# ---------------------------------------------------------------------------------------------------------------
# Claims and the report

CLAIMS = """
[[claims]]
id = "loss-finite"
statement = "Every configuration ends with a finite loss."
metric = "task/loss"
aggregate = "max"
op = "<"
value = 1e9

[[claims]]
id = "loss-negative"
statement = { en = "The loss goes below zero.", pt = "A perda fica abaixo de zero." }
metric = "task/loss"
where = { remedy = "clip" }
op = "<"
value = 0

[[claims]]
id = "clip-no-worse"
statement = "Clipping leaves the loss within a factor 10 of no remedy."
metric = "task/loss"
where = { remedy = "clip" }
op = "<="
versus = { where = { remedy = "none" } }
factor = 10

[[claims]]
id = "reaches-back"
statement = "The gradient reaches at least one step back."
metric = "horizon"
op = ">="
value = 1
"""


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    folder = tmp_path_factory.mktemp("declared")
    path = write(folder, TINY + CLAIMS)
    out = folder / "out"
    run_study(load_study(path), out)
    path.unlink()  # the store alone rebuilds the study: claims, summary and report need no file
    return Store(out)


def test_claims_are_decided_from_the_store_with_their_numbers(finished):
    verdicts = {v.name: v for v in evaluate_claims(finished, "tiny")}
    assert [v.held for v in verdicts.values()] == [True, False, True, True]
    assert all(v.measured for v in verdicts.values())
    negative = verdicts["loss-negative"]
    assert negative.sentence["pt"].startswith("A perda fica abaixo de zero. Medido: mediana de perda em dados")
    assert "(remedy = clip; 2 sementes) = 0," in negative.sentence["pt"]
    assert negative.values["left"] > 0 and negative.values["left_seeds"] == 2
    versus = verdicts["clip-no-worse"]
    assert versus.values["right_seeds"] == 2 and "≤" not in versus.sentence["en"] and "10 ×" in versus.sentence["en"]


def test_the_report_has_the_section_figures_and_table(finished):
    path = write_report(finished)
    page = path.read_text(encoding="utf-8")
    section = page[page.index('<section id="tiny">'):]
    section = section[:section.index("</section>")]
    assert "Tiny study" in section and "Every configuration ends with a finite loss." in section
    assert section.count("<img") == 2 and "Runs of this study" in section
    assert "Held-out loss during training" in section and "The gradient along the path" in section
    pt = write_report(finished, tmp := finished.root / "pt.html", lang="pt").read_text(encoding="utf-8")
    assert "Execuções deste estudo" in pt and tmp.is_file()
    summary = json.loads((finished.root / "summary.json").read_text())
    entry = next(s for s in summary["studies"] if s["name"] == "tiny")
    assert [c["verdict"] for c in entry["claims"]] == ["held", "not held", "held", "held"]


def test_a_run_keeps_arrays_and_a_summary_per_seed(finished):
    name = finished.names("tiny")[0]
    record = finished.get("tiny", name)
    assert record.arrays["trace/grad_norms"].shape[1:] == (2, 6) and record.arrays["trace/horizon"].shape == (2,)
    assert set(record.summary) >= {"task/loss", "task/accuracy", "successes", "horizon", "diverged", "seeds"}
    assert record.config["hash"] == name[-10:] and record.config["tables"]["model"]["hidden_size"] == 4


# ---------------------------------------------------------------------------------------------------------------
# Built-in studies as TOML


@pytest.mark.parametrize("quick", [False, True])
def test_every_builtin_export_reads_back_to_an_equal_config(tmp_path, quick):
    for name in STUDIES:
        path = write(tmp_path, builtin_toml(name, quick=quick), f"{name}.toml")
        loaded = read_study_file(path)
        original = STUDIES[name]().resolve(quick)
        assert loaded.study.resolve(quick) == original, name
        assert (loaded.seeds, loaded.quick, loaded.declared) == (STUDIES[name].default_seeds, quick, False)


def test_a_quick_run_from_the_export_is_bit_identical_to_the_run_by_name(tmp_path):
    by_name, by_file = Store(tmp_path / "a"), Store(tmp_path / "b")
    run_study("le2015", by_name, quick=True, seeds=2)
    loaded = read_study_file(write(tmp_path, builtin_toml("le2015", quick=True, seeds=2)))
    run_study(loaded.study, by_file, quick=loaded.quick, seeds=loaded.seeds)
    names = by_name.names("le2015")
    assert names == by_file.names("le2015") and names
    for name in names:
        a, b = by_name.get("le2015", name).arrays, by_file.get("le2015", name).arrays
        assert a.keys() == b.keys()
        for key in a:
            assert np.array_equal(a[key], b[key], equal_nan=True), (name, key)
    assert by_name.meta("study/le2015") == by_file.meta("study/le2015")


def test_show_prints_a_declared_plan_and_a_resolved_file(tmp_path):
    path = write(tmp_path, TINY)
    text = show_study(str(path))
    assert text.startswith("tiny: Tiny study\n2 runs of 2 seeds each, varying remedy:\n  tanh-add-none-")
    resolved = study_toml.loads(show_study(str(path), as_toml=True))
    assert DeclaredStudy.from_dict(resolved).declaration == load_study(path).declaration
