"""Studies declared in TOML: a grid of models × tasks × remedies × inits × training settings × seeds.

A study file is either a **declared grid** (``name = ...`` with ``[train]``, ``[models.NAME]``,
``[tasks.NAME]``, optional ``[remedies.NAME]``, ``[inits.NAME]``, ``[grid]`` and ``[[claims]]``; see
:mod:`gradtrace.studies.declared.schema`) or a **built-in study with its config** (``study = "le2015"``,
``seeds = 5``, optional ``quick = true`` and a ``[config]`` table, as ``gradtrace show le2015 --toml`` writes it).
:func:`load_study` reads either and tells them apart.

Example:
    >>> import tempfile
    >>> from gradtrace.studies import run_study
    >>> study = DeclaredStudy.from_dict({
    ...     "name": "tiny", "seeds": 2, "train": {"steps": 3, "batch_size": 4, "eval_every": 3},
    ...     "models": {"tanh": {"type": "elman", "hidden_size": 4, "readout": "last"}},
    ...     "tasks": {"adding": {"type": "adding", "length": 5}},
    ...     "grid": {"lr": [1e-3, 1e-2]}})
    >>> [spec.name[:-11] for spec in study.plan(quick=False, seeds=2)]
    ['tanh-adding-none-lr0.001', 'tanh-adding-none-lr0.01']
    >>> len(run_study(study, tempfile.mkdtemp()).ran)
    2
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradtrace.errors import ConfigError, RunInterrupted, check_int
from gradtrace.studies.base import (
    MAX_SEEDS,
    TRAINING_KEYS,
    Outcome,
    RunSpec,
    StepCallback,
    Study,
    median_horizon,
    run_arrays,
)
from gradtrace.studies.claims import Claim
from gradtrace.studies.declared import toml
from gradtrace.studies.declared.build import build_model, build_remedy, build_task
from gradtrace.studies.declared.claims import build_claims
from gradtrace.studies.declared.schema import Declaration, Point, parse
from gradtrace.studies.stats import nan_quantiles

__all__ = ["BUILTIN_KEYS", "DeclaredStudy", "StudyFile", "builtin_toml", "load_study", "read_study_file", "show_study"]

#: The keys of a file that runs a built-in study.
BUILTIN_KEYS = ("study", "seeds", "quick", "config")
# Config entries that size a run, copied from its tables into its stored config for the report's footnote.
_SIZE_KEYS = ("hidden_size", "width", "depth", "num_layers", "reservoir_size", "length")


class DeclaredStudy(Study):
    """A study declared in TOML: one run per point of its grid, each a :func:`gradtrace.fit` of ``seeds`` members.

    Run names end in a hash of the run's resolved config, so the store resumes by content: an edited file reruns
    only the runs it changed, and runs it no longer declares stay in the store, outside this study's report and
    claims. The store records the resolved declaration, from which the report and claims rebuild the study.

    Args:
        declaration: the validated file (see :func:`~gradtrace.studies.declared.schema.parse`).
    """

    keyed_by_config = True
    summary_columns = (("loss", "task/loss", ".4g"), ("accuracy", "task/accuracy", ".3g"),
                       ("successes", "successes", ""), ("horizon", "horizon", ".3g"), ("diverged", "diverged", ""))

    def __init__(self, declaration: Declaration):
        super().__init__(None)
        if not isinstance(declaration, Declaration):
            raise TypeError(f"`declaration` must be a Declaration (see DeclaredStudy.from_file), got "
                            f"{type(declaration).__name__}.")
        self.declaration = declaration
        self.name = declaration.name
        self.title = declaration.title or declaration.name
        self.description = declaration.description
        self.default_seeds = declaration.seeds
        # The researcher's words, in whichever language they wrote: the same text in both.
        self.text = {key: {"en": value, "pt": value} for key, value in
                     (("title", self.title), ("description", self.description), ("question", declaration.question))
                     if value}

    @classmethod
    def from_file(cls, path: str | os.PathLike, *, allow_large: bool = False) -> DeclaredStudy:
        """Read the declared study in the TOML file ``path`` (see :func:`load_study` for either kind of file)."""
        raw, _ = toml.read(path)
        return cls(parse(raw, source=str(path), allow_large=allow_large))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, source: str = "<study>", allow_large: bool = False,
                  check_builders: bool = True) -> DeclaredStudy:
        """Make the declared study of ``raw``, the tables of a study file (see :func:`parse` for the arguments)."""
        return cls(parse(raw, source=source, allow_large=allow_large, check_builders=check_builders))

    def points(self, seeds: int | None = None) -> list[Point]:
        """Return the runs of the grid on ``seeds`` members (default the file's ``seeds``)."""
        return self.declaration.points(seeds)

    def plan(self, *, quick: bool = False, seeds: int | None = None) -> list[RunSpec]:
        """Return one run per point of the grid (``quick`` is refused: a declared study's file sets its sizes)."""
        if quick:
            raise ValueError(f"Study {self.name!r} is declared in a file, which sets its sizes: it has no quick "
                             "version. Make `steps` (and the sizes) smaller in the file instead.")
        return [RunSpec(point.name, point.train["steps"], _executor(self.name, point))
                for point in self.points(seeds)]

    def claims(self, *, quick: bool = False, seeds: int | None = None) -> list[Claim]:
        """Return the file's ``[[claims]]``, each over the runs the current grid plans."""
        return build_claims(self.declaration.claims, self.points(seeds))

    def with_seed_offset(self, offset: int, *, quick: bool = False) -> DeclaredStudy:
        """Return the same study with ``offset`` added to its base seed and every seed of its grid."""
        offset = check_int("seed_offset", offset, minimum=0)
        if not offset:
            return self
        declaration = self.declaration
        grid = {**declaration.grid, "seed": [seed + offset for seed in declaration.grid["seed"]]}
        return DeclaredStudy(dataclasses.replace(declaration, seed=declaration.seed + offset, grid=grid))

    def recorded(self, quick: bool = False) -> dict[str, Any]:
        """Return what the store keeps to rebuild this study without its file: the resolved declaration."""
        return {"declared": self.declaration.resolved()}

    def draw(self, store, lang: str = "en"):
        """Draw this study's figures and tables from ``store`` (the report calls it; see ``figures``)."""
        from gradtrace.studies.declared import figures

        return figures.draw(figures.data(store, self), lang)

    def planned(self, store) -> list[str]:
        """Return the runs this study plans with the seeds ``store`` recorded (its report's and claims' runs)."""
        seeds = (store.meta(f"study/{self.name}") or {}).get("seeds")
        return [point.name for point in self.points(seeds)]


def _executor(study: str, point: Point):
    def execute(callback: StepCallback | None) -> Outcome:
        task = build_task(point.task)
        model = build_model(point, task, point.seeds)
        remedy, truncation = build_remedy(point.remedy)
        train = dict(point.train)
        if truncation is not None:
            train["truncation"] = truncation
        if isinstance(train.get("truncation"), list):
            train["truncation"] = tuple(train["truncation"])
        traced = "trace_every" in point.train
        config = _run_config(study, point)
        try:
            from gradtrace.train import fit

            run = fit(model, task, seed=point.seed, remedies=remedy, callback=callback, **train)
        except RunInterrupted as error:
            partial = error.partial
            arrays = _arrays(partial, traced) if partial is not None else {}
            raise RunInterrupted(str(error), partial=Outcome(arrays, config, {}, "interrupted")) from None
        arrays = _arrays(run, traced)
        return Outcome(arrays, config, _summary(arrays, point.seeds, traced), run.status)

    return execute


def _run_config(study: str, point: Point) -> dict[str, Any]:
    tables = {"model": point.model, "task": point.task, "remedy": point.remedy, "init": point.init}
    sizes = {key: table[key] for table in (point.model, point.task) for key in _SIZE_KEYS if key in table}
    return {**point.train, **sizes, **point.axes, "study": study, "seeds": point.seeds, "hash": point.hash,
            "tables": tables}


def _arrays(run, traced: bool) -> dict[str, np.ndarray]:
    arrays = run_arrays(run, (*TRAINING_KEYS, "grad/norm"), optional={"clip_by_global_norm/fired": "clip/fired"},
                        trace=traced)
    if traced:
        arrays["trace/horizon"] = _horizons(arrays["trace/grad_norms"], run.num_models)
    return arrays


def _horizons(grad_norms: np.ndarray, members: int) -> np.ndarray:
    """Return each member's horizon at the last trace snapshot, −1 where not measured (or no snapshot)."""
    import torch

    from gradtrace.instruments.through_time import horizon

    if not len(grad_norms):
        return np.full(members, -1, dtype=np.int64)
    return horizon(torch.from_numpy(np.asarray(grad_norms[-1]))).numpy()


def _summary(arrays: dict[str, np.ndarray], seeds: int, traced: bool) -> dict[str, Any]:
    from gradtrace.studies.declared.claims import seed_values

    loss = arrays["task/loss"][-1] if len(arrays["task/loss"]) else np.full(seeds, np.nan)
    low, mid, high = nan_quantiles(np.asarray(loss, dtype=np.float64)[None], 1)[:, 0]
    accuracy = seed_values(arrays, "task/accuracy")
    success = seed_values(arrays, "task/success")
    train = arrays["train/loss"][-1] if len(arrays["train/loss"]) else np.full(seeds, np.nan)
    return {
        "task/loss": float(mid), "task/loss_min": float(low), "task/loss_max": float(high),
        "task/accuracy": float(np.median(accuracy)), "successes": int(np.sum(success == 1)),
        "horizon": median_horizon(arrays["trace/horizon"]) if traced else None,
        "diverged": int((arrays["diverged_at"] >= 0).sum()), "seeds": seeds,
        "train/loss": float(nan_quantiles(np.asarray(train, dtype=np.float64)[None], 1)[1, 0]),
    }


@dataclass(frozen=True)
class StudyFile:
    """What a study file asks for: the study, its seeds, and whether it is a built-in study's quick version."""

    study: Study
    seeds: int
    quick: bool
    declared: bool


def read_study_file(path: str | os.PathLike, *, allow_large: bool = False) -> StudyFile:
    """Read a study file: a declared grid, or a built-in study with its config.

    Args:
        path: the ``.toml`` file.
        allow_large: accept a grid of more than :data:`~gradtrace.studies.declared.schema.MAX_RUNS` runs.

    Raises:
        ValueError: if the file cannot be read.
        ConfigError: for a TOML syntax error (``file:line:column``) or anything the schema refuses (a built-in
            study's config errors come from its :class:`~gradtrace.studies.base.StudyConfig`).
    """
    raw, _ = toml.read(path)
    source = str(path)
    if "study" in raw:
        return _builtin(raw, source)
    if "name" not in raw:
        raise ConfigError(f"{source}: a study file needs `study = NAME` (a built-in study, with an optional [config]) "
                          "or `name = ...` with [train], [models.NAME] and [tasks.NAME] (a declared grid); it has "
                          f"{', '.join(raw) or 'no key'}.")
    study = DeclaredStudy(parse(raw, source=source, allow_large=allow_large))
    return StudyFile(study, study.default_seeds, False, True)


def _builtin(raw: dict[str, Any], source: str) -> StudyFile:
    from gradtrace.studies.registry import STUDIES

    for key in raw:
        if key not in BUILTIN_KEYS:
            raise ConfigError(f"{source}: unknown key `{key}` in a file that runs a built-in study. Valid keys: "
                              f"{', '.join(BUILTIN_KEYS)}. (A declared grid has `name` instead of `study`.)")
    name = raw["study"]
    if not isinstance(name, str) or name not in STUDIES:
        raise ConfigError(f"{source}: `study` must name a built-in study, got {name!r}. Available: "
                          f"{', '.join(STUDIES)}.")
    cls = STUDIES[name]
    quick = raw.get("quick", False)
    if not isinstance(quick, bool):
        raise ConfigError(f"{source}: `quick` must be a boolean, got {quick!r}.")
    seeds = raw.get("seeds", cls.default_seeds)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= MAX_SEEDS:
        raise ConfigError(f"{source}: `seeds` must be an integer between 1 and {MAX_SEEDS}, got {seeds!r}.")
    if "config" in raw:
        if cls.config_class is None:
            raise ConfigError(f"{source}: study {name!r} takes no [config].")
        if not isinstance(raw["config"], dict):
            raise ConfigError(f"{source}: `config` must be a table, got {raw['config']!r}.")
        try:
            config = cls.config_class(**raw["config"])
        except ConfigError as error:
            raise ConfigError(f"{source}: [config]: {error}") from None
        except (TypeError, ValueError) as error:  # a config's own checks across fields
            raise ConfigError(f"{source}: [config]: {error}") from None
        if quick:  # the quick label means the quick sizes: a file must not run full sizes under it
            sizes = cls().resolve(True).model_dump(mode="json")
            other = {key: value for key, value in config.model_dump(mode="json").items()
                     if key != "seed" and sizes[key] != value}
            if other:
                first = list(other.items())[:4]
                shown = ", ".join(f"{key} = {value!r} (quick: {sizes[key]!r})" for key, value in first)
                raise ConfigError(f"{source}: `quick = true` runs study {name!r} at its quick sizes, but [config] sets "
                                  f"others: {shown}. Remove `quick` to run these sizes, or write the quick file with "
                                  f"`gradtrace show {name} --toml --quick`.")
        study = cls(config)
    else:
        study = cls(cls().resolve(quick)) if cls.config_class is not None else cls()
    study.default_seeds = seeds  # the file's seeds, for a caller that runs the study without naming them
    return StudyFile(study, seeds, quick, False)


def load_study(path: str | os.PathLike, *, allow_large: bool = False) -> Study:
    """Return the study a TOML file declares, ready for :func:`gradtrace.run_study`.

    A declared grid (``name = ...``) gives a :class:`DeclaredStudy`; a built-in study with its config
    (``study = "le2015"``, as ``gradtrace show le2015 --toml`` writes it) gives that study made with the file's
    config, its ``default_seeds`` the file's ``seeds``.

    Args:
        path: the ``.toml`` file.
        allow_large: accept a grid of more than 10,000 runs (``gradtrace run FILE --yes``).

    Raises:
        ValueError: if the file cannot be read.
        ConfigError: for a TOML syntax error (``file:line:column: message``), an unknown key (the message lists
            the valid ones and gives the TOML path), a value of the wrong type, a grid naming an undefined table,
            a grid of zero runs or of too many, or what a builder refuses (naming the table).
    """
    return read_study_file(path, allow_large=allow_large).study


def builtin_toml(name: str, *, quick: bool = False, seeds: int | None = None) -> str:
    """Return a TOML file that runs the built-in study ``name`` with its resolved config, every field written out.

    ``gradtrace run`` on it gives bit-identical results to ``gradtrace run NAME`` (with ``--quick`` when
    ``quick``): the file holds the same config, seeds and quick flag.

    Raises:
        ValueError: for an unknown study (listing the built-in ones), or seeds out of range.
    """
    from gradtrace.studies import get_study

    study = get_study(name)
    return _builtin_toml(study, quick, study.default_seeds if seeds is None else seeds)


def _builtin_toml(study: Study, quick: bool, seeds: int) -> str:
    seeds = check_int("seeds", seeds, minimum=1, maximum=MAX_SEEDS)
    table: dict[str, Any] = {"study": study.name, "seeds": seeds}
    if quick:
        table["quick"] = True
    config = study.resolve(quick)
    if config is not None:
        table["config"] = config.model_dump(mode="json")
    command = f"gradtrace show {study.name} --toml" + (" --quick" if quick else "")
    header = (f"# {study.title}\n# Written by `{command}`. Run it with `gradtrace run FILE.toml`; every field of the "
              "study's config\n# is below, and any may be changed (the study checks the values as it loads them).\n")
    return header + toml.dumps(table)


def show_study(target: str, *, as_toml: bool = False, quick: bool = False, seeds: int | None = None) -> str:
    """Return what ``gradtrace show`` prints of a built-in study or a study file.

    Without ``as_toml``: the title, question and description, then the resolved config of a built-in study, or
    the number and names of the runs a declared study plans. With ``as_toml``: a built-in study as a file that
    ``gradtrace run`` reruns with identical results (:func:`builtin_toml`), or a declared study resolved (every
    default written out).

    Args:
        target: a built-in study's name, or the path of a ``.toml`` study file.
        as_toml: print TOML.
        quick: a built-in study's quick config (refused for a file, which sets its own).
        seeds: seeds per configuration; default the study's (or the file's).

    Raises:
        ValueError: an unknown study, an unreadable file, ``quick`` with a file.
        ConfigError: anything the file's schema refuses.
    """
    from gradtrace.studies import get_study

    if seeds is not None:
        seeds = check_int("seeds", seeds, minimum=1, maximum=MAX_SEEDS)
    if target.endswith(".toml"):
        if quick:
            raise ValueError("`--quick` does not apply to a study file, which sets its own sizes.")
        loaded = read_study_file(target, allow_large=True)
        study, quick = loaded.study, loaded.quick
        seeds = loaded.seeds if seeds is None else seeds
    else:
        study = get_study(target)
        seeds = study.default_seeds if seeds is None else seeds
    if isinstance(study, DeclaredStudy):
        if as_toml:
            return toml.dumps({**study.declaration.resolved(), "seeds": seeds})
        return _declared_text(study, seeds)
    if as_toml:
        return _builtin_toml(study, quick, seeds)
    return _builtin_text(study, quick, seeds)


def _heading(study: Study) -> list[str]:
    lines = [f"{study.name}: {study.words('title')}"]
    lines += [study.words(key) for key in ("question", "description") if study.words(key)]
    return lines


def _builtin_text(study: Study, quick: bool, seeds: int) -> str:
    lines = _heading(study) + [f"Seeds: {seeds}"]
    config = study.resolve(quick)
    if config is not None:
        lines.append("Config" + (" (quick)" if quick else "") + ":")
        lines += [f"  {line}" for line in toml.dumps(config.model_dump(mode="json")).splitlines()]
    return "\n".join(lines) + "\n"


def _declared_text(study: DeclaredStudy, seeds: int) -> str:
    points = study.points(seeds)
    varying = study.declaration.varying()
    lines = _heading(study) + [f"{len(points):,} runs of {seeds} seeds each"
                               + (f", varying {', '.join(varying)}:" if varying else ":")]
    lines += [f"  {point.name}" for point in points]
    return "\n".join(lines) + "\n"
