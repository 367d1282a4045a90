"""The package root: one table of public names, loaded on first use, and a light command line."""

import inspect
import subprocess
import sys

import pytest

import gradtrace as gt


def test_every_public_name_resolves_to_its_definition():
    for name in gt.__all__:
        value = getattr(gt, name)
        assert value is not None, name
    assert gt.fit is __import__("gradtrace.train", fromlist=["fit"]).fit
    assert inspect.isfunction(gt.trace) and gt.trace.__module__ == "gradtrace.instruments"


def test_the_root_names_are_the_submodules_objects():
    from gradtrace.instruments import trace
    from gradtrace.models import ElmanRNN
    from gradtrace.remedies import clip_by_global_norm
    from gradtrace.store import Store

    assert (gt.trace, gt.ElmanRNN, gt.remedies.clip_by_global_norm, gt.Store) == (
        trace, ElmanRNN, clip_by_global_norm, Store)


def test_an_unknown_name_raises_attribute_error_naming_it():
    with pytest.raises(AttributeError, match="'not_a_name'"):
        gt.not_a_name  # noqa: B018


def test_dir_lists_the_public_names_and_nothing_else():
    assert {"fit", "trace", "LSTM", "remedies", "run_study"} <= set(dir(gt))
    assert not {"importlib", "TYPE_CHECKING", "Any", "annotations"} & set(dir(gt))


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_importing_the_package_loads_no_torch():
    assert not {"torch", "numpy", "matplotlib"} & _modules_after("import gradtrace")


def test_the_command_help_loads_neither_torch_nor_matplotlib_nor_the_studies():
    code = ("from typer.testing import CliRunner\nfrom gradtrace.cli import app\n"
            "result = CliRunner().invoke(app, ['--help'])\nassert result.exit_code == 0, result.output\n"
            "result = CliRunner().invoke(app, ['run', '--help'])\nassert result.exit_code == 0, result.output")
    loaded = _modules_after(code)
    assert not {"torch", "matplotlib", "gradtrace.studies", "gradtrace.report"} & loaded


def test_a_study_file_loads_from_the_root(tmp_path):
    from gradtrace.studies.declared import DeclaredStudy

    path = tmp_path / "tiny.toml"
    path.write_text('name = "tiny"\n[train]\nsteps = 2\n[models.m]\ntype = "elman"\nhidden_size = 2\n'
                    '[tasks.t]\ntype = "adding"\nlength = 4\n', encoding="utf-8")
    study = gt.load_study(path)
    assert gt.DeclaredStudy is DeclaredStudy and isinstance(study, gt.DeclaredStudy) and study.name == "tiny"
