"""The ``gradtrace`` command: thin wrappers over the library, with rich progress and clean errors."""

from __future__ import annotations

import datetime as _dt
import math
import os
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
        help="A built-in study (see `gradtrace list`); none runs the default study.")] = None,
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
    from gradtrace.studies.summary import WALL_SECONDS_KEY

    try:
        # Every option is checked before anything is written: a refused command leaves no folder behind.
        # More threads than cores only makes the workers wait on each other; far more cannot even start.
        threads = check_int("--threads", threads, minimum=1, maximum=max(MAX_THREADS, _cores()))
        lang = _check_lang(check_lang, lang)
        processes = _cores() if workers is None else check_int("--workers", workers, minimum=1, maximum=MAX_WORKERS)
        if seeds is not None:
            check_int("--seeds", seeds, minimum=1, maximum=MAX_SEEDS)
        # Member k of a study draws from seed + offset + k: the largest offset leaves room for every member.
        seed_offset = check_int("--seed-offset", seed_offset, minimum=0, maximum=MAX_SEED_OFFSET)
        budget = _check_budget(budget, quick, study)
        quick = budget == "quick"
        names = course_studies() if study is None else [study]
        studies = [get_study(name) for name in names]
        if budget == "paper":
            studies = [item.with_budget(budget) for item in studies]
        plans = [(item.with_seed_offset(seed_offset, quick=quick), quick) for item in studies]
        folder = _out_folder(out)
        torch.set_num_threads(threads)
        store = Store(folder)
        for item, short in plans:
            check_resume(item, store, quick=short, seeds=seeds)
        with store.write_lock():
            console.print(f"Writing runs to [bold]{escape(str(folder))}[/bold]")
            with _progress() as progress:
                reporter = RichProgress(progress)
                for item, short in plans:
                    for name, problem in store.damaged(item.name).items():
                        _warn(f"{item.name}: run {name!r} is damaged ({problem}); running it again.")
                    run_study(item, store, quick=short, seeds=seeds, progress=reporter, workers=processes)
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


def _cores() -> int:
    """Return the CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _summarize(store, names: list[str], damaged: dict[str, dict[str, str]]) -> None:
    from gradtrace.studies import STUDIES

    for name in names:
        runs = [run for run in store.names(name) if run not in damaged.get(name, {})]
        records = [r for r in (store.get(name, run) for run in runs) if r.summary]
        if not records:
            continue
        columns = STUDIES[name].summary_columns if name in STUDIES else ()
        if not columns:
            scalars = [key for key, value in records[0].summary.items()
                       if isinstance(value, (int, float, str)) and not isinstance(value, bool)][:6]
            columns = tuple((key, key, "") for key in scalars)
        title = f"{name}: {STUDIES[name].title}" if name in STUDIES else name
        rows = [(r.name, [_cell(r.summary.get(key), spec) for _, key, spec in columns]) for r in records
                # a run that measures something else (a study's sweep) has no cell in this table
                if any(key in r.summary for _, key, _ in columns)]
        for table in _tables(title, [header for header, _, _ in columns], rows, console.width):
            console.print(table)


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

    held = total = 0
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
    if total:
        _plain(text("claims.count", lang, held=held, total=total) + "." + (f" {QUICK_NOTE[lang]}" if quick else ""))


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


def _fmt(value: float) -> str:
    return "nan" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


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
def report(
    folder: Annotated[str, typer.Argument(help="A run folder written by `gradtrace run`.")],
    lang: Annotated[str, typer.Option(help="Language of the HTML report: en or pt.")] = "en",
) -> None:
    """Write (again) the HTML report of a run folder and print its path."""
    from gradtrace.report import write_report
    from gradtrace.report.i18n import check_lang
    from gradtrace.store import Store

    try:
        lang = _check_lang(check_lang, lang)
        if not folder:  # Path("") would silently mean the current folder
            raise ValueError("`FOLDER` must be a run folder written by `gradtrace run`, got ''; for the current "
                             "folder, give '.'.")
        folder = Path(folder)
        if folder.is_file():
            raise ValueError(f"`FOLDER` must be a run folder written by `gradtrace run`, got {str(folder)!r}, "
                             "which is a file.")
        if not folder.is_dir():
            raise ValueError(f"`FOLDER` must be an existing run folder, got {str(folder)!r} (no such folder).")
        store = Store(folder, create=False)
        path = write_report(store, lang=lang)
        _warn_damaged(store)
    except (ValueError, TypeError) as error:
        _fail(str(error), 2)
    except GradtraceError as error:
        _fail(str(error), 1)
    _print_path(path)


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

    try:
        threads = check_int("--threads", threads, minimum=1, maximum=max(MAX_THREADS, _cores()))
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


def main() -> None:
    """Entry point of the ``gradtrace`` console script."""
    app()


if __name__ == "__main__":  # python -m gradtrace.cli
    main()
