"""The ``gradtrace`` command: thin wrappers over the library, with rich progress and clean errors."""

from __future__ import annotations

import datetime as _dt
import math
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gradtrace.errors import GradtraceError, RunInterrupted

# The library (torch, matplotlib, the studies, the report) is imported inside each command, when it
# needs it: `gradtrace --help` and a mistyped option answer at once.

__all__ = ["app", "main"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    help="See, measure and fix vanishing and exploding gradients.",
)
console = Console(stderr=True)
output = Console()


class RichProgress:
    """Draws :func:`run_study` progress events as rich bars: runs of the study, steps of the run."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.study_bar = None
        self.run_bar = None
        self.run_steps = 0

    def study_started(self, study: str, total_runs: int, skipped: int) -> None:
        if skipped:
            console.print(f"[dim]{study}: {skipped} of {total_runs} runs already finished, resuming.[/dim]")
        self.study_bar = self.progress.add_task(f"[bold]{study}", total=total_runs, completed=skipped, loss="")

    def run_started(self, name: str, steps: int) -> None:
        if self.run_bar is not None:
            self.progress.remove_task(self.run_bar)
        self.run_bar = self.progress.add_task(f"  {name}", total=steps, loss="")
        self.run_steps = steps

    def run_step(self, step: int, metrics: dict) -> None:
        loss = metrics.get("train/loss")
        shown = ""
        if loss is not None:  # runs that measure without training report no loss
            finite = loss[~loss.isnan()]
            shown = f"loss {float(finite.median()):.4g}" if finite.numel() else "all diverged"
        self.progress.update(self.run_bar, completed=step + 1, loss=shown)

    def run_finished(self, name: str, seconds: float) -> None:
        # A run that stops early (every member diverged) or measures without steps still completes.
        if self.run_bar is not None:
            self.progress.update(self.run_bar, completed=self.run_steps)
        self.progress.advance(self.study_bar)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[loss]}"), TimeElapsedColumn(), console=console, transient=False)


def _print_path(path: Path) -> None:
    # Verbatim on one line, for scripts: not wrapped at the console width, not read as markup.
    output.print(str(path), markup=False, highlight=False, soft_wrap=True)


def _warn(message: str) -> None:
    console.print(f"[yellow]{escape(message)}[/yellow]", highlight=False, soft_wrap=True)


def _fail(message: str, code: int) -> None:
    # Messages quote user input (a study name, a folder): escaped so rich reads no markup in it. One line, not
    # wrapped at the console width, which would break a path in two.
    console.print(f"[bold red]Error:[/bold red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.command()
def run(
    study: Annotated[str | None, typer.Argument(
        help="A built-in study (see `gradtrace list`) or a study file (FILE.toml, see `gradtrace new-study`); none "
             "runs the default study.")] = None,
    # A string, not a Path: Path("") is the current folder, and an empty --out must be refused, not read as ".".
    out: Annotated[str | None, typer.Option(
        help="Output folder (the run store); default runs/<timestamp>. An existing one is resumed.")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Tiny sizes and few steps: a smoke test in seconds.")] = False,
    budget: Annotated[str | None, typer.Option(
        help="default (the course's sizes), quick (the same as --quick) or paper (one study at its paper's "
             "protocol, as far as one core allows: hochreiter1997 and le2015 have one; see the README for "
             "how long each takes).")] = None,
    seeds: Annotated[int | None, typer.Option(help="Seeds (ensemble members) per configuration.")] = None,
    threads: Annotated[int, typer.Option(
        help="Torch intra-op threads. The built-in networks are small: one thread is as fast as two on an idle "
             "machine and many times faster on a busy one.")] = 1,
    workers: Annotated[int | None, typer.Option(
        help="Processes that run a study's runs side by side; default: one per CPU core.")] = None,
    lang: Annotated[str, typer.Option(help="Language of the HTML report: en or pt.")] = "en",
    seed_offset: Annotated[int, typer.Option(
        help="Added to every study's base seed: the same course or study on other seeds.")] = 0,
    yes: Annotated[bool, typer.Option(
        "--yes", help="Run a study file whose grid declares more than 10,000 runs.")] = False,
    executor: Annotated[str, typer.Option(
        help="Where the runs execute: local (this machine, --workers processes) or ray (Ray tasks of --threads "
             'CPUs each; pip install "gradtrace[ray]"). The stored numbers are the same.')] = "local",
    address: Annotated[str | None, typer.Option(
        help="The Ray cluster for --executor ray: HOST:PORT of its head node; default RAY_ADDRESS, else a new "
             "cluster on this machine.")] = None,
) -> None:
    """Run the course (default: every section of the course notes, in their order) or one study, and write the
    HTML report and summary.json."""
    started = time.perf_counter()
    import torch

    from gradtrace.errors import check_int
    from gradtrace.report import write_report
    from gradtrace.report.i18n import check_lang
    from gradtrace.store import Store
    from gradtrace.studies import (
        MAX_SEEDS,
        MAX_WORKERS,
        check_resume,
        get_study,
        run_study,
    )
    from gradtrace.studies.base import MAX_SEED_OFFSET
    from gradtrace.studies.course import course_studies
    from gradtrace.studies.executors import available_cores
    from gradtrace.studies.summary import WALL_SECONDS_KEY

    try:
        # Every option is checked before anything is written: a refused command leaves no folder behind.
        # More threads than cores only makes the workers wait on each other; far more cannot even start.
        threads = check_int("--threads", threads, minimum=1, maximum=max(MAX_THREADS, available_cores()))
        lang = _check_lang(check_lang, lang)
        processes = (available_cores() if workers is None
                     else check_int("--workers", workers, minimum=1, maximum=MAX_WORKERS))
        if seeds is not None:
            check_int("--seeds", seeds, minimum=1, maximum=MAX_SEEDS)
        # Member k of a study draws from seed + offset + k: the largest offset leaves room for every member.
        seed_offset = check_int("--seed-offset", seed_offset, minimum=0, maximum=MAX_SEED_OFFSET)
        if study is not None and study.endswith(".toml"):
            if budget not in (None, "default"):
                raise ValueError(f"`--budget {budget}` does not apply to a study file, which sets its own sizes.")
            loaded, seeds = _study_file(study, quick=quick, seeds=seeds, yes=yes)
            names = [loaded.study.name]
            plans = [(loaded.study.with_seed_offset(seed_offset, quick=loaded.quick), loaded.quick)]
        else:
            budget = _check_budget(budget, quick, study)
            quick = budget == "quick"
            names = course_studies() if study is None else [study]
            studies = [get_study(name) for name in names]
            if budget == "paper":
                studies = [item.with_budget(budget) for item in studies]
            plans = [(item.with_seed_offset(seed_offset, quick=quick), quick) for item in studies]
        runner = _executor(executor, address, workers, processes, threads)
        runner.check()  # an unreachable cluster is named before the folder is made
        folder = _out_folder(out)
        torch.set_num_threads(threads)
        store = Store(folder)
        for item, short in plans:
            check_resume(item, store, quick=short, seeds=seeds)
        with store.write_lock(), runner:  # one Ray session for every study
            console.print(f"Writing runs to [bold]{escape(str(folder))}[/bold]")
            with _progress() as progress:
                reporter = RichProgress(progress)
                for item, short in plans:
                    for name, problem in store.damaged(item.name).items():
                        _warn(f"{item.name}: run {name!r} is damaged ({problem}); running it again.")
                    run_study(item, store, quick=short, seeds=seeds, progress=reporter, executor=runner)
            # Kept in the store so that summary.json, written now and by any later `gradtrace report`, has it.
            store.set_meta(WALL_SECONDS_KEY, time.perf_counter() - started)
        path = write_report(store, lang=lang)
        damaged = _warn_damaged(store)
    except RunInterrupted as error:
        console.print(f"[yellow]Interrupted.[/yellow] {escape(str(error))}")
        try:
            path = write_report(store, lang=lang)
            console.print(f"Report of what finished: {escape(str(path))}")
        except (ValueError, GradtraceError):
            pass
        raise typer.Exit(130) from None
    except KeyboardInterrupt:
        console.print("[yellow]Interrupted[/yellow] before any run finished.")
        raise typer.Exit(130) from None
    except (ValueError, TypeError) as error:
        _fail(str(error), 2)
    except GradtraceError as error:
        _fail(str(error), 1)
    _summarize(store, names, damaged)
    _print_claims(store, names, lang)
    _print_path(path)


def _study_file(path: str, *, quick: bool, seeds: int | None, yes: bool):
    """Return the study file ``path`` read (see ``read_study_file``) and the seeds to run it with."""
    from gradtrace.studies.declared import read_study_file

    if quick:
        raise ValueError("`--quick` does not apply to a study file, which sets its own sizes: write `quick = true` "
                         "in a built-in study's file (`gradtrace show STUDY --toml --quick` writes one), or smaller "
                         "sizes in a declared study.")
    loaded = read_study_file(path, allow_large=yes)
    return loaded, seeds if seeds is not None else loaded.seeds


def _executor(name: str, address: str | None, workers: int | None, processes: int, threads: int):
    """Return the executor ``--executor``, ``--address`` and ``--workers`` ask for, or raise naming the option.

    Raises:
        ValueError: for an unknown executor, ``--address`` without Ray, ``--workers`` with it, or a malformed address.
        MissingRayError: for ``--executor ray`` without Ray installed (with the install command).
    """
    from gradtrace.errors import check_choice
    from gradtrace.studies.executors import EXECUTORS, LocalExecutor, RayExecutor, check_address

    check_choice("--executor", name, EXECUTORS, what="executor")
    if name == "local":
        if address is not None:
            raise ValueError(f"`--address` is for `--executor ray`, got --address {address!r} with the local executor.")
        return LocalExecutor(processes)
    if workers is not None:
        raise ValueError("`--workers` is for the local executor: on Ray as many runs go side by side as the cluster "
                         f"has CPUs, got --workers {workers}.")
    return RayExecutor(check_address("--address", address) if address is not None else None, threads=threads)


def _check_budget(budget: str | None, quick: bool, study: str | None) -> str:
    """Return the budget ``--budget`` and ``--quick`` ask for; raise ValueError for a conflict, or for ``paper``
    without a study (the course is sized to minutes; a paper budget takes one study hours)."""
    from gradtrace.errors import check_choice
    from gradtrace.studies.base import BUDGETS, studies_with_budget

    if budget is None:
        return "quick" if quick else "default"
    check_choice("--budget", budget, BUDGETS, what="budget")
    if quick and budget != "quick":
        raise ValueError(f"`--quick` is `--budget quick` and conflicts with `--budget {budget}`; give one of them.")
    if budget == "paper" and study is None:
        raise ValueError("`--budget paper` runs one study at its paper's protocol, and the course has no paper budget; "
                         f"name a study that has one: {', '.join(studies_with_budget('paper'))}.")
    return budget


def _check_lang(check, lang: str) -> str:
    """Return ``lang`` checked by ``check``, its message naming the option ``--lang``."""
    try:
        return check(lang)
    except ValueError as error:
        raise ValueError(f"`--lang`: {error}") from None


def _out_folder(out: str | None) -> Path:
    """Return the run folder ``--out`` names (default runs/<timestamp>), created, or raise ValueError naming it."""
    from gradtrace.store import check_folder

    if out is None:
        return Path("runs") / _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = check_folder(out, name="--out")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # what os.access cannot foresee: /proc, a read-only mount, root's limits
        raise ValueError(f"`--out` must be a folder that can be created, got {out!r}: {error.strerror}.") from None
    return folder


def _warn_damaged(store) -> dict[str, dict[str, str]]:
    """Print the runs the report left out because their arrays are damaged; return them by study."""
    damaged = {name: store.damaged(name) for name in store.studies()}
    for name, runs in damaged.items():
        for run, problem in runs.items():
            _warn(f"Damaged, not in the report: {name}/{run}: {problem}. Run the study again with the same --out "
                  "to redo it.")
    return damaged


#: The most torch threads `--threads` takes (or the cores, if there are more).
MAX_THREADS = 256


def _summarize(store, names: list[str], damaged: dict[str, dict[str, str]]) -> None:
    from gradtrace.studies import STUDIES
    from gradtrace.studies.claims import shown_runs

    for name in names:
        meta = store.meta(f"study/{name}") or {}
        runs = [run for run in shown_runs(store, name) if run not in damaged.get(name, {})]
        # in the order the study plans them, not the order parallel workers happened to finish them in
        planned = {run: i for i, run in enumerate(meta.get("runs", ()))}
        runs.sort(key=lambda run: planned.get(run, len(planned)))
        records = [r for r in (store.get(name, run) for run in runs) if r.summary]
        if not records:
            continue
        columns = STUDIES[name].summary_columns if name in STUDIES else _declared_columns(meta)
        if not columns:
            scalars = [key for key, value in records[0].summary.items()
                       if isinstance(value, (int, float, str)) and not isinstance(value, bool)][:6]
            columns = tuple((key, key, "") for key in scalars)
        title = f"{name}: {STUDIES[name].title}" if name in STUDIES else name
        if "declared" in meta and meta["declared"].get("title"):
            title = f"{name}: {meta['declared']['title']}"
        rows = [(r.name, [_cell(r.summary.get(key), spec) for _, key, spec in columns]) for r in records
                # a run that measures something else (a study's sweep) has no cell in this table
                if any(key in r.summary for _, key, _ in columns)]
        for table in _tables(title, [header for header, _, _ in columns], rows, console.width):
            console.print(table)


def _declared_columns(meta: dict) -> tuple:
    if "declared" not in meta:
        return ()
    from gradtrace.studies.declared import DeclaredStudy

    return DeclaredStudy.summary_columns


def _tables(title: str, headers: list[str], rows: list[tuple[str, list[str]]], width: int) -> list[Table]:
    """Lay out a summary as one table, or as several side by side parts when one would not fit in ``width``.

    The run name and the numbers are never cut or folded, however narrow the terminal or when piped (rich then
    assumes 80 columns): each column is exactly as wide as its longest cell and its header's longest word
    (headers wrap between words), and the columns that do not fit go to a further table that repeats the run name.
    """
    def needed(texts: list[str], header: str) -> int:
        return max([len(t) for t in texts] + [len(word) for word in header.split()] + [1])

    name_width = needed([escape(name) for name, _ in rows], "run")
    widths = [needed([cells[i] for _, cells in rows], header) for i, header in enumerate(headers)]
    groups: list[list[int]] = [[]]
    used = 1 + name_width + 3                     # left edge, then each column: its width, padding 2, edge 1
    for i, column_width in enumerate(widths):
        if groups[-1] and used + column_width + 3 > width:
            groups.append([])
            used = 1 + name_width + 3
        groups[-1].append(i)
        used += column_width + 3
    # Space a part leaves free goes to its headers, so they wrap less: each column grows towards its header's length.
    for group in groups:
        spare = width - (1 + name_width + 3 + sum(widths[i] + 3 for i in group))
        for i in group:
            grow = min(max(0, len(headers[i]) - widths[i]), max(spare, 0))
            widths[i] += grow
            spare -= grow
    tables = []
    for part, group in enumerate(groups):
        suffix = f" ({part + 1}/{len(groups)})" if len(groups) > 1 else ""
        table = Table(title=escape(title) + suffix)
        table.add_column("run", no_wrap=True, width=name_width)
        for i in group:
            table.add_column(headers[i], width=widths[i])
        for name, cells in rows:
            table.add_row(escape(name), *(cells[i] for i in group))
        tables.append(table)
    return tables


def _print_claims(store, names: list[str], lang: str = "en") -> None:
    """Print each study's claims as "✓ sentence" or "✗ sentence", then how many held; the run still succeeds."""
    from gradtrace.report.i18n import text
    from gradtrace.studies import evaluate_claims
    from gradtrace.studies.summary import QUICK_NOTE

    held = total = studies = 0
    quick = False
    for name in names:
        verdicts = evaluate_claims(store, name)
        if not verdicts:
            continue
        short = bool((store.meta(f"study/{name}") or {}).get("quick"))
        quick |= short
        _plain(f"{name}: " + text("claims.count", lang, held=sum(v.held for v in verdicts), total=len(verdicts))
               + (text("claims.quick", lang) if short else ""))
        for verdict in verdicts:
            _plain(f"{'✓' if verdict.held else '✗'} {verdict.sentence[lang]}")
        held += sum(v.held for v in verdicts)
        total += len(verdicts)
        studies += 1
    if studies > 1:  # one study's count is its line above
        _plain(text("claims.count", lang, held=held, total=total) + "." + (f" {QUICK_NOTE[lang]}" if quick else ""))
    elif quick:
        _plain(QUICK_NOTE[lang])


