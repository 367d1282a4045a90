"""gradtrace export: a run folder round-trips through TensorBoard event files and an MLflow SQLite database."""

import base64
import json
import re
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from gradtrace.cli import app
from gradtrace.export import MARKER, export_runs
from gradtrace.export.events import read_events
from gradtrace.export.series import read_series
from gradtrace.store import Store
from gradtrace.studies import get_study, run_study

pytest.importorskip("tensorboardX")  # the export extra
pytest.importorskip("mlflow")

runner = CliRunner()
TOY = "toy"
STEPS, MEMBERS, LENGTH = 6, 3, 4


def _toy_arrays():
    """A run with every kind of array the exporters meet, and a member that diverges at step 2."""
    loss = np.linspace(1.0, 0.5, STEPS * MEMBERS).reshape(STEPS, MEMBERS)
    loss[2, 1], loss[3:, 1] = np.inf, np.nan
    profiles = np.arange(3 * MEMBERS * LENGTH, dtype=np.float32).reshape(3, MEMBERS, LENGTH) + 1
    profiles[2, :, 0] = np.nan  # no member finite at one lag: this snapshot is left out of the histograms
    profiles[1, 1, :] = np.inf  # one member non-finite: the median of the two others
    return {
        "train/loss": loss,
        "grad/norm": loss * 10,
        "clip/fired": (np.arange(STEPS * MEMBERS).reshape(STEPS, MEMBERS) % 2).astype(np.float64),
        "eval/step": np.array([0, 3, 5]),
        "task/loss": np.array([[1.0, 2.0, 3.0], [0.5, np.nan, 1.5], [0.25, np.nan, 1.0]]),
        "trace/steps": np.array([0, 2, 4]),
        "trace/grad_norms": profiles,
        "history/step": np.array([0, 5]),
        "history/accuracy": np.array([[0.1, 0.2, 0.3], [0.9, 0.8, 0.7]]),
        "diverged_at": np.array([-1, 2, -1]),
        "test/loss": np.array([0.1, np.inf, 0.2]),  # one value per member: skipped
        "grid/value": np.zeros((2, 2, 2, 2)),  # 4-D: skipped
        "names": np.array(["a", "b"]),  # text: skipped
    }


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """One store: a quick exploding study (real arrays, report figures) and a hand-written study."""
    root = tmp_path_factory.mktemp("runs")
    store = Store(root)
    run_study(get_study("exploding"), store, quick=True, seeds=2, workers=1)
    from gradtrace.report import write_report

    write_report(store)
    config = {"lr": 0.1, "steps": STEPS, "model": "elman", "lengths": [5, 10], "use_bias": True, "none": None}
    summary = {"task/loss": 0.5, "diverged": 1, "solved": False, "note": "text", "missing": None,
               "nan_value": float("nan")}
    store.put(TOY, "a", _toy_arrays(), config=config, summary=summary, seconds=1.5)
    store.put(TOY, "b", {"train/loss": np.ones((2, MEMBERS))}, config={"lr": 0.2}, summary={},
              status="interrupted", seconds=0.5)
    store.put(TOY, "broken", {"train/loss": np.ones((2, MEMBERS))}, config={}, summary={})
    path = root / "arrays" / TOY / "broken.npz"
    path.write_bytes(path.read_bytes()[:-10])
    return root


@pytest.fixture(scope="module")
def tensorboard(folder):
    return export_runs(folder, "tensorboard")


@pytest.fixture(scope="module")
def mlflow_export(folder):
    return export_runs(folder, "mlflow")


@pytest.fixture(scope="module")
def client(mlflow_export):
    from gradtrace.export.mlflow import quiet, tracking_uri

    with quiet():
        from mlflow.tracking import MlflowClient

        yield MlflowClient(tracking_uri=tracking_uri(mlflow_export.out))


