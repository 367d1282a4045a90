"""What the playground trains: its settings, their bounds, and the model, task and remedies they build.

Every size a visitor can ask for is bounded here, and the message that refuses one names the limit, so a
shared server cannot be asked for an hour of training or a gigabyte of states. The same settings are what
the page keeps in its URL and what "export as study" writes out (:mod:`gradtrace.web.recipes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "ACTIVATIONS",
    "LIMITS",
    "MAX_STATE_NUMBERS",
    "NETWORKS",
    "RECURRENT_INITS",
    "MLP_INITS",
    "TASKS",
    "Built",
    "PlaygroundSettings",
    "build",
    "check_settings",
    "validation_message",
]

#: The networks the page offers: Elman RNN, LSTM and GRU through time, an MLP through depth.
NETWORKS = ("elman", "lstm", "gru", "mlp")
#: The activations of an Elman RNN's or an MLP's units (LSTM and GRU keep their gates' own).
ACTIVATIONS = ("tanh", "relu", "sigmoid")
#: The page's tasks; "sin" is :class:`~gradtrace.tasks.FunctionFit` of sin x, the rest keep the library's names.
TASKS = ("adding", "temporal_order", "copy_memory", "xor", "circles", "spiral", "sin")
#: Tasks with a time axis, whose length the "length" setting is (the delay, for copy_memory).
SEQUENCE_TASKS = ("adding", "temporal_order", "copy_memory")
#: Initializations of a recurrent network (:func:`gradtrace.initialize`'s schemes without options).
RECURRENT_INITS = ("uniform", "orthogonal", "xavier_normal", "kaiming_normal", "identity")
#: Initializations of an MLP (its constructor's ``init``).
MLP_INITS = ("uniform", "xavier_normal", "kaiming_normal", "orthogonal")

#: Bounds of every size a visitor can ask for: (minimum, maximum). Training at the largest of them all at
#: once is still refused by :data:`MAX_STATE_NUMBERS`.
LIMITS: dict[str, tuple[float, float]] = {
    "length": (10, 300),  # sequence length T (the delay for copy_memory)
    "depth": (1, 50),  # hidden layers M of an MLP
    "hidden_size": (2, 128),  # units per layer
    "members": (1, 8),  # ensemble size K
    "batch_size": (1, 128),
    "steps": (1, 5000),
    "lr": (1e-5, 10.0),
    "spectral_radius": (0.05, 4.0),
    "clip_norm": (1e-3, 1e3),
    "clip_value": (1e-4, 1e3),
    "truncation": (1, 300),
    "omega": (0.0, 100.0),
    "seed": (0, 2**31 - 1),
}
#: The largest members × batch_size × length × hidden_size (× depth for an MLP): the numbers in one state
#: buffer, about 16 MiB of float32. A job holds a few such buffers, so this bounds its memory.
MAX_STATE_NUMBERS = 4 * 2**20


def _bounded(name: str, default: Any) -> Any:
    low, high = LIMITS[name]
    return Field(default, ge=low, le=high)


class PlaygroundSettings(BaseModel):
    """One playground configuration; the defaults are the page's opening state (a tanh RNN whose
    gradient visibly fades over 100 steps, on the adding problem).

    Optional remedies are None when off. ``spectral_radius`` rescales W_rec after ``init`` (recurrent
    networks only; None keeps the initialization's own).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    network: Literal["elman", "lstm", "gru", "mlp"] = "elman"
    activation: Literal["tanh", "relu", "sigmoid"] = "tanh"
    task: Literal["adding", "temporal_order", "copy_memory", "xor", "circles", "spiral", "sin"] = "adding"
    length: int = _bounded("length", 100)
    depth: int = _bounded("depth", 10)
    hidden_size: int = _bounded("hidden_size", 32)
    init: Literal["uniform", "orthogonal", "xavier_normal", "kaiming_normal", "identity"] = "orthogonal"
    spectral_radius: float | None = _bounded("spectral_radius", 0.9)
    optimizer: Literal["sgd", "adam", "rmsprop"] = "adam"
    lr: float = _bounded("lr", 1e-3)
    steps: int = _bounded("steps", 500)
    batch_size: int = _bounded("batch_size", 32)
    members: int = _bounded("members", 1)
    seed: int = _bounded("seed", 0)
    clip_norm: float | None = _bounded("clip_norm", None)
    clip_value: float | None = _bounded("clip_value", None)
    truncation: int | None = _bounded("truncation", None)
    omega: float | None = _bounded("omega", None)

    @model_validator(mode="after")
    def _fits(self) -> PlaygroundSettings:
        recurrent = self.network != "mlp"
        if self.network == "mlp" and self.init not in MLP_INITS:
            raise ValueError(f"`init` of an MLP must be one of {', '.join(MLP_INITS)}; got {self.init!r}.")
        if not recurrent and self.task in ("temporal_order", "copy_memory"):
            raise ValueError(f"`task` {self.task!r} needs a recurrent network (elman, lstm or gru), got "
                             "network 'mlp'.")
        if recurrent and self.task not in SEQUENCE_TASKS:
            raise ValueError(f"`task` {self.task!r} has no time axis; train it with network 'mlp' (got "
                             f"{self.network!r}), or choose one of {', '.join(SEQUENCE_TASKS)}.")
        if self.omega is not None and self.network != "elman":
            raise ValueError(f"`omega` (Pascanu's penalty) applies to an Elman RNN only, got network {self.network!r}.")
        if self.truncation is not None and not recurrent:
            raise ValueError("`truncation` cuts back-propagation through time; an MLP has no time axis.")
        numbers = self.members * self.batch_size * self.hidden_size * (self.length if recurrent else self.depth)
        if numbers > MAX_STATE_NUMBERS:
            along = "length" if recurrent else "depth"
            raise ValueError(f"members × batch_size × {along} × hidden_size must be at most {MAX_STATE_NUMBERS:,} "
                             f"on this server, got {numbers:,}: lower one of them.")
        return self

    @property
    def recurrent(self) -> bool:
        """True for an Elman RNN, LSTM or GRU (a gradient path through time)."""
        return self.network != "mlp"


def validation_message(error: ValidationError, model: type[BaseModel] | None = None, what: str = "setting") -> str:
    """Return a pydantic error as one line per problem, each naming the field, the rule and the value.

    Args:
        error: the error of validating ``model`` (default :class:`PlaygroundSettings`).
        model: the model whose fields an unknown key is told about.
        what: the word for a field in the message ("setting").
    """
    model = PlaygroundSettings if model is None else model
    lines = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "settings"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            valid = ", ".join(model.model_fields)
            lines.append(f"Unknown {what} `{where}`; valid {what}s: {valid}.")
        elif problem["loc"]:
            lines.append(f"`{where}`: {message} (got {problem.get('input')!r}).")
        else:
            lines.append(message)
    return " ".join(lines)


def check_settings(data: Any) -> PlaygroundSettings:
    """Return the settings ``data`` (a mapping) describes.

    Raises:
        ValueError: naming every setting that is unknown, of the wrong type or out of its bounds.
    """
    if isinstance(data, PlaygroundSettings):
        return data
    if not isinstance(data, dict):
        raise ValueError(f"`settings` must be an object of settings, got {type(data).__name__}.")
    try:
        return PlaygroundSettings.model_validate(data)
    except ValidationError as error:
        raise ValueError(validation_message(error)) from None


@dataclass
class Built:
    """What :func:`build` makes of settings: ``fit``'s arguments and the pieces they hold."""

    model: Any
    task: Any
    remedies: list
    truncation: tuple[int, int] | None

    def fit_options(self, settings: PlaygroundSettings) -> dict[str, Any]:
        """Return the keyword arguments of :func:`gradtrace.fit` besides the model and the task."""
        return {"steps": settings.steps, "optimizer": settings.optimizer, "lr": settings.lr,
                "batch_size": settings.batch_size, "seed": settings.seed, "remedies": self.remedies or None,
                "truncation": self.truncation}


def task_arguments(settings: PlaygroundSettings) -> tuple[str, dict[str, Any]]:
    """Return the library's (task name, parameters) for the page's task."""
    if settings.task == "sin":
        return "function_fit", {"function": "sin"}
    if settings.task == "copy_memory":
        return "copy_memory", {"delay": settings.length}
    if settings.task in ("adding", "temporal_order"):
        return settings.task, {"length": settings.length}
    return settings.task, {}


def model_arguments(settings: PlaygroundSettings, task: Any) -> tuple[str, list[Any], dict[str, Any]]:
    """Return (name, positional, keyword) arguments of :func:`gradtrace.models.make_model` for ``settings``."""
    common = {"num_models": settings.members, "seed": settings.seed}
    if not settings.recurrent:
        return "mlp", [task.input_size * task.max_length], {
            "output_size": task.output_size, "depth": settings.depth, "width": settings.hidden_size,
            "activation": settings.activation, "init": settings.init, **common}
    options = {"readout": "all" if task.needs_every_step else "last", **common}
    if settings.network == "elman":
        options["activation"] = settings.activation
    return settings.network, [task.input_size, settings.hidden_size, task.output_size], options


def remedy_arguments(settings: PlaygroundSettings) -> list[tuple[str, dict[str, Any]]]:
    """Return the remedies as (name, options) pairs of :func:`gradtrace.remedies.make_remedy`, in the order applied."""
    remedies = []
    if settings.omega is not None:
        remedies.append(("pascanu_penalty", {"weight": settings.omega}))
    if settings.clip_value is not None:
        remedies.append(("clip_by_value", {"min_value": -settings.clip_value, "max_value": settings.clip_value}))
    if settings.clip_norm is not None:
        remedies.append(("clip_by_global_norm", {"max_norm": settings.clip_norm}))
    return remedies


def build(settings: PlaygroundSettings) -> Built:
    """Build the model (initialized, W_rec rescaled), the task and the remedies that ``settings`` describe.

    Raises:
        ValueError: when the library refuses a combination (its message names the argument).
    """
    from gradtrace.models import make_model
    from gradtrace.models.initialization import initialize
    from gradtrace.remedies import make_remedy
    from gradtrace.tasks import make_task

    name, params = task_arguments(settings)
    task = make_task(name, **params)
    kind, positional, options = model_arguments(settings, task)
    model = make_model(kind, *positional, **options)
    if settings.recurrent:
        initialize(model, settings.init)
        if settings.spectral_radius is not None:
            initialize(model, "spectral", radius=settings.spectral_radius)
    remedies = [make_remedy(remedy, **options) for remedy, options in remedy_arguments(settings)]
    truncation = (settings.truncation, settings.truncation) if settings.truncation is not None else None
    return Built(model=model, task=task, remedies=remedies, truncation=truncation)
