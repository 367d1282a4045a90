"""The schema of a declared study: its TOML tables validated and resolved into a grid of runs.

A declared study names its pieces once, as tables — ``[models.NAME]``, ``[tasks.NAME]``, ``[remedies.NAME]``,
``[inits.NAME]`` — and a ``[grid]`` of lists that picks among them and varies the training settings of
``[train]``. Every combination is one run, trained with :func:`gradtrace.fit` on ``seeds`` members.

Every mistake is a :class:`~gradtrace.errors.ConfigError` that starts with the file and names the TOML path:
an unknown key lists the valid ones (``models.tanh.hiden_size``), a value of the wrong type says what was
expected and what came, a grid entry naming an undefined table lists the defined ones, and what a builder
(``make_model``, ``make_task``, ``make_remedy``, ``initialize``, ``fit``'s checks) refuses is re-raised naming
the table it came from.

Each run's name is readable (its model, task and remedy, then what else varies) and ends in a short hash of its
resolved config (model, task, remedy and init tables, training settings, seeds and seed): editing the file
changes the names, hence reruns, of exactly the runs it changes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import itertools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gradtrace.errors import ConfigError, describe

__all__ = ["AGGREGATES", "AXES", "MAX_RUNS", "MAX_RUNS_EVER", "METRICS", "OPS", "TRAIN_KEYS", "Declaration", "Point",
           "check_study_name", "parse"]

#: The most runs a file may declare without being confirmed (``gradtrace run --yes``, ``allow_large=True``).
MAX_RUNS = 10_000
#: The most runs a file may declare at all: beyond this the plan alone would not fit in memory.
MAX_RUNS_EVER = 1_000_000
#: The keyword arguments of :func:`gradtrace.fit` a study sets in ``[train]`` (and may vary in ``[grid]``),
#: with the TOML type each takes.
TRAIN_KEYS: dict[str, str] = {
    "steps": "integer", "optimizer": "string", "lr": "number", "batch_size": "integer", "dataset_size": "integer",
    "loss": "string", "truncation": "list", "trace_every": "integer", "eval_every": "integer",
    "eval_batch_size": "integer", "on_nonfinite": "string",
}
#: The grid's axes besides the training settings, in the order run names list them.
AXES = ("model", "task", "remedy", "init", "spectral_radius", "seed")
#: What a claim may compare: per-seed values of each run (see the declared study's ``METRICS`` docs).
METRICS = ("task/loss", "task/accuracy", "task/success", "train/loss", "horizon", "diverged")
#: How a claim pools the per-seed values of the runs it selects.
AGGREGATES = ("median", "mean", "min", "max", "fraction_succeeding")
OPS = ("<", "<=", ">", ">=")

_TOP = ("name", "title", "description", "question", "seeds", "seed", "train", "models", "tasks", "remedies",
        "inits", "grid", "claims")
_STUDY_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_LABEL = re.compile(r"^[A-Za-z0-9_]+(-[A-Za-z0-9_]+)*$")
_CLAIM_ID = _STUDY_NAME
# Set by the study for every run, never in a model table: the sizes come from the task, the members from `seeds`.
_SET_BY_STUDY = ("input_size", "output_size", "num_models", "seed", "dtype")
_TYPE_WORDS = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "a boolean",
               "table": "a table", "list": "a list"}
_HASH_LENGTH = 10
#: A remedy table of this type applies the remedies it names, in their order (Pascanu's Ω, then clipping).
CHAIN = "chain"
NONE, DEFAULT = "none", "default"  # the built-in remedy (no remedy) and init (the model's own start)
_CLAIM_KEYS = ("id", "statement", "metric", "aggregate", "where", "op", "value", "versus", "factor")
_VERSUS_KEYS = ("where", "metric", "aggregate")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "table"
    if isinstance(value, (list, tuple)):
        return "list"
    return type(value).__name__


class _Reader:
    """Checks values against the schema, every message starting with the file and the TOML path."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {message}")

    def expect(self, value: Any, kind: str, path: str) -> Any:
        got = _kind(value)
        if got == kind or (kind == "number" and got == "integer"):
            return float(value) if kind == "number" else value
        raise self.fail(f"`{path}` must be {_TYPE_WORDS[kind]}, got {describe(value)} ({_TYPE_WORDS.get(got, got)}).")

    def keys(self, table: Mapping[str, Any], valid, path: str, what: str) -> None:
        for key in table:
            if key not in valid:
                where = f"{path}.{key}" if path else key
                raise self.fail(f"unknown key `{where}`. Valid keys {what}: {', '.join(sorted(valid))}.")

    def label(self, label: str, path: str) -> str:
        if not _LABEL.match(label):
            raise self.fail(f"the table name `{path}` must be letters, digits, '_' and single '-' (it goes into run "
                            f"names and file names), got {label!r}.")
        return label

    def built(self, path: str, error: Exception) -> ConfigError:
        return self.fail(f"[{path}]: {error}")


