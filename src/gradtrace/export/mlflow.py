"""Write a run folder to an MLflow tracking database (mlflow-skinny on SQLite, never MLflow's file store).

Layout: ``<out>/mlflow.db`` (tracking URI ``sqlite:///<out>/mlflow.db``) and ``<out>/artifacts/<study>`` (the
experiments' artifact locations). One experiment per study, named as the study, holding:

- a run named as the study with the study's report figures (``figures/<nn> <title>.png``, and
  ``figures/captions.json`` with their titles and captions);
- one run per stored run, named as it and nested under the figures run: its config as params (numbers,
  flags and text as they are, lists as JSON; a value longer than MLflow takes is left out of the params, and
  every value is in the artifact ``config.json``), its series as metrics with their steps (the same names
  as the TensorBoard tags: ``train/loss/member_3``, ``train/loss/median``, ``clip/fired/fraction``), its summary's
  numbers as ``summary/<key>``, its profiles as the artifact ``<key>.csv`` (step, lag, median over members),
  and the tags ``gradtrace.status``, ``gradtrace.version``, ``gradtrace.store``, ``gradtrace.study``,
  ``gradtrace.run``. A finished run ends FINISHED, an interrupted one KILLED, any other FAILED.

The run folder's ``report.html`` and ``summary.json``, where they exist, are the artifacts of the one run of
the experiment ``gradtrace report``.

Exporting again into the same folder replaces the previous export in the same database (MLflow keeps a
process-wide connection to a database it has opened, so the file is never deleted under it): every run the
previous export wrote is deleted (MLflow's soft delete: out of the UI and of searches, purged for good by
``mlflow gc --backend-store-uri <uri>``), its artifacts removed, and the experiments reused.

NaN is stored as NaN. MLflow's SQL store keeps ±inf as ±1.7976931348623157e308 (the largest float), which is
how a diverged member's infinite loss reads back.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import shutil
import tempfile
import time
import warnings
from contextlib import ExitStack
from pathlib import Path

from gradtrace.export import ExportResult, StudyFigures, final_metrics, hyperparameters, name_for
from gradtrace.export.series import RunSeries, summary_tag
from gradtrace.store import RunRecord, Store

__all__ = ["DATABASE", "REPORT_EXPERIMENT", "MlflowTarget", "quiet", "tracking_uri"]

#: The tracking database's file name in the export folder.
DATABASE = "mlflow.db"
_ARTIFACTS = "artifacts"
_STATUS = {"finished": "FINISHED", "interrupted": "KILLED"}
# The run folder's files the report run carries.
_REPORT_FILES = ("report.html", "summary.json")
_LOGGERS = ("mlflow", "alembic")
# The experiment MLflow creates in every database.
_DEFAULT_EXPERIMENT = "Default"
#: The experiment whose one run carries the run folder's report (no study is named with a space).
REPORT_EXPERIMENT = "gradtrace report"


def tracking_uri(out: str | Path) -> str:
    """Return the tracking URI of the export in ``out``: ``sqlite:///<absolute path>/mlflow.db``."""
    return f"sqlite:///{(Path(out) / DATABASE).resolve()}"


def quiet() -> ExitStack:
    """Return a context that silences MLflow's and alembic's INFO logs and MLflow's own deprecation warnings.

    MLflow logs every database migration at INFO, and its SQL store warns of SQLAlchemy deprecations in
    MLflow's code (``noload``), which only MLflow can fix: those are ignored, narrowly (DeprecationWarning
    from ``mlflow`` modules); every other warning passes.
    """
    import mlflow  # noqa: F401  (importing it configures its loggers: set their levels after)

    stack = ExitStack()
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        stack.callback(logger.setLevel, logger.level)
        logger.setLevel(logging.WARNING)
    stack.enter_context(warnings.catch_warnings())
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"mlflow(\.|$)")
    return stack