def _records(folder):
    store = Store(folder, create=False)
    return [store.get(study, name) for study in store.studies() for name in store.finished(study) | {"b"}
            if name in store.names(study)]


def _expected(record):
    """The scalars a run exports, from the store: {tag: {step: value}}."""
    lines = {}
    for item in read_series(record.arrays).series:
        for tag, values in item.lines().items():
            lines[tag] = dict(zip(item.steps.tolist(), values.tolist()))
    return lines


def _same(found, expected, *, as_float32):
    expected = np.float32(expected) if as_float32 else expected
    if np.isnan(expected):
        return np.isnan(found)
    if np.isinf(expected) and not as_float32:  # MLflow's SQL store keeps ±inf as ±the largest float
        return found == np.copysign(sys.float_info.max, expected)
    return found == expected


def test_series_are_read_generically():
    series = read_series(_toy_arrays())
    assert sorted(s.key for s in series.series) == ["clip/fired", "grad/norm", "history/accuracy", "task/loss",
                                                     "train/loss"]
    assert sorted(series.skipped) == ["diverged_at", "grid/value", "names", "test/loss"]
    by_key = {s.key: s for s in series.series}
    assert by_key["task/loss"].steps.tolist() == [0, 3, 5]
    assert by_key["history/accuracy"].steps.tolist() == [0, 5]
    lines = by_key["train/loss"].lines()
    assert set(lines) == {"train/loss/member_0", "train/loss/member_1", "train/loss/member_2", "train/loss/median"}
    assert lines["train/loss/median"][3] == np.median(_toy_arrays()["train/loss"][3, [0, 2]])  # NaN member left out
    assert by_key["clip/fired"].lines()["clip/fired/fraction"].tolist() == [1 / 3, 2 / 3] * 3
    medians, whole = series.profiles[0].medians()
    assert whole.tolist() == [True, True, False]
    profiles = _toy_arrays()["trace/grad_norms"]
    assert medians[0].tolist() == np.median(profiles[0], axis=0)[::-1].tolist()  # lag 0 is the last step
    assert medians[1].tolist() == np.median(profiles[1, [0, 2]], axis=0)[::-1].tolist()


def test_tensorboard_round_trip(folder, tensorboard):
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData

    records = _records(folder)
    assert tensorboard.runs == len(records) == 4
    assert tensorboard.damaged.keys() == {f"{TOY}/broken"}
    written = 0
    for record in records:
        log = read_events(tensorboard.out / record.study / record.name)
        assert len(log.files) == 1
        expected = _expected(record)
        summary = {f"summary/{k}": v for k, v in record.summary.items() if isinstance(v, (bool, int, float))}
        summary["summary/seconds"] = record.seconds
        assert set(log.scalars) == set(expected) | set(summary)
        for tag, values in expected.items():
            assert log.scalars[tag].keys() == values.keys()
            assert all(_same(log.scalars[tag][step], value, as_float32=True) for step, value in values.items()), tag
        for tag, value in summary.items():
            assert _same(list(log.scalars[tag].values())[0], value, as_float32=True)
        written += sum(len(v) for v in expected.values()) + len(summary)
        assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= log.hparams.keys()
        start = HParamsPluginData.FromString(log.hparams["_hparams_/session_start_info"]).session_start_info
        for key, value in record.config.items():
            if isinstance(value, bool):
                assert start.hparams[key].bool_value is value
            elif isinstance(value, (int, float)):
                assert start.hparams[key].number_value == value
            elif value is not None:
                text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
                assert start.hparams[key].string_value == text
    assert tensorboard.scalars == written
    toy = read_events(tensorboard.out / TOY / "a")
    profiles = read_series(_toy_arrays()).profiles[0]
    medians, _ = profiles.medians()
    histograms = toy.histograms["trace/grad_norms/by_lag"]
    assert sorted(histograms) == [0, 2]  # the snapshot at step 4 has a lag without a finite member
    for row, step in enumerate([0, 2]):
        assert histograms[step].limits.tolist() == [1.0, 2.0, 3.0, 4.0]
        assert np.allclose(histograms[step].counts, medians[row])
    assert tensorboard.histograms == 2 and tensorboard.nonfinite_snapshots == 1