@dataclass(frozen=True)
class Point:
    """One run of a declared study's grid.

    Attributes:
        name: the run's name: readable labels, then the hash of its resolved config.
        axes: every axis's value for this run (model, task, remedy, init labels; spectral_radius; the training
            settings; seed), what claims' ``where`` filters and the report's table read.
        model, task, remedy, init: the resolved tables (remedy and init None for "none" and "default").
        train: the keyword arguments of :func:`gradtrace.fit` (resolved: fit's defaults filled in).
        resolved: what the hash is taken of.
    """

    name: str
    axes: dict[str, Any]
    model: dict[str, Any]
    task: dict[str, Any]
    remedy: dict[str, Any] | None
    init: dict[str, Any] | None
    spectral_radius: float | None
    train: dict[str, Any]
    seeds: int
    seed: int
    hash: str


@dataclass(frozen=True)
class Declaration:
    """A declared study's file, validated and resolved (defaults filled in): see :func:`parse`."""

    name: str
    title: str
    description: str
    question: str
    seeds: int
    seed: int
    train: dict[str, Any]
    models: dict[str, dict[str, Any]]
    tasks: dict[str, dict[str, Any]]
    remedies: dict[str, dict[str, Any]]
    inits: dict[str, dict[str, Any]]
    grid: dict[str, list[Any]]
    claims: list[dict[str, Any]]

    def remedy(self, label: str) -> dict[str, Any] | None:
        """Return remedy ``label``'s table (None for "none"); a chain's names are replaced by their tables."""
        if label == NONE:
            return None
        table = self.remedies[label]
        if table["type"] == CHAIN:
            return {"type": CHAIN, "remedies": [self.remedies[part] for part in table["remedies"]]}
        return table

    def resolved(self) -> dict[str, Any]:
        """Return the declaration as TOML-ready tables; :func:`parse` reads them back to an equal declaration."""
        table = {key: getattr(self, key) for key in ("name", "title", "description", "question", "seeds", "seed")}
        table.update({"train": dict(self.train), "models": self.models, "tasks": self.tasks})
        if self.remedies:
            table["remedies"] = self.remedies
        if self.inits:
            table["inits"] = self.inits
        # No radius on the grid is [None], which TOML cannot write: the axis is left out, as in the file.
        table["grid"] = {axis: list(values) for axis, values in self.grid.items() if values != [None]}
        if self.claims:
            table["claims"] = self.claims
        return json.loads(json.dumps(table))  # plain lists and dicts, as the store and TOML hold them

    def count(self) -> int:
        """Return the number of runs the grid declares."""
        return math.prod(len(values) for values in self.grid.values())

    def varying(self) -> list[str]:
        """Return the axes with more than one value, in the grid's order."""
        return [axis for axis, values in self.grid.items() if len(values) > 1]

    def points(self, seeds: int | None = None) -> list[Point]:
        """Return one :class:`Point` per combination of the grid, each on ``seeds`` members (default the file's)."""
        seeds = self.seeds if seeds is None else seeds
        axes = list(self.grid)
        varying = set(self.varying())
        points = []
        for values in itertools.product(*(self.grid[axis] for axis in axes)):
            chosen = dict(zip(axes, values))
            model = dict(self.models[chosen["model"]])
            own_init = model.pop("init", None) if isinstance(model.get("init"), Mapping) else None
            init = own_init if chosen["init"] == DEFAULT else self.inits[chosen["init"]]
            remedy = self.remedy(chosen["remedy"])
            radius = chosen["spectral_radius"]
            if radius is None:
                radius = model.pop("spectral_radius", None)
            else:
                model.pop("spectral_radius", None)
            train = {**self.train, **{key: chosen[key] for key in TRAIN_KEYS if key in chosen}}
            resolved = {"model": model, "task": self.tasks[chosen["task"]], "remedy": remedy, "init": init,
                        "spectral_radius": radius, "train": train, "seeds": seeds, "seed": chosen["seed"]}
            digest = hashlib.sha256(json.dumps(_canonical(resolved), sort_keys=True).encode()).hexdigest()[
                :_HASH_LENGTH]
            labels = [chosen["model"], chosen["task"], chosen["remedy"]]
            labels += [_shown(axis, chosen[axis]) for axis in axes if axis in varying and axis not in AXES[:3]]
            name = "-".join([*labels, digest])
            points.append(Point(name, {**chosen, "spectral_radius": radius}, model, dict(self.tasks[chosen["task"]]),
                                remedy, init, radius, train, seeds, chosen["seed"], digest))
        return points


