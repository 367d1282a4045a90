"""The commented study file ``gradtrace new-study NAME`` writes: a small grid that runs as it is, in seconds."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["TEMPLATE", "template", "write_template"]

#: The template, with ``{name}`` for the study's name. Every line of it is a valid setting or a comment.
TEMPLATE = '''\
# A gradtrace study declared in TOML.
#   gradtrace run {name}.toml     runs it (one run per point of [grid]) and writes the HTML report
#   gradtrace show {name}.toml    lists the runs it plans
# Edit it freely: each run is stored under a hash of its config, so running the file again after an edit
# reruns only the runs that changed; the others are kept.

name = "{name}"                  # the study's name in the run store: lowercase letters, digits and '-'
title = "Clipping against no remedy, tanh RNN and LSTM, on the adding problem"
description = "A tanh RNN and an LSTM add two marked numbers 20 steps apart, with and without gradient clipping."
seeds = 3                        # independent seeds (ensemble members) per configuration
seed = 0                         # the base seed: member k draws from seed + k

[train]                          # gradtrace.fit's settings, shared by every run; any may vary in [grid]
steps = 100
optimizer = "adam"               # "sgd", "adam" or "rmsprop"
lr = 0.01
batch_size = 32
eval_every = 10                  # evaluate on held-out sequences every 10 steps (the loss curves)
trace_every = 50                 # keep ‖∂L/∂h_t‖ every 50 steps (the gradient profile and its horizon)
# truncation = [10, 10]          # truncated BPTT: update every k1 steps, back-propagate k2 steps

[models.tanh]                    # gradtrace.make_model(type, ...): input and output sizes come from the task
type = "elman"
hidden_size = 8
activation = "tanh"
readout = "last"                 # answer from the last step only
# init = {{ scheme = "orthogonal" }}   # gradtrace.initialize(model, scheme, ...)
# spectral_radius = 1.2              # rescale W_rec to this spectral radius

[models.lstm]
type = "lstm"
hidden_size = 8
readout = "last"

[tasks.adding20]                 # gradtrace.make_task(type, ...)
type = "adding"
length = 20

[remedies.clip1]                 # gradtrace.remedies.make_remedy(type, ...); "none" is built in
type = "clip_by_global_norm"
max_norm = 1.0

# [remedies.omega]               # Pascanu's penalty Ω on W_rec (an Elman RNN's)
# type = "pascanu_penalty"
# weight = 2.0
# [remedies.omega-then-clip]     # a chain applies the remedies it names, in turn
# type = "chain"
# remedies = ["omega", "clip1"]

# [inits.orthogonal]             # an initialization to put on the grid's `init` axis ("default" is built in)
# scheme = "orthogonal"

[grid]                           # one run per combination of these lists
model = ["tanh", "lstm"]
task = ["adding20"]
remedy = ["none", "clip1"]
# lr = [0.003, 0.01]             # any [train] setting may vary here too

# A claim compares a metric, pooled over the seeds of the runs `where` selects, with a number (`value`) or
# with another selection (`versus`). metric: task/loss, task/accuracy, task/success, train/loss, horizon,
# diverged; aggregate: median (default), mean, min, max, or fraction_succeeding; op: <, <=, >, >=.
[[claims]]
id = "lstm-gradient-reaches-further"
statement = "The LSTM's gradient reaches further back in time than the tanh RNN's."
metric = "horizon"
where = {{ model = "lstm" }}
op = ">"
versus = {{ where = {{ model = "tanh" }} }}   # the same metric and aggregate over the tanh RNN's seeds

[[claims]]
id = "no-divergence"
statement = "No seed diverges, with or without clipping."
metric = "diverged"              # 1 for a seed that went non-finite, else 0
aggregate = "max"
op = "<="
value = 0
# factor = 0.5                   # with `versus`: compare with 0.5 × the other selection
'''


def template(name: str) -> str:
    """Return the template for the study ``name``.

    Raises:
        ConfigError: if ``name`` is not a valid study name (lowercase letters, digits and '-').
    """
    from gradtrace.studies.declared.schema import check_study_name

    check_study_name(name, source="new-study")
    return TEMPLATE.format(name=name)


def write_template(name: str, path: str | os.PathLike | None = None) -> Path:
    """Write the template for the study ``name`` to ``path`` (default ``NAME.toml``) and return the path.

    Raises:
        ConfigError: if ``name`` is not a valid study name.
        ValueError: if ``path`` exists (it is never overwritten) or cannot be written.
    """
    text = template(name)
    path = Path(f"{name}.toml" if path is None else path)
    try:
        with path.open("x", encoding="utf-8") as file:  # "x": fails if the file exists, even if it appears now
            file.write(text)
    except FileExistsError:
        raise ValueError(f"{str(path)!r} exists already: new-study never overwrites a file. Choose another name "
                         "or --out.") from None
    except OSError as error:
        raise ValueError(f"Cannot write {str(path)!r}: {error.strerror or error}.") from None
    return path