def test_tensorboard_figures_are_the_reports(folder, tensorboard):
    html = (folder / "report.html").read_text()
    embedded = {base64.b64decode(data) for data in re.findall(r'src="data:image/png;base64,([^"]+)"', html)}
    log = read_events(tensorboard.out / "exploding")
    images = {png for by_step in log.images.values() for png, _, _ in by_step.values()}
    assert images and images == embedded
    assert tensorboard.images == len(images)
    assert all(tag.startswith("figures/") for tag in log.images)


def test_mlflow_round_trip(folder, mlflow_export, client):
    records = _records(folder)
    assert mlflow_export.runs == 4 and mlflow_export.damaged.keys() == {f"{TOY}/broken"}
    experiments = {e.name: e for e in client.search_experiments()}
    assert {"exploding", TOY, "gradtrace report"} <= experiments.keys()
    metric_points = 0
    for record in records:
        runs = client.search_runs([experiments[record.study].experiment_id],
                                  filter_string=f"tags.`gradtrace.run` = '{record.name}'")
        assert len(runs) == 1
        run = runs[0]
        assert run.data.tags["gradtrace.status"] == record.status
        assert run.data.tags["gradtrace.store"] == str(folder.resolve())
        assert run.info.status == ("FINISHED" if record.status == "finished" else "KILLED")
        for key, value in record.config.items():
            if value is not None:
                assert run.data.params[key] == (str(value) if not isinstance(value, list)
                                                else json.dumps(value, separators=(",", ":")))
        for tag, values in _expected(record).items():
            history = {m.step: m.value for m in client.get_metric_history(run.info.run_id, tag)}
            assert history.keys() == values.keys(), tag
            assert all(_same(history[step], value, as_float32=False) for step, value in values.items()), tag
            metric_points += len(values)
        assert run.data.metrics["summary/seconds"] == record.seconds
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert "config.json" in artifacts
    assert np.isnan(client.search_runs([experiments[TOY].experiment_id],
                                       filter_string="tags.`gradtrace.run` = 'a'")[0].data.metrics["summary/nan_value"])
    toy = client.search_runs([experiments[TOY].experiment_id], filter_string="tags.`gradtrace.run` = 'a'")[0]
    rows = client.download_artifacts(toy.info.run_id, "trace/grad_norms.csv")
    with open(rows) as handle:
        assert handle.readline().strip() == "step,lag,median_over_members"
        assert len(handle.readlines()) == 3 * LENGTH
    figures = client.search_runs([experiments["exploding"].experiment_id],
                                 filter_string="attributes.run_name = 'exploding'")
    pngs = [a.path for a in client.list_artifacts(figures[0].info.run_id, "figures") if a.path.endswith(".png")]
    assert len(pngs) == mlflow_export.images > 0
    report = client.search_runs([experiments["gradtrace report"].experiment_id])[0]
    assert {a.path for a in client.list_artifacts(report.info.run_id)} == {"report.html", "summary.json"}
    assert mlflow_export.scalars >= metric_points


def test_sizes_are_reported(tensorboard, mlflow_export):
    for result in (tensorboard, mlflow_export):
        files = [p for p in result.out.rglob("*") if p.is_file() and p.name != MARKER]
        assert result.files == len(files) and result.bytes == sum(p.stat().st_size for p in files) > 0
        assert json.loads((result.out / MARKER).read_text())["complete"] is True