def _canonical(value: Any) -> Any:
    """Return ``value`` with every float that holds an integer written as that integer, for the hash.

    A table's options are passed on as the file writes them, so ``max_norm = 1`` and ``max_norm = 1.0`` train
    the same run; without this they would hash apart and an edit from one to the other would rerun it.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    return value


def _shown(axis: str, value: Any) -> str:
    """Return ``axis`` = ``value`` as a part of a run name: ``lr0.01``, ``init-orth``, ``rho1.2``, ``seed3``."""
    short = {"spectral_radius": "rho", "init": "init-", "seed": "seed", "truncation": "trunc"}.get(axis, axis)
    if isinstance(value, (list, tuple)):
        value = "x".join(str(v) for v in value)
    elif isinstance(value, float):
        value = format(value, "g")
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{short}{value}")


def parse(raw: Mapping[str, Any], *, source: str = "<study>", allow_large: bool = False,
          check_builders: bool = True) -> Declaration:
    """Validate a declared study's tables and resolve them (fit's defaults and the grid's axes filled in).

    Args:
        raw: the file's tables, as :func:`tomllib.loads` gives them (or :meth:`Declaration.resolved`'s).
        source: the file's name, which every message starts with.
        allow_large: accept more than :data:`MAX_RUNS` runs (never more than :data:`MAX_RUNS_EVER`).
        check_builders: build every model with every task, remedy and init once (one member each) and check
            each run's training settings as :func:`gradtrace.fit` would, so a mistake surfaces before any run.

    Raises:
        ConfigError: for any mistake; the message names the TOML path, and what was expected and what came.
    """
    reader = _Reader(source)
    if not isinstance(raw, Mapping):
        raise reader.fail(f"a study must be a table of keys, got {describe(raw)}.")
    reader.keys(raw, _TOP, "", "of a declared study")
    for key in ("name", "models", "tasks", "train"):
        if key not in raw:
            raise reader.fail(f"a declared study needs `{key}`; it has {', '.join(raw) or 'no key'}.")
    name = reader.expect(raw["name"], "string", "name")
    _check_study_name(reader, name)
    text = {key: reader.expect(raw.get(key, ""), "string", key) for key in ("title", "description", "question")}
    seeds = _positive_int(reader, raw.get("seeds", 5), "seeds", maximum=1000)
    seed = _seed(reader, raw.get("seed", 0), "seed")
    train = _train(reader, reader.expect(raw["train"], "table", "train"), "train", require_steps=True)
    models = _tables(reader, raw, "models", _model_keys, required=True)
    tasks = _tables(reader, raw, "tasks", _task_keys, required=True)
    remedies = _tables(reader, raw, "remedies", _remedy_keys, reserved=NONE)
    inits = _tables(reader, raw, "inits", _init_keys, reserved=DEFAULT, type_key="scheme")
    _check_chains(reader, remedies)
    for label, table in models.items():
        if isinstance(table.get("init"), Mapping):
            _check_table(reader, table["init"], f"models.{label}.init", _init_keys, type_key="scheme")
        if "spectral_radius" in table:
            _positive_real(reader, table["spectral_radius"], f"models.{label}.spectral_radius")
    grid = _grid(reader, reader.expect(raw.get("grid", {}), "table", "grid"), models, tasks, remedies, inits, seed)
    if "truncation" in train or "truncation" in grid:
        clash = [label for label in grid["remedy"] if label != NONE and (remedies[label]["type"] == "truncation" or any(
            remedies[part]["type"] == "truncation" for part in remedies[label].get("remedies", ())))]
        if clash:
            raise reader.fail(f"[remedies.{clash[0]}] is a truncation and [train] (or [grid]) sets `truncation` "
                              "too: give truncated BPTT in one place.")
    declaration = Declaration(name, text["title"], text["description"], text["question"], seeds, seed, train,
                              models, tasks, remedies, inits, grid, [])
    count = declaration.count()
    if count == 0:
        empty = [axis for axis, values in grid.items() if not values]
        raise reader.fail(f"the grid declares no run: `grid.{empty[0]}` is an empty list.")
    if count > MAX_RUNS_EVER or (count > MAX_RUNS and not allow_large):
        sizes = " × ".join(f"{len(values)} {axis}" for axis, values in grid.items() if len(values) > 1)
        if count > MAX_RUNS_EVER:
            raise reader.fail(f"the grid declares {count:,} runs ({sizes}), more than the {MAX_RUNS_EVER:,} a study "
                              "may hold; split it into several studies.")
        raise reader.fail(f"the grid declares {count:,} runs ({sizes}), more than {MAX_RUNS:,}: confirm with "
                          "`gradtrace run FILE --yes` (or allow_large=True) to run them all.")
    claims = [_claim(reader, item, f"claims[{i}]", declaration)
              for i, item in enumerate(_claim_list(reader, raw.get("claims", [])))]
    ids = [claim["id"] for claim in claims]
    duplicate = next((claim_id for claim_id in ids if ids.count(claim_id) > 1), None)
    if duplicate is not None:
        raise reader.fail(f"two claims have the id {duplicate!r}: each claim needs its own.")
    declaration = dataclasses.replace(declaration, claims=claims)
    if check_builders:
        _check_builds(reader, declaration)
    return declaration


def check_study_name(name: str, *, source: str = "<study>") -> str:
    """Return ``name`` if it can name a declared study: lowercase letters, digits and single '-', not built in.

    Raises:
        ConfigError: naming ``source``, the rule and the name that came.
    """
    reader = _Reader(source)
    if not isinstance(name, str):
        raise reader.fail(f"`name` must be a string, got {describe(name)}.")
    _check_study_name(reader, name)
    return name


def _check_study_name(reader: _Reader, name: str) -> None:
    from gradtrace.studies.registry import STUDIES

    if not _STUDY_NAME.match(name) or len(name) > 64:
        raise reader.fail(f"`name` must be lowercase letters, digits and single '-' (at most 64), got {name!r}.")
    if name in STUDIES:
        raise reader.fail(f"`name` {name!r} is a built-in study's; choose another name for a declared study.")


def _positive_int(reader: _Reader, value: Any, path: str, *, maximum: int | None = None) -> int:
    value = reader.expect(value, "integer", path)
    if value < 1 or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise reader.fail(f"`{path}` must be at least 1{upper}, got {value}.")
    return value


def _seed(reader: _Reader, value: Any, path: str) -> int:
    value = reader.expect(value, "integer", path)
    if not 0 <= value < 2**62:
        raise reader.fail(f"`{path}` must be between 0 and 2**62, got {value}.")
    return value


def _positive_real(reader: _Reader, value: Any, path: str) -> float:
    value = reader.expect(value, "number", path)
    if not (math.isfinite(value) and value > 0):
        raise reader.fail(f"`{path}` must be a finite number above 0, got {value!r}.")
    return value


def _train_value(reader: _Reader, key: str, value: Any, path: str) -> Any:
    value = reader.expect(value, TRAIN_KEYS[key], path)
    if key == "truncation":
        if not 2 <= len(value) <= 3 or [_kind(v) for v in value[:2]] != ["integer", "integer"] or (
                len(value) == 3 and not isinstance(value[2], str)):
            raise reader.fail(f"`{path}` must be [k1, k2] or [k1, k2, \"overlap\" | \"shorter\"], got "
                              f"{describe(value)}.")
        value = list(value)
    return value


def _train(reader: _Reader, table: Mapping[str, Any], path: str, *, require_steps: bool) -> dict[str, Any]:
    from gradtrace.train import fit

    reader.keys(table, TRAIN_KEYS, path, "of [train] (gradtrace.fit's settings)")
    if require_steps and "steps" not in table:
        raise reader.fail("[train] needs `steps`, the training steps of every run.")
    given = {key: _train_value(reader, key, value, f"{path}.{key}") for key, value in table.items()}
    # Resolved: fit's own defaults written out, so the hash names every setting a run trained with.
    defaults = {key: p.default for key, p in inspect.signature(fit).parameters.items()
                if key in TRAIN_KEYS and p.default is not p.empty and p.default is not None}
    return {**defaults, **given}


def _model_keys(reader: _Reader, kind: str, path: str) -> tuple[set[str], set[str]]:
    from gradtrace.models import MODELS

    cls = MODELS[_choice(reader, kind, MODELS, f"{path}.type", "model type")]
    keys: set[str] = set()
    required: set[str] = set()
    for klass in cls.__mro__:  # follow **options up to the base class that takes them
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameters = list(inspect.signature(init).parameters.values())[1:]
        for p in parameters:
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                keys.add(p.name)
                if p.default is p.empty:
                    required.add(p.name)
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    keys -= set(_SET_BY_STUDY)
    return keys | {"type", "init", "spectral_radius"}, required - set(_SET_BY_STUDY)


def _task_keys(reader: _Reader, kind: str, path: str) -> tuple[set[str], set[str]]:
    from gradtrace.tasks import TASKS

    cls = TASKS[_choice(reader, kind, TASKS, f"{path}.type", "task type")]
    fields = [f for f in dataclasses.fields(cls) if f.init]
    required = {f.name for f in fields
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    return {f.name for f in fields} | {"type"}, required


def _remedy_keys(reader: _Reader, kind: str, path: str) -> tuple[set[str], set[str]]:
    from gradtrace.remedies import REMEDIES

    if kind == "truncation":  # truncated BPTT is fit's `truncation`, declared here as the remedy it is
        return {"type", "k1", "k2", "last"}, {"k1", "k2"}
    if kind == CHAIN:
        return {"type", "remedies"}, {"remedies"}
    factory = REMEDIES[_choice(reader, kind, [*REMEDIES, "truncation", CHAIN], f"{path}.type", "remedy type")]
    parameters = inspect.signature(factory).parameters.values()
    return {p.name for p in parameters} | {"type"}, {p.name for p in parameters if p.default is p.empty}


def _check_chains(reader: _Reader, remedies: dict[str, dict[str, Any]]) -> None:
    """Check each chain names two or more remedies defined in the file, no chain among them, one truncation at most."""
    for label, table in remedies.items():
        if table["type"] != CHAIN:
            continue
        path = f"remedies.{label}.remedies"
        parts = reader.expect(table["remedies"], "list", path)
        if len(parts) < 2:
            raise reader.fail(f"`{path}` must name at least two remedies to apply in turn, got {describe(parts)}.")
        others = [name for name, other in remedies.items() if other["type"] != CHAIN]
        for i, part in enumerate(parts):
            reader.expect(part, "string", f"{path}[{i}]")
            if part not in others:
                raise reader.fail(f"`{path}[{i}]` names {part!r}, which is not a remedy defined in the file (a chain "
                                  f"takes no chain, nor 'none'). Defined: {', '.join(others) or 'none'}.")
        if sum(remedies[part]["type"] == "truncation" for part in parts) > 1:
            raise reader.fail(f"`{path}` names more than one truncation; a run is truncated one way.")


def _init_keys(reader: _Reader, kind: str, path: str) -> tuple[set[str], set[str]]:
    from gradtrace.models.initialization import INITIALIZATIONS

    scheme = INITIALIZATIONS[_choice(reader, kind, INITIALIZATIONS, f"{path}.scheme", "initialization")]
    parameters = [p for p in inspect.signature(scheme).parameters.values() if p.kind is p.KEYWORD_ONLY]
    return {p.name for p in parameters} | {"scheme"}, {p.name for p in parameters if p.default is p.empty}


def _choice(reader: _Reader, value: str, choices, path: str, what: str) -> str:
    if value not in choices:
        raise reader.fail(f"unknown {what} {value!r} at `{path}`. Available: {', '.join(choices)}.")
    return value


def _check_table(reader: _Reader, table: Any, path: str, keys_of, *, type_key: str = "type") -> dict[str, Any]:
    table = reader.expect(table, "table", path)
    if type_key not in table:
        raise reader.fail(f"[{path}] needs `{type_key}`.")
    kind = reader.expect(table[type_key], "string", f"{path}.{type_key}")
    valid, required = keys_of(reader, kind, path)
    reader.keys(table, valid, path, f"of [{path.split('.')[0]}] tables of type {kind!r}")
    missing = sorted(required - set(table))
    if missing:
        raise reader.fail(f"[{path}] needs {', '.join(f'`{m}`' for m in missing)} (a {kind!r} takes it).")
    return dict(table)


def _tables(reader: _Reader, raw: Mapping[str, Any], key: str, keys_of, *, required: bool = False,
            reserved: str | None = None, type_key: str = "type") -> dict[str, dict[str, Any]]:
    tables = reader.expect(raw.get(key, {}), "table", key)
    if required and not tables:
        raise reader.fail(f"[{key}] must define at least one table, e.g. [{key}.NAME].")
    resolved = {}
    for label, table in tables.items():
        reader.label(label, f"{key}.{label}")
        if label == reserved:
            raise reader.fail(f"[{key}.{label}] is built in ({label!r} means no {key[:-1]}); use another name.")
        resolved[label] = _check_table(reader, table, f"{key}.{label}", keys_of, type_key=type_key)
    return resolved


def _grid(reader: _Reader, grid: Mapping[str, Any], models, tasks, remedies, inits, seed: int) -> dict[str, list]:
    reader.keys(grid, (*AXES, *TRAIN_KEYS), "grid", "of [grid] (the axes, and [train]'s settings)")
    defined = {"model": list(models), "task": list(tasks), "remedy": [NONE, *remedies], "init": [DEFAULT, *inits]}
    values: dict[str, list] = {}
    for axis in AXES[:4]:
        listed = reader.expect(grid.get(axis, defined[axis]), "list", f"grid.{axis}")
        for i, label in enumerate(listed):
            reader.expect(label, "string", f"grid.{axis}[{i}]")
            if label not in defined[axis]:
                plural = {"model": "models", "task": "tasks", "remedy": "remedies", "init": "inits"}[axis]
                raise reader.fail(f"`grid.{axis}[{i}]` names {label!r}, which is not defined. Defined {plural}: "
                                  f"{', '.join(defined[axis])}.")
        values[axis] = list(listed)
    radii = reader.expect(grid.get("spectral_radius", [None]), "list", "grid.spectral_radius")
    values["spectral_radius"] = [r if r is None else _positive_real(reader, r, f"grid.spectral_radius[{i}]")
                                 for i, r in enumerate(radii)]
    for key in grid:
        if key in TRAIN_KEYS:
            listed = reader.expect(grid[key], "list", f"grid.{key}")
            values[key] = [_train_value(reader, key, v, f"grid.{key}[{i}]") for i, v in enumerate(listed)]
    seeds = reader.expect(grid.get("seed", [seed]), "list", "grid.seed")
    values["seed"] = [_seed(reader, s, f"grid.seed[{i}]") for i, s in enumerate(seeds)]
    for axis in values:
        _check_distinct(reader, values[axis], f"grid.{axis}")
    return values


def _check_distinct(reader: _Reader, values: list, path: str) -> None:
    """Refuse an axis that lists a value twice (0.01 and 1e-2 are one value): both would be the same run."""
    for i, value in enumerate(values):
        if value in values[:i]:
            raise reader.fail(f"`{path}[{i}]` is {value!r} again (`{path}[{values.index(value)}]`); each value of a "
                              "grid axis names its own runs, so list it once.")


def _claim_list(reader: _Reader, claims: Any) -> list:
    claims = reader.expect(claims, "list", "claims")
    for i, claim in enumerate(claims):
        reader.expect(claim, "table", f"claims[{i}]")
    return claims


def _selection(reader: _Reader, table: Mapping[str, Any], path: str, declaration: Declaration,
               default_metric: str | None, default_aggregate: str) -> dict[str, Any]:
    aggregate = reader.expect(table.get("aggregate", default_aggregate), "string", f"{path}.aggregate")
    _choice(reader, aggregate, AGGREGATES, f"{path}.aggregate", "aggregate")
    if aggregate == "fraction_succeeding":
        metric = reader.expect(table.get("metric", "task/success"), "string", f"{path}.metric")
        if metric != "task/success":
            raise reader.fail(f"`{path}.metric` must be \"task/success\" (or left out) with aggregate "
                              f"\"fraction_succeeding\", got {metric!r}.")
    else:
        if "metric" not in table and default_metric is None:
            raise reader.fail(f"[{path}] needs `metric`, one of: {', '.join(METRICS)}.")
        metric = reader.expect(table.get("metric", default_metric), "string", f"{path}.metric")
        _choice(reader, metric, METRICS, f"{path}.metric", "metric")
    if metric == "horizon" and "trace_every" not in declaration.train and "trace_every" not in declaration.grid:
        raise reader.fail(f"`{path}.metric` \"horizon\" is read from the gradient traces, which runs keep when "
                          "[train] sets `trace_every`.")
    where = reader.expect(table.get("where", {}), "table", f"{path}.where")
    filters = {}
    for key, wanted in where.items():
        if key not in declaration.grid:
            raise reader.fail(f"unknown key `{path}.where.{key}`. Valid keys: {', '.join(declaration.grid)}.")
        wanted = list(wanted) if isinstance(wanted, (list, tuple)) else [wanted]
        offered = declaration.grid[key]
        for value in wanted:
            if value not in offered:
                shown = ", ".join(repr(v) for v in offered)
                raise reader.fail(f"`{path}.where.{key}` asks for {value!r}, which the grid does not run. The grid's "
                                  f"{key} values: {shown}.")
        filters[key] = wanted
    return {"where": filters, "metric": metric, "aggregate": aggregate}


def _claim(reader: _Reader, table: Mapping[str, Any], path: str, declaration: Declaration) -> dict[str, Any]:
    reader.keys(table, _CLAIM_KEYS, path, "of a claim")
    for key in ("id", "statement", "op"):
        if key not in table:
            raise reader.fail(f"[{path}] needs `{key}`.")
    claim_id = reader.expect(table["id"], "string", f"{path}.id")
    if not _CLAIM_ID.match(claim_id):
        raise reader.fail(f"`{path}.id` must be lowercase letters, digits and single '-', got {claim_id!r}.")
    statement = table["statement"]
    if isinstance(statement, str):
        statement = {"en": statement, "pt": statement}
    else:
        statement = reader.expect(statement, "table", f"{path}.statement")
        reader.keys(statement, ("en", "pt"), f"{path}.statement", "of a statement")
        if not statement:
            raise reader.fail(f"`{path}.statement` must be a string, or a table with en and/or pt.")
        statement = {lang: reader.expect(statement.get(lang, next(iter(statement.values()))), "string",
                                         f"{path}.statement.{lang}") for lang in ("en", "pt")}
    op = reader.expect(table["op"], "string", f"{path}.op")
    _choice(reader, op, OPS, f"{path}.op", "comparison")
    claim = {"id": claim_id, "statement": statement, "op": op,
             **_selection(reader, table, path, declaration, None, "median")}
    if ("value" in table) == ("versus" in table):
        raise reader.fail(f"[{path}] needs exactly one of `value` (a number) and `versus` (another selection: "
                          "{ where = {...} }).")
    if "value" in table:
        claim["value"] = reader.expect(table["value"], "number", f"{path}.value")
        if "factor" in table:
            raise reader.fail(f"`{path}.factor` scales a `versus` selection; with `value`, write the number itself.")
    else:
        versus = reader.expect(table["versus"], "table", f"{path}.versus")
        reader.keys(versus, _VERSUS_KEYS, f"{path}.versus", "of a claim's `versus`")
        claim["versus"] = _selection(reader, versus, f"{path}.versus", declaration, claim["metric"],
                                     claim["aggregate"])
        claim["factor"] = _positive_real(reader, table.get("factor", 1.0), f"{path}.factor")
    return claim


def _check_builds(reader: _Reader, declaration: Declaration) -> None:
    """Build every distinct model, task, remedy and init once (one member), and check each run's settings."""
    from gradtrace.studies.declared.build import build_model, build_remedy, build_task
    from gradtrace.train.paths import gradient_path
    from gradtrace.train.settings import Settings

    tasks = {label: _built(reader, f"tasks.{label}", build_task, table) for label, table in declaration.tasks.items()}
    remedies = {label: _built(reader, f"remedies.{label}", build_remedy, declaration.remedy(label))
                for label in declaration.remedies}
    remedies[NONE] = (None, None)
    models: dict[tuple, Any] = {}
    checked: set[str] = set()
    for point in declaration.points(seeds=1):
        axes = point.axes
        key = (axes["model"], axes["task"], axes["init"], point.spectral_radius)
        if key not in models:
            where = f"models.{axes['model']}] with [tasks.{axes['task']}"
            if axes["init"] != DEFAULT:
                where += f"] and [inits.{axes['init']}"
            models[key] = _built(reader, where, build_model, point, tasks[axes["task"]], 1)
        settings = json.dumps([key, axes["remedy"], point.train], sort_keys=True, default=str)
        if settings in checked:
            continue
        checked.add(settings)
        transform, truncation = remedies[axes["remedy"]]
        train = {**point.train, "truncation": point.train.get("truncation", truncation)}
        if isinstance(train["truncation"], list):
            train["truncation"] = tuple(train["truncation"])
        arguments = {setting: train.get(setting) for setting in TRAIN_KEYS}  # fit's defaults are in `train`
        where = f"train] for [models.{axes['model']}] on [tasks.{axes['task']}"
        try:
            Settings.check(gradient_path(models[key]), tasks[axes["task"]], seed=point.seed, remedies=transform,
                           **arguments)
        except (TypeError, ValueError) as error:
            varied = [k for k in TRAIN_KEYS if k in declaration.grid]
            hint = f" (with {', '.join(f'{k} = {point.axes[k]!r}' for k in varied)})" if varied else ""
            raise reader.fail(f"[{where}]{hint}: {error}") from None


def _built(reader: _Reader, path: str, builder, *args):
    try:
        return builder(*args)
    except ConfigError:
        raise
    except (TypeError, ValueError) as error:
        raise reader.built(path, error) from None
