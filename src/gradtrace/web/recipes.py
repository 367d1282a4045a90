""""Export as study": the playground's settings as a TOML study or a Python script that reruns them.

Both are written from the same pieces :func:`~gradtrace.web.settings.build` trains with (the task's, the
model's and the remedies' arguments), so what the page trained and what the file reruns cannot drift apart.
The TOML follows the declared-study schema (``gradtrace run FILE.toml``); the script uses the public API.
"""

from __future__ import annotations

from typing import Any

from gradtrace.studies.declared.toml import dumps
from gradtrace.web.jobs import PROBE_SEED_OFFSET
from gradtrace.web.settings import (
    PlaygroundSettings,
    model_arguments,
    remedy_arguments,
    task_arguments,
)

__all__ = ["EXPORT_FORMATS", "export", "study_name", "to_python", "to_toml"]

#: What "export as study" writes.
EXPORT_FORMATS = ("toml", "python")

_NETWORK_WORDS = {"elman": "Elman RNN", "lstm": "LSTM", "gru": "GRU", "mlp": "MLP"}


def study_name(settings: PlaygroundSettings) -> str:
    """Return a store name for the settings: lowercase letters, digits and '-'."""
    network = f"{settings.activation}-{settings.network}" if settings.network in ("elman", "mlp") else settings.network
    size = f"t{settings.length}" if settings.recurrent else f"m{settings.depth}"
    return f"playground-{network}-{settings.task}-{size}".replace("_", "-")


def _title(settings: PlaygroundSettings) -> str:
    network = _NETWORK_WORDS[settings.network]
    if settings.network in ("elman", "mlp"):
        network = f"{settings.activation} {network}"
    if settings.recurrent:
        radius = "" if settings.spectral_radius is None else f", ρ(W_rec) = {settings.spectral_radius:g}"
        return f"Playground: {network} on {settings.task} (T = {settings.length}){radius}"
    return f"Playground: {network} of depth {settings.depth} on {settings.task}"


def _task(settings: PlaygroundSettings):
    from gradtrace.tasks import make_task

    name, params = task_arguments(settings)
    return make_task(name, **params)


def to_toml(settings: PlaygroundSettings) -> str:
    """Return the declared study (TOML) that reruns ``settings``: one model, one task, one remedy chain."""
    task = _task(settings)
    name, params = task_arguments(settings)
    kind, _, options = model_arguments(settings, task)
    kept = {key: value for key, value in options.items() if key not in ("num_models", "seed", "output_size")}
    if settings.recurrent:  # input and output sizes come from the task
        model = {"type": kind, "hidden_size": settings.hidden_size, **kept, "init": {"scheme": settings.init}}
        if settings.spectral_radius is not None:
            model["spectral_radius"] = settings.spectral_radius
    else:  # an MLP's initialization is its constructor's `init`
        model = {"type": kind, **kept}
    # The rerun keeps what the page showed: the gradient profile (and its horizon) and the held-out score,
    # ten times over training; neither changes the training itself.
    every = max(1, settings.steps // 10)
    train: dict[str, Any] = {"steps": settings.steps, "optimizer": settings.optimizer, "lr": settings.lr,
                             "batch_size": settings.batch_size, "trace_every": every, "eval_every": every}
    if settings.truncation is not None:
        train["truncation"] = [settings.truncation, settings.truncation]
    remedies = remedy_arguments(settings)
    study: dict[str, Any] = {"name": study_name(settings), "title": _title(settings), "seeds": settings.members,
                             "seed": settings.seed, "train": train, "models": {kind: model},
                             "tasks": {settings.task: {"type": name, **params}}}
    chosen = [remedy for remedy, _ in remedies] or ["none"]
    if remedies:
        study["remedies"] = {remedy: {"type": remedy, **options} for remedy, options in remedies}
    if len(remedies) > 1:  # one run whose remedies apply in this order
        study["remedies"]["together"] = {"type": "chain", "remedies": chosen}
        chosen = ["together"]
    study["grid"] = {"model": [kind], "task": [settings.task], "remedy": chosen}
    header = ("# Exported from the gradtrace playground; rerun with: gradtrace run this-file.toml\n"
              "# (a ρ moved during training is written as it stood at export)\n")
    return header + dumps(study)


def _call(function: str, positional: list[str], keywords: dict[str, Any]) -> str:
    arguments = [*positional, *(f"{key}={value!r}" for key, value in keywords.items())]
    return f"{function}({', '.join(arguments)})"


def to_python(settings: PlaygroundSettings) -> str:
    """Return a Python script that trains ``settings`` with gradtrace and prints the final trace."""
    task = _task(settings)
    name, params = task_arguments(settings)
    kind, _, options = model_arguments(settings, task)
    if settings.recurrent:
        positional = ["task.input_size", repr(settings.hidden_size), "task.output_size"]
    else:
        positional = ["task.input_size * task.max_length"]
        options = {**options, "output_size": "task.output_size"}
    model_call = _call("gt.make_model", [repr(kind), *positional], options).replace(
        "output_size='task.output_size'", "output_size=task.output_size")
    lines = [
        f'"""{_title(settings)} — exported from the gradtrace playground."""',
        "",
        "import gradtrace as gt",
        "",
        f"task = {_call('gt.make_task', [repr(name)], params)}",
        f"model = {model_call}",
    ]
    if settings.recurrent:
        lines.append(f"gt.initialize(model, {settings.init!r})")
        if settings.spectral_radius is not None:
            lines.append(f"gt.initialize(model, 'spectral', radius={settings.spectral_radius!r})"
                         "  # ρ(W_rec) as it stood at export")
    remedies = [_call("gt.remedies.make_remedy", [repr(remedy)], options)
                for remedy, options in remedy_arguments(settings)]
    lines.append(f"remedies = [{', '.join(remedies)}]")
    truncation = (settings.truncation, settings.truncation) if settings.truncation is not None else None
    lines += [
        f"run = gt.fit(model, task, steps={settings.steps}, optimizer={settings.optimizer!r}, lr={settings.lr!r},",
        f"             batch_size={settings.batch_size}, seed={settings.seed}, remedies=remedies or None,",
        f"             truncation={truncation!r})",
        "# the batch the playground traced at every frame",
        f"probe = task.sample({settings.batch_size}, seed={settings.seed + PROBE_SEED_OFFSET})",
        f"measured = gt.trace(model, probe, {'jacobian_steps' if settings.recurrent else 'jacobian_examples'}=0)",
        "print('loss at the last step:', run.history['train/loss'][-1].mean())",
        "print('‖∂L/∂h‖ along the gradient path:', measured.grad_norms.mean(0).tolist())",
    ]
    return "\n".join(lines) + "\n"


def export(settings: PlaygroundSettings, fmt: str) -> str:
    """Return ``settings`` as ``fmt``: "toml" or "python".

    Raises:
        ValueError: for an unknown format, naming the valid ones.
    """
    from gradtrace.errors import check_choice

    fmt = check_choice("format", fmt, EXPORT_FORMATS, what="export format")
    return to_toml(settings) if fmt == "toml" else to_python(settings)