def test_export_again_replaces_the_previous_one(folder, tensorboard, mlflow_export, client):
    again = export_runs(folder, "tensorboard", studies=[TOY], figures=False)
    assert len(list((again.out / TOY / "a").glob("events.out.tfevents.*"))) == 1
    assert not (again.out / "exploding").exists()  # replaced whole: only what this export wrote
    export_runs(folder, "mlflow", studies=[TOY], figures=False)
    from gradtrace.export.mlflow import quiet

    with quiet():
        experiment = client.get_experiment_by_name(TOY)
        assert len(client.search_runs([experiment.experiment_id])) == 3  # the study's run and its two runs: no copies


def test_a_folder_that_is_not_an_export_is_refused(folder, tmp_path):
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    result = runner.invoke(app, ["export", str(folder), "--out", str(other)])
    assert result.exit_code == 2 and "must be an empty folder or a previous export" in result.stderr
    assert (other / "notes.txt").read_text() == "keep me"
    result = runner.invoke(app, ["export", str(folder), "--out", str(folder.parent)])
    assert result.exit_code == 2 and "must not hold the run store" in " ".join(result.stderr.split())


def test_missing_extra_gives_the_install_command(folder, monkeypatch):
    import importlib.util

    find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *rest: None if name == "tensorboardX" else find(name, *rest))
    result = runner.invoke(app, ["export", str(folder)])
    assert result.exit_code == 1
    assert 'pip install "gradtrace[export]"' in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("case", ["missing", "file", "not_a_store", "damaged_catalog"])
def test_bad_folder_errors_match_report(tmp_path, case):
    path = tmp_path / "x"
    if case == "file":
        path.write_text("not a folder")
    elif case == "not_a_store":
        path.mkdir()
    elif case == "damaged_catalog":
        path.mkdir()
        (path / "catalog.sqlite").write_bytes(b"not a database" * 100)
    exported = runner.invoke(app, ["export", str(path)])
    reported = runner.invoke(app, ["report", str(path)])
    assert exported.exit_code == reported.exit_code in (1, 2)
    assert exported.stderr == reported.stderr and exported.stderr.startswith("Error:")


def test_cli_prints_counts_sizes_and_how_to_view(folder, tmp_path):
    result = runner.invoke(app, ["export", str(folder), "--study", TOY, "--no-figures", "--out", str(tmp_path / "tb")])
    assert result.exit_code == 0, result.output
    assert "Exported 2 runs" in result.stderr and f"tensorboard --logdir {tmp_path / 'tb'}" in result.stdout
    assert "Damaged, not exported: toy/broken" in " ".join(result.stderr.split())
    result = runner.invoke(app, ["export", str(folder), "--study", "nope"])
    assert result.exit_code == 2 and "`--study`" in result.stderr


def test_arguments_are_checked(folder):
    with pytest.raises(ValueError, match="Unknown to 'csv' for `to`"):
        export_runs(folder, "csv")
    with pytest.raises(TypeError, match="`out` must be a folder"):
        export_runs(folder, "tensorboard", out=3)



def test_runs_a_study_file_no_longer_declares_are_not_exported(tmp_path):
    # As in its report: after an edit, the runs the file dropped stay in the folder, outside the export.
    from gradtrace.studies.declared import load_study

    text = ('name = "edited"\nseeds = 1\n[train]\nsteps = 2\nbatch_size = 2\n[models.tanh]\ntype = "elman"\n'
            'hidden_size = 2\nreadout = "last"\n[tasks.add]\ntype = "adding"\nlength = 4\n[grid]\nlr = [0.1, 0.2]\n')
    path = tmp_path / "study.toml"
    path.write_text(text, encoding="utf-8")
    run_study(load_study(path), tmp_path / "runs")
    path.write_text(text.replace("lr = [0.1, 0.2]", "lr = [0.1, 0.3]"), encoding="utf-8")
    run_study(load_study(path), tmp_path / "runs")
    assert len(Store(tmp_path / "runs").names("edited")) == 3
    result = export_runs(tmp_path / "runs", "tensorboard", figures=False)
    assert result.runs == 2