class MlflowTarget:
    """Writes studies and runs to the MLflow database in ``out`` (see the module docstring); a context manager."""

    #: What a new export keeps of a previous one in ``out``: the database, whose runs :meth:`__enter__` deletes.
    KEEP = (DATABASE,)

    def __init__(self, store: Store, out: Path):
        self.store = store
        self.out = out
        self._stack = ExitStack()
        self._parent: str | None = None
        self._experiment: str | None = None

    def __enter__(self) -> MlflowTarget:
        self._stack.enter_context(quiet())
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=tracking_uri(self.out))
        self._scratch = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="gradtrace-export-")))
        self._previous = self._clear()
        self._used: set[str] = set()
        return self

    def _clear(self) -> dict[str, str]:
        """Delete the runs of a previous export in this database; return its experiments' ids by name."""
        from mlflow.entities import ViewType

        experiments = {}
        for experiment in self.client.search_experiments(view_type=ViewType.ALL):
            experiments[experiment.name] = experiment.experiment_id
            self._delete_runs(experiment.experiment_id)
        shutil.rmtree(self.out / _ARTIFACTS, ignore_errors=True)  # the deleted runs' artifacts
        return experiments

    def _delete_runs(self, experiment: str) -> None:
        """Delete (MLflow's soft delete) every active run of ``experiment``."""
        from mlflow.entities import ViewType

        token = None
        while True:
            runs = self.client.search_runs([experiment], run_view_type=ViewType.ACTIVE_ONLY, max_results=1000,
                                           page_token=token)
            for run in runs:
                self.client.delete_run(run.info.run_id)
            token = runs.token
            if not token:
                return

    def _experiment_for(self, name: str) -> str:
        """Return the id of the experiment ``name``: a previous export's, restored, or a new one."""
        self._used.add(name)
        if name in self._previous:
            if self.client.get_experiment(self._previous[name]).lifecycle_stage != "active":
                # Deleted by an export without this study; restoring it restores every run it ever had.
                self.client.restore_experiment(self._previous[name])
                self._delete_runs(self._previous[name])
            return self._previous[name]
        location = (self.out / _ARTIFACTS / name_for(name)).resolve()
        return self.client.create_experiment(name, artifact_location=str(location))

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def view(self) -> str:
        import shlex

        return f"mlflow ui --backend-store-uri {shlex.quote(tracking_uri(self.out))}"

    def study(self, study: str, figures: StudyFigures, result: ExportResult) -> None:
        """Create the study's experiment and its figures run."""
        self._experiment = self._experiment_for(study)
        run = self.client.create_run(self._experiment, run_name=study,
                                     tags={"gradtrace.study": study, **self._tags()})
        self._parent = run.info.run_id
        for name, _, _, png in figures.figures:
            path = self._scratch / f"{name}.png"
            path.write_bytes(png)
            self.client.log_artifact(self._parent, str(path), artifact_path="figures")
            path.unlink()
            result.images += 1
        if figures.figures:
            captions = {f"{name}.png": {"title": title, "caption": caption}
                        for name, title, caption, _ in figures.figures}
            self.client.log_dict(self._parent, captions, "figures/captions.json")
        self.client.set_terminated(self._parent, "FINISHED")

    def report(self) -> None:
        """Create the experiment ``gradtrace report`` whose one run carries the folder's report and summary.

        A previous export's experiments this one did not write (a study not exported this time) are deleted.
        """
        files = [self.store.root / name for name in _REPORT_FILES if (self.store.root / name).is_file()]
        if files:
            self._report(files)
        for name, experiment in self._previous.items():
            if name not in self._used and name != _DEFAULT_EXPERIMENT:
                if self.client.get_experiment(experiment).lifecycle_stage == "active":
                    self.client.delete_experiment(experiment)

    def _report(self, files: list[Path]) -> None:
        experiment = self._experiment_for(REPORT_EXPERIMENT)
        run_id = self.client.create_run(experiment, run_name="report", tags=self._tags()).info.run_id
        for path in files:
            self.client.log_artifact(run_id, str(path))
        self.client.set_terminated(run_id, "FINISHED")

    def _tags(self) -> dict[str, str]:
        from gradtrace import __version__

        return {"gradtrace.version": __version__, "gradtrace.store": str(self.store.root.resolve())}

    def run(self, record: RunRecord, series: RunSeries, result: ExportResult) -> None:
        """Create one MLflow run for a stored run: params, metrics with steps, profiles and config as artifacts."""
        from mlflow.entities import Metric, Param
        from mlflow.utils.validation import MAX_METRICS_PER_BATCH, MAX_PARAM_VAL_LENGTH, MAX_PARAMS_TAGS_PER_BATCH

        tags = {"gradtrace.status": record.status, **self._tags(), "gradtrace.study": record.study,
                "gradtrace.run": record.name, "mlflow.parentRunId": self._parent}
        run_id = self.client.create_run(self._experiment, run_name=record.name, tags=tags).info.run_id
        params = [Param(name_for(key), str(value)) for key, value in hyperparameters(record).items()
                  if len(str(value)) <= MAX_PARAM_VAL_LENGTH]
        for start in range(0, len(params), MAX_PARAMS_TAGS_PER_BATCH):
            self.client.log_batch(run_id, params=params[start:start + MAX_PARAMS_TAGS_PER_BATCH])
        stamp = int(time.time() * 1000)
        metrics = []
        last = 0
        for item in series.series:
            steps = item.steps.tolist()
            last = max([last, *steps[-1:]])
            for tag, values in item.lines().items():
                metrics += [Metric(name_for(tag), value, stamp, step) for step, value in zip(steps, values.tolist())]
        metrics += [Metric(name_for(summary_tag(key)), value, stamp, last)
                    for key, value in final_metrics(record).items()]
        for start in range(0, len(metrics), MAX_METRICS_PER_BATCH):
            self.client.log_batch(run_id, metrics=metrics[start:start + MAX_METRICS_PER_BATCH])
        result.scalars += len(metrics)
        for profile in series.profiles:
            medians, whole = profile.medians()
            result.nonfinite_snapshots += int((~whole).sum())
            text = io.StringIO()
            rows = csv.writer(text)
            rows.writerow(["step", "lag", "median_over_members"])
            for step, values in zip(profile.steps.tolist(), medians.tolist()):
                rows.writerows([step, lag, value] for lag, value in enumerate(values))
            self.client.log_text(run_id, text.getvalue(), f"{name_for(profile.key)}.csv")
            result.histograms += len(profile.steps)
        self.client.log_text(run_id, json.dumps(record.config, indent=1, default=str), "config.json")
        self.client.set_terminated(run_id, _STATUS.get(record.status, "FAILED"))