def _plain(text: str) -> None:
    # Wrapped between words at the console's width (80 when piped), never cut: a claim reads whole either way.
    console.print(text, markup=False, highlight=False)


def _cell(value, spec: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    try:
        return escape(format(value, spec))
    except (TypeError, ValueError):
        return escape(str(value))


@app.command("list")
def list_() -> None:
    """List the built-in studies, tasks and models."""
    from gradtrace.models import MODELS
    from gradtrace.studies import STUDIES
    from gradtrace.studies.course import COURSE
    from gradtrace.tasks import TASKS

    table = Table(title="Studies (gradtrace run STUDY)")
    table.add_column("name")
    table.add_column("what it shows")
    for name, cls in STUDIES.items():
        marker = f" (course §{COURSE.index(name) + 1})" if name in COURSE else ""
        table.add_row(name + marker, cls.description)
    output.print(table)
    output.print("Tasks: " + ", ".join(TASKS))
    output.print("Models: " + ", ".join(MODELS))


@app.command()
def show(
    study: Annotated[str, typer.Argument(help="A built-in study (see `gradtrace list`) or a study file (.toml).")],
    as_toml: Annotated[bool, typer.Option(
        "--toml", help="Print the study as a TOML file that `gradtrace run FILE.toml` reruns with identical "
                       "results.")] = False,
    quick: Annotated[bool, typer.Option("--quick", help="A built-in study's quick config.")] = False,
    seeds: Annotated[int | None, typer.Option(help="Seeds (ensemble members) per configuration.")] = None,
) -> None:
    """Print a study's title, question, description and resolved config (a study file: the runs it plans)."""
    from gradtrace.studies.declared import show_study

    try:
        text = show_study(study, as_toml=as_toml, quick=quick, seeds=seeds)
    except (ValueError, TypeError) as error:
        _fail(str(error), 2)
    except GradtraceError as error:
        _fail(str(error), 1)
    output.print(text, markup=False, highlight=False, soft_wrap=True, end="")


@app.command("new-study")
def new_study(
    name: Annotated[str, typer.Argument(help="The study's name: lowercase letters, digits and '-'.")],
    out: Annotated[str | None, typer.Option(help="Where to write it; default NAME.toml. Never overwritten.")] = None,
) -> None:
    """Write a commented study file that runs as it is (`gradtrace run NAME.toml`), to edit into your own study."""
    from gradtrace.studies.declared import write_template

    try:
        path = write_template(name, out)
    except (ValueError, TypeError) as error:
        _fail(str(error), 2)
    _print_path(path)


@app.command()
def report(
    folder: Annotated[str, typer.Argument(help="A run folder written by `gradtrace run`.")],
    lang: Annotated[str, typer.Option(help="Language of the HTML report: en or pt.")] = "en",
) -> None:
    """Write (again) the HTML report of a run folder and print its path."""
    from gradtrace.report import write_report
    from gradtrace.report.i18n import check_lang
    from gradtrace.store import open_run_folder

    try:
        lang = _check_lang(check_lang, lang)
        store = open_run_folder(folder, name="FOLDER")
        path = write_report(store, lang=lang)
        _warn_damaged(store)
    except (ValueError, TypeError) as error:
        _fail(str(error), 2)
    except GradtraceError as error:
        _fail(str(error), 1)
    _print_path(path)


@app.command()
def export(
    folder: Annotated[str, typer.Argument(help="A run folder written by `gradtrace run`.")],
    to: Annotated[str, typer.Option("--to", help="tensorboard (event files) or mlflow (a SQLite tracking "
                                                   "database).")] = "tensorboard",
    out: Annotated[str | None, typer.Option(
        help="The export's folder; default FOLDER/tensorboard or FOLDER/mlflow. A previous export there is "
             "replaced.")] = None,
    study: Annotated[list[str] | None, typer.Option(
        "--study", help="Export only this study (repeat for several); default: every study.")] = None,
    figures: Annotated[bool, typer.Option(help="Draw and export each study's report figures.")] = True,
    lang: Annotated[str, typer.Option(help="Language of the figures: en or pt.")] = "en",
) -> None:
    """Export a run folder to TensorBoard or MLflow: every member's series, the gradient profiles, the configs and
    the report's figures; print what was written and the command that shows it."""
    from gradtrace.errors import check_choice
    from gradtrace.export import TARGETS, check_out, export_runs
    from gradtrace.report.i18n import check_lang
    from gradtrace.store import open_run_folder

    try:
        lang = _check_lang(check_lang, lang)
        check_choice("--to", to, TARGETS, what="target")
        store = open_run_folder(folder, name="FOLDER")
        for name in study or ():
            check_choice("--study", name, store.studies(), what="study in this run folder")
        out = str(check_out(store, to, out, name="--out"))
        with console.status(f"Exporting {escape(folder)} to {escape(to)}"):
            result = export_runs(store, to, out, studies=study, figures=figures, lang=lang)
    except (ValueError, TypeError) as error:
        _fail(str(error), 2)
    except GradtraceError as error:  # MissingExtraError too: one line with the install command
        _fail(str(error), 1)
    for run, problem in result.damaged.items():
        _warn(f"Damaged, not exported: {run}: {problem}. Run the study again with the same --out to redo it.")
    for problem in result.problems:
        _warn(problem)
    skipped = sum(result.skipped.values())
    _plain(f"Exported {result.runs} runs: {result.scalars} scalar values, {result.histograms} gradient profiles, "
           f"{result.images} figures; {result.files} files, {_size(result.bytes)}."
           + (f" Left out: {skipped} stored arrays that are neither a value per step nor a gradient profile "
              f"({', '.join(sorted(result.skipped)[:4])}{', …' if len(result.skipped) > 4 else ''}); the report's "
              "figures, exported as images, draw them." if skipped else ""))
    if result.nonfinite_snapshots:
        _plain(f"{result.nonfinite_snapshots} profile snapshots had a lag without a finite value and were left out.")
    output.print(f"View it with: {result.view}", markup=False, highlight=False, soft_wrap=True)
    _print_path(result.out)


def _size(count: int) -> str:
    """Return a byte count as ``12.3 MB`` (powers of 1000)."""
    for unit in ("B", "kB", "MB"):
        if count < 1000:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"


@app.command()
def doctor(
    model: Annotated[str, typer.Argument(
        metavar="MODEL", help="The model: 'package.module:attribute' or 'path/to/file.py:attribute' naming an "
                              "nn.Module or a callable (a class, a factory) that returns one.")],
    loss: Annotated[str, typer.Option(
        "--loss", metavar="LOSS", help="The loss, as MODEL: loss_fn(model, batch) runs the model on a batch and "
                                       "returns the scalar loss.")],
    data: Annotated[str, typer.Option(
        "--data", metavar="DATA", help="The batches, as MODEL: a list of batches or a callable that returns one. "
                                       "All are diagnosed.")],
    treat_it: Annotated[bool, typer.Option(
        "--treat", help="Also try the remedies that fit the diagnosis on copies of the model.")] = False,
    steps: Annotated[int | None, typer.Option(help="With --treat: training steps per remedy and seed [100].")] = None,
    seeds: Annotated[int | None, typer.Option(help="With --treat: seeds per remedy [5].")] = None,
    lr: Annotated[float | None, typer.Option(help="With --treat: learning rate of plain SGD [0.01].")] = None,
    remedies: Annotated[str | None, typer.Option(
        help="With --treat: 'auto' (chosen from the diagnosis) or comma-separated remedy names.")] = None,
    mode: Annotated[str, typer.Option(
        help="Modules' flags during the diagnosis: train (dropout, batch statistics), eval, or as-is.")] = "train",
    recurrent: Annotated[str | None, typer.Option(
        help="Comma-separated names of step modules your own loop calls once per time step (a custom cell), "
             "to trace them through time.")] = None,
    threads: Annotated[int, typer.Option(
        help="Torch intra-op threads. Small models run fastest on one; on a busy machine more threads than "
             "free cores make every small step wait.")] = 1,
    json_path: Annotated[str | None, typer.Option(
        "--json", help="Where to write the JSON; default: beside the report, with the suffix .json.")] = None,
    out: Annotated[str, typer.Option(help="Where to write the HTML report.")] = "doctor-report.html",
    fail_on: Annotated[str | None, typer.Option(
        help="Exit with code 3 when the diagnosis finds one of these comma-separated verdict kinds: non-finite, "
             "exploding, vanishing, dead-units, healthy.")] = None,
) -> None:
    """Diagnose where your model's gradient vanishes or explodes; with --treat, try the remedies on copies.

    Prints the verdicts (and the remedies), writes a self-contained HTML report and a JSON file, and prints their
    paths. Exit codes: 0 done, 2 bad input, 3 a verdict named in --fail-on was found.
    """
    import torch

    from gradtrace.doctor.cli_support import run_doctor
    from gradtrace.errors import check_int
    from gradtrace.studies.executors import available_cores

    try:
        threads = check_int("--threads", threads, minimum=1, maximum=max(MAX_THREADS, available_cores()))
    except (TypeError, ValueError) as error:
        _fail(str(error), 2)
    torch.set_num_threads(threads)

    def echo(text: str) -> None:
        output.print(text, markup=False, highlight=False, soft_wrap=True)

    try:
        result = run_doctor(model, loss, data, treat_it=treat_it, steps=steps, seeds=seeds, lr=lr, remedies=remedies,
                            mode=mode, recurrent=recurrent, out=out, json_path=json_path, fail_on=fail_on, echo=echo,
                            working=lambda message: console.status(escape(message)))
    except KeyboardInterrupt:
        console.print("[yellow]Interrupted.[/yellow] Nothing was written.")
        raise typer.Exit(130) from None
    except (ValueError, TypeError) as error:
        _fail(str(error), 2)
    except GradtraceError as error:
        _fail(str(error), 1)
    _print_path(result.json)
    _print_path(result.html)
    if result.failed:
        console.print(f"[bold red]Found:[/bold red] {escape(', '.join(result.failed))} (named in --fail-on).",
                      highlight=False, soft_wrap=True)
        raise typer.Exit(3)


@app.command()
def ask(
    question: Annotated[str | None, typer.Argument(
        metavar="QUESTION", help="The question, in English or Portuguese.")] = None,
    corpus: Annotated[list[str] | None, typer.Option(
        "--corpus", help="A folder of your own material (Markdown, text, transcripts with timestamps); repeat "
                         "for several.")] = None,
    k: Annotated[int, typer.Option("--k", help="Passages to show.")] = 5,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    show: Annotated[bool, typer.Option("--show", help="Run the study that demonstrates the answer.")] = False,
    evaluate: Annotated[str | None, typer.Option(
        "--evaluate", help="Evaluate retrieval and answers on a question set: a TOML file, or 'shipped' for the "
                           "set gradtrace ships.")] = None,
    retrieval: Annotated[str, typer.Option(
        help="auto (hybrid where E5 is installed), bm25, or hybrid.")] = "auto",
    cache: Annotated[bool, typer.Option(help="Cache the index under ~/.cache/gradtrace/ask.")] = True,
) -> None:
    """Answer a question from the course guide (and your material), citing the passages, and offer the study
    that shows it; or, with --evaluate, measure retrieval and answers on a question set."""
    import json
    import subprocess
    import sys
    import time

    from gradtrace.ask.answer import ask as answer_question
    from gradtrace.ask.answer import build_index, check_question
    from gradtrace.ask.command import answer_text
    from gradtrace.ask.evaluation import evaluate as run_evaluation
    from gradtrace.ask.retrieval import MissingExtraError
    from gradtrace.errors import check_int

    if question is None and evaluate is None:
        _fail("Give a QUESTION, or --evaluate FILE (or --evaluate shipped).", 2)
    if question is not None and evaluate is not None:
        _fail("Give a QUESTION or --evaluate, not both: --evaluate asks every question of its set.", 2)
    if not 1 <= k <= 50:
        _fail(f"`--k` must be between 1 and 50, got {k}.", 2)
    if show and json_out:
        _fail("--show prints the study's run, which is not JSON: use one of --show and --json.", 2)
    try:
        if question is not None:  # refused before the index is built, which takes seconds
            check_question(question)
        check_int("k", k, minimum=1, maximum=50)
        started = time.perf_counter()
        index, skipped = build_index(corpus or [], retrieval=retrieval, cache=cache)
        built = time.perf_counter() - started
        for name in skipped:
            _warn(f"skipped {name}")
        if evaluate is not None:
            result = run_evaluation(index, questions=None if evaluate == "shipped" else evaluate, k=k,
                                    build_seconds=built)
            if json_out:
                output.print_json(json.dumps(result.to_dict(), ensure_ascii=False, allow_nan=False))
            else:
                output.print(result.table(), markup=False, highlight=False, soft_wrap=True)
            return
        answer = answer_question(question, index, k=k)
    except MissingExtraError as error:
        _fail(str(error), 2)
    except (ValueError, TypeError) as error:
        _fail(str(error), 2)
    if json_out:
        output.print_json(json.dumps(answer.to_dict(), ensure_ascii=False, allow_nan=False))
    else:
        output.print(answer_text(answer), markup=False, highlight=False, soft_wrap=True)
    if show and answer.study:
        raise typer.Exit(subprocess.call([sys.executable, "-m", "gradtrace.cli", "run", answer.study]))


@app.command()
def serve(
    folder: Annotated[str, typer.Argument(metavar="DIR", help="The run store the run browser shows.")] = "runs",
    host: Annotated[str, typer.Option(help="Address to listen on; anything but a loopback one is reachable "
                                           "by other machines.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    max_jobs: Annotated[int | None, typer.Option(
        "--max-jobs", help="Training jobs at once (default: one per core); more wait in a queue.")] = None,
) -> None:
    """Serve the live playground (at /) and the run browser (at /runs) until Ctrl-C."""
    from gradtrace.errors import check_int
    from gradtrace.web.app import MissingExtraError, is_loopback
    from gradtrace.web.app import serve as serve_web

    if not is_loopback(host):
        _warn(f"Listening on {host}: the playground is reachable by other machines on the network, and anyone who "
              "reaches it can train on this machine (within its limits).")

    def listening(url: str) -> None:  # once the port is bound: a taken port or a bad DIR prints no address
        console.print(f"gradtrace playground: {url} (Ctrl-C stops it)", markup=False, highlight=False, soft_wrap=True)

    try:
        port = check_int("--port", port, minimum=0, maximum=65535)
        root = Path(folder)
        if folder == "runs" and not root.exists():  # the default, where `gradtrace run` writes: none yet is fine
            root.mkdir(parents=True)
        elif not root.is_dir():
            raise ValueError(f"`DIR` must be an existing folder of run folders, got {folder!r}, which "
                             f"{'is not a folder' if root.exists() else 'does not exist'}.")
        serve_web(root, host=host, port=port, max_jobs=max_jobs, on_listening=listening)
    except MissingExtraError as error:
        _fail(str(error), 2)
    except (ValueError, TypeError) as error:
        _fail(str(error), 2)
    except OSError as error:  # the port is taken, or the address is not this machine's
        _fail(f"Cannot listen on {host}:{port}: {error.strerror or error}.", 1)


def main() -> None:
    """Entry point of the ``gradtrace`` console script."""
    app()


if __name__ == "__main__":  # python -m gradtrace.cli
    main()
