"""Fuzzing the public API with random, often wrong, arguments at tiny sizes.

Every case draws a configuration in which either nothing or one or two chosen arguments are broken
(a wrong type, zero, a negative or huge size, an unknown name, a bad dtype, a NaN...). The contract:

- a case with a broken argument fails with a ``TypeError``, ``ValueError`` or ``GradtraceError``
  whose message names one of the broken arguments;
- a case without one succeeds and returns a well-formed result;
- nothing else escapes (no ``RuntimeError`` from torch, no ``IndexError``, no hang).

Set ``GRADTRACE_FUZZ_COUNTS=1`` (with ``-s``) to print how many cases ran and how each ended.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gradtrace as gt
from gradtrace.activations import ACTIVATIONS
from gradtrace.errors import MAX_SEED, GradtraceError, NonFiniteError
from gradtrace.models import MLP_INITIALIZATIONS
from gradtrace.models.sizes import MAX_DEPTH, MAX_MODELS
from gradtrace.remedies import clip_by_global_norm, clip_by_value, weight_penalty
from gradtrace.tasks import ADDING_VARIANTS, FIT_FUNCTIONS, TASKS

ALLOWED = (TypeError, ValueError, GradtraceError)
COUNTS: Counter = Counter()
FUZZ = settings(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Far beyond any machine's memory or the documented bounds, whatever the argument multiplies.
HUGE = 10**12
# Broken values by kind of argument: drawn by the random cases, and each one tried in turn by the sweeps.
SIZES = [0, -1, -(2**70), 2.0, 2.5, "4", None, True, HUGE]
COUNTS_ = [0, -3, 1.0, "2", None, False, HUGE, MAX_MODELS + 1]
SEEDS = [-1, -(2**70), 2**70, 2**64, MAX_SEED + 1, 1.5, "0", True]
NAMES = ["tanhh", "", "TANH", 3, None, ["tanh"]]
DTYPES = [torch.int64, torch.bool, torch.complex64, "float32", float, np.float32, 4]
REALS = [math.nan, math.inf, -math.inf, "0.5", None, [0.5], -1.0]
BAD_SIZES, BAD_COUNTS, BAD_SEEDS = st.sampled_from(SIZES), st.sampled_from(COUNTS_), st.sampled_from(SEEDS)
BAD_NAMES, BAD_DTYPES, BAD_REALS = st.sampled_from(NAMES), st.sampled_from(DTYPES), st.sampled_from(REALS)


class Case:
    """The arguments of one call, each drawn valid or, when chosen, broken; ``bad`` names the broken ones."""

    def __init__(self, data, names: list[str], *, max_broken: int = 2):
        self.data = data
        self.broken: set[str] = set()
        # Two cases in three break something; the third checks that valid arguments are accepted.
        if names and data.draw(st.sampled_from([False, True, True]), label="any broken"):
            self.broken = data.draw(st.sets(st.sampled_from(names), min_size=1, max_size=max_broken), label="broken")
        self.bad: set[str] = set()
        self.args: dict = {}

    def arg(self, name: str, valid, invalid):
        """Draw ``name`` from ``valid``, or from ``invalid`` when the case breaks it."""
        if name in self.broken:
            self.bad.add(name)
            value = self.data.draw(invalid, label=name)
        else:
            value = self.data.draw(valid, label=name)
        self.args[name] = value
        return value

    def int_or_broken(self, name: str, low: int, high: int, invalid=BAD_SIZES):
        return self.arg(name, st.integers(low, high), invalid)


def _names(message: str, name: str) -> bool:
    """Whether ``message`` names the argument ``name`` as a word of its own (`remedies[1]`, `num_models`=2),
    not inside another (``batch_size`` in ``eval_batch_size``, ``remedies`` in ``gradtrace.remedies``)."""
    return re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", message) is not None


def outcome(area: str, bad: set[str], call, *, check=None, domain: tuple[type[Exception], ...] = ()):
    """Run ``call`` and hold it to the contract; count how it ended under ``area``.

    Args:
        area: where the case belongs ("model", "task", "trace", "fit").
        bad: the broken arguments: the call must fail naming one, or succeed when empty.
        call: the call.
        check: given the result of a successful call, asserts it is well formed.
        domain: failures a valid call may meet (a diverging run under ``on_nonfinite="raise"``).
    """
    try:
        result = call()
    except domain as error:
        COUNTS[area, f"{type(error).__name__} (domain)"] += 1
        return None
    except ALLOWED as error:
        message = str(error)
        COUNTS[area, type(error).__name__] += 1
        assert bad, f"{area}: no argument was broken, yet {type(error).__name__}: {message}"
        assert any(_names(message, name) for name in bad), (
            f"{area}: {type(error).__name__} names none of the broken arguments {sorted(bad)}: {message}")
        return None
    except Exception as error:  # noqa: BLE001 — anything else is the finding the fuzzing is for
        raise AssertionError(f"{area}: broken {sorted(bad)} raised {type(error).__name__}: {error}") from error
    assert not bad, f"{area}: broken arguments {sorted(bad)} were accepted"
    COUNTS[area, "ok"] += 1
    if check is not None:
        check(result)
    return result


# ------------------------------------------------------------------------------------------------
# Models
# ------------------------------------------------------------------------------------------------
RECURRENT = {"elman": gt.ElmanRNN, "lstm": gt.LSTM, "gru": gt.GRU, "esn": gt.ESN}
RECURRENT_ARGS = ["input_size", "hidden_size", "output_size", "num_models", "readout", "seed", "dtype"]
ESN_ARGS = ["spectral_radius", "leak_rate", "input_scaling", "connectivity", "bias_scaling", "ridge", "washout"]
MLP_ARGS = ["input_size", "hidden_sizes", "depth", "width", "output_size", "activation", "init", "batch_norm",
            "residual", "num_models", "seed", "dtype"]
FAST_ACTIVATIONS = [name for name, a in ACTIVATIONS.items() if not a.learnable]


def _seed(case: Case, members) -> int:
    top = MAX_SEED - (members - 1) if isinstance(members, int) and 1 <= members <= 3 else MAX_SEED - 10
    invalid = BAD_SEEDS if not isinstance(members, int) or members < 2 else st.one_of(
        BAD_SEEDS, st.just(MAX_SEED - members + 2))
    return case.arg("seed", st.one_of(st.integers(0, 1000), st.integers(top - 2, top)), invalid)


def draw_model(data, kind: str, *, sizes: tuple[int, int] | None = None, readout: str | None = None,
               break_args: bool = True):
    """Draw a model's arguments; return (kind, the Case, a function that builds it).

    ``sizes`` fixes (input_size, output_size) to fit a task; ``break_args`` False draws them all valid.
    """
    if kind == "mlp":
        case = Case(data, MLP_ARGS if break_args else [])
        if sizes is None:
            case.int_or_broken("input_size", 1, 6)
            case.int_or_broken("output_size", 1, 3)
        else:
            case.args["input_size"], case.args["output_size"] = sizes
        residual = case.arg("residual", st.booleans(), st.sampled_from([1, "yes", None]))
        equal = residual is True or data.draw(st.booleans(), label="depth and width")
        if equal:
            case.int_or_broken("depth", 1, 3)
            case.int_or_broken("width", 1, 8)
        else:
            case.arg("hidden_sizes", st.lists(st.integers(1, 8), min_size=1, max_size=3),
                     st.sampled_from([[], [0], [3, -1], [2.5], "3", 3, None, [HUGE, HUGE], [1] * 10_001]))
        case.arg("activation", st.sampled_from(list(ACTIVATIONS)), BAD_NAMES)
        case.arg("init", st.sampled_from(MLP_INITIALIZATIONS), st.sampled_from(["he", None, "", 0]))
        case.arg("batch_norm", st.booleans(), st.sampled_from([1, "no", None]))
        members = case.int_or_broken("num_models", 1, 3, BAD_COUNTS)
        _seed(case, members)
        case.arg("dtype", st.sampled_from([None, torch.float32, torch.float64]), BAD_DTYPES)
        args = dict(case.args)
        positional = (args.pop("input_size"), args.pop("hidden_sizes", None))
        return kind, case, lambda: gt.MLP(*positional, **args)
    names = RECURRENT_ARGS + (ESN_ARGS if kind == "esn" else []) + (["activation"] if kind == "elman" else [])
    names += ["use_fast_bptt"] if kind != "esn" else []
    case = Case(data, names if break_args else [])
    size_name = "reservoir_size" if kind == "esn" else "hidden_size"
    if sizes is None:
        case.int_or_broken("input_size", 1, 4)
        case.int_or_broken("output_size", 1, 3)
    else:
        case.args["input_size"], case.args["output_size"] = sizes
    if "hidden_size" in case.broken:
        case.broken.add(size_name)
    case.int_or_broken(size_name, 1, 8)
    members = case.int_or_broken("num_models", 1, 3, BAD_COUNTS)
    case.arg("readout", st.sampled_from(["all", "last"] if readout is None else [readout]),
             st.sampled_from(["first", "ALL", None, 1]))
    _seed(case, members)
    case.arg("dtype", st.sampled_from([None, torch.float32, torch.float64]), BAD_DTYPES)
    if kind == "elman":
        case.arg("activation", st.sampled_from(FAST_ACTIVATIONS), st.one_of(BAD_NAMES, st.just("prelu")))
    if kind != "esn":
        case.arg("use_fast_bptt", st.sampled_from([None, False]), st.sampled_from([1, "yes", 0.0]))
    else:
        case.arg("spectral_radius", st.floats(0.1, 1.5), st.one_of(BAD_REALS, st.just(0.0)))
        case.arg("leak_rate", st.floats(0.1, 1.0), st.one_of(BAD_REALS, st.sampled_from([0.0, 1.5])))
        case.arg("input_scaling", st.floats(0.0, 2.0), BAD_REALS)
        case.arg("connectivity", st.floats(0.5, 1.0), st.one_of(BAD_REALS, st.sampled_from([0.0, 1.01])))
        case.arg("bias_scaling", st.floats(0.0, 1.0), BAD_REALS)
        case.arg("ridge", st.floats(0.0, 1.0), BAD_REALS)
        case.arg("washout", st.integers(0, 3), st.sampled_from([-1, 1.5, "2", None]))
    args = dict(case.args)
    positional = (args.pop("input_size"), args.pop(size_name), args.pop("output_size"))
    return kind, case, lambda: RECURRENT[kind](*positional, **args)


def _check_model(kind: str, case: Case):
    def check(model):
        args = case.args
        assert model.num_models == args["num_models"]
        assert all(bool(torch.isfinite(p).all()) for p in model.parameters())
        width = args["input_size"]
        outputs = model(torch.zeros(2, 1, width) if kind == "mlp" else torch.zeros(2, 3, width)).outputs
        expected = (args["num_models"], 2, args["output_size"])
        if kind != "mlp" and args["readout"] == "all":
            expected = (args["num_models"], 2, 3, args["output_size"])
        assert tuple(outputs.shape) == expected
    return check


@settings(FUZZ, max_examples=200)
@given(data=st.data(), kind=st.sampled_from(["elman", "lstm", "gru", "esn", "mlp"]))
def test_model_constructors(data, kind):
    kind, case, build = draw_model(data, kind)
    outcome("model", case.bad, build, check=_check_model(kind, case))


RECURRENT_SWEEP = {"input_size": SIZES, "hidden_size": SIZES, "output_size": SIZES, "num_models": COUNTS_,
                   "readout": ["first", None, 1], "seed": SEEDS + [MAX_SEED], "dtype": DTYPES}
MODEL_SWEEP = {
    "elman": {**RECURRENT_SWEEP, "activation": NAMES + ["prelu"], "use_fast_bptt": [1, "yes"]},
    "lstm": {**RECURRENT_SWEEP, "use_fast_bptt": [1, "yes"]},
    "gru": RECURRENT_SWEEP,
    "esn": {**{("reservoir_size" if k == "hidden_size" else k): v for k, v in RECURRENT_SWEEP.items()},
            "spectral_radius": REALS + [0.0], "leak_rate": REALS + [0.0, 1.5], "input_scaling": REALS,
            "connectivity": REALS + [0.0, 1.01], "bias_scaling": REALS, "ridge": REALS, "washout": [-1, 1.5, None]},
    "mlp": {"input_size": SIZES, "output_size": SIZES, "depth": SIZES + [MAX_DEPTH + 1], "width": SIZES,
            "activation": NAMES, "init": ["he", None, 0], "batch_norm": [1, None], "residual": [1, "yes"],
            "num_models": COUNTS_, "seed": SEEDS + [MAX_SEED], "dtype": DTYPES},
}


@pytest.mark.parametrize(("kind", "name", "value"), [
    (kind, name, value) for kind, catalog in MODEL_SWEEP.items() for name, values in catalog.items()
    for value in values])
def test_each_broken_constructor_argument(kind, name, value):
    # Two members, so seed=2**63 - 1 is one too many for member 1.
    size = "reservoir_size" if kind == "esn" else "hidden_size"
    args = {"input_size": 2, "output_size": 1, "num_models": 2, "seed": 0}
    args.update({"depth": 2, "width": 3} if kind == "mlp" else {size: 3})
    args[name] = value
    build = gt.MLP if kind == "mlp" else RECURRENT[kind]
    outcome("model sweep", {name}, lambda: build(args.pop("input_size"), **args))


# ------------------------------------------------------------------------------------------------
# Tasks
# ------------------------------------------------------------------------------------------------
def draw_task(data, *, break_args: bool = True, names=None):
    """Draw a task's name and parameters (tiny); return (the Case, a function that makes it)."""
    name = data.draw(st.sampled_from(names or sorted(TASKS)), label="task")
    case = Case(data, ["task", "params"] if break_args else [], max_broken=1)
    if "task" in case.broken:
        case.bad.add("task")
        name = data.draw(st.sampled_from(["adder", "", "Adding", 3]), label="unknown task")
        return case, lambda: gt.make_task(name)
    params = _task_params(data, name)
    if "params" in case.broken:
        key, value = data.draw(st.sampled_from(_bad_task_params(name)), label="bad parameter")
        params[key] = value
        case.bad.add(key)
    case.args.update(params)
    return case, lambda: gt.make_task(name, **params)


def _task_params(data, name: str) -> dict:
    draw = data.draw
    if name == "adding":
        variant = draw(st.sampled_from(list(ADDING_VARIANTS)))
        low = ADDING_VARIANTS[variant]
        return {"length": draw(st.integers(low, max(low, 12))), "variant": variant}
    if name == "copy_memory":
        return {"delay": draw(st.integers(1, 3))}
    if name == "latch":
        steps = draw(st.integers(1, 3))
        return {"length": draw(st.integers(steps + 1, 12)), "latch_steps": steps}
    if name == "temporal_order":
        return {"length": draw(st.integers(10, 12)), "bits": draw(st.sampled_from([2, 3]))}
    if name == "mackey_glass":
        length = draw(st.integers(1, 8))
        return {"length": length, "series_length": draw(st.integers(length + 1, 120))}
    if name == "forecast":
        return {"series": "price", "window": draw(st.integers(1, 4)), "length": draw(st.integers(40, 80))}
    if name == "xor":
        return {"noise": draw(st.floats(0.0, 0.5))}
    if name == "circles":
        return {"factor": draw(st.floats(0.1, 0.9))}
    if name in ("spiral", "blobs"):
        return {"classes": draw(st.integers(2, 4))}
    return {"function": draw(st.sampled_from(list(FIT_FUNCTIONS)))}


def _bad_task_params(name: str) -> list[tuple[str, object]]:
    lengths = [("length", v) for v in (0, -1, 1.5, "8", None, HUGE)]
    return {
        "adding": lengths + [("variant", "product")],
        "copy_memory": [("delay", v) for v in (0, -2, 2.0, None, HUGE)],
        "latch": lengths + [("latch_steps", 0), ("noise", -1.0), ("noise", math.nan), ("target", 0.0)],
        "temporal_order": lengths + [("bits", 4), ("bits", "2")],
        "mackey_glass": lengths + [("tau", 0.0), ("tau", math.inf), ("series_length", 0)],
        "forecast": [("series", "gold"), ("window", 0), ("window", 10**6), ("split", "dev"),
                     ("train_fraction", 1.0), ("seed", -1), ("seed", 2**70), ("length", 2)],
        "xor": [("noise", -0.1), ("noise", math.nan), ("noise", "0")],
        "circles": [("factor", 1.0), ("factor", 0.0), ("noise", -1.0)],
        "spiral": [("classes", 1), ("classes", 10**6), ("turns", 0.0)],
        "blobs": [("classes", 0), ("classes", 2.0), ("spread", -1.0)],
        # low = 1e9 lies above every function's default high, so it is wrong whichever function was drawn.
        "function_fit": [("function", "cube"), ("low", 1e9), ("high", math.nan), ("normalize", 1),
                         ("scale", "decibel")],
    }[name] + [("colour", "red")]


def _check_batch(task, size: int):
    def check(batch):
        assert tuple(batch.inputs.shape) == (size, task.max_length, task.input_size)
        assert tuple(batch.mask.shape) == (size, task.max_length) and bool(batch.mask.any())
        assert bool(torch.isfinite(batch.inputs).all())
    return check


@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_tasks_and_sampling(data):
    case, make = draw_task(data)
    task = outcome("task", case.bad, make)
    if task is None:
        return
    sample = Case(data, ["batch_size", "seed"], max_broken=1)
    size = sample.int_or_broken("batch_size", 1, 6, st.sampled_from([0, -1, 2.0, "3", None, HUGE]))
    seed = sample.arg("seed", st.integers(0, MAX_SEED), BAD_SEEDS)
    batch = outcome("task", sample.bad, lambda: task.sample(size, seed=seed), check=_check_batch(task, size))
    if batch is not None:
        again = task.sample(size, seed=seed)
        assert torch.equal(batch.inputs, again.inputs) and torch.equal(batch.targets, again.targets)


# ------------------------------------------------------------------------------------------------
# trace
# ------------------------------------------------------------------------------------------------
SEQUENCE_TASKS = ["adding", "latch", "temporal_order", "mackey_glass"]
STATIC_TASKS = ["xor", "circles", "blobs", "function_fit"]


def _fitting_model(data, task, kind: str):
    """A valid model whose sizes and readout suit ``task``."""
    if kind == "mlp":
        sizes = (task.input_size * task.max_length, task.output_size)
        return draw_model(data, "mlp", sizes=sizes, break_args=False)[2]()
    readout = "all" if task.needs_every_step else None
    return draw_model(data, kind, sizes=(task.input_size, task.output_size), readout=readout, break_args=False)[2]()


CORRUPTIONS = ["nan inputs", "inf targets", "width", "members", "targets width"]


def _corrupt(data, batch, model, how: str | None = None):
    """Break the batch in one drawn way (or ``how``); return (the batch, the names its error must hold)."""
    how = how or data.draw(st.sampled_from(CORRUPTIONS), label="corruption")
    x, y, mask = batch.inputs.clone(), batch.targets.clone(), batch.mask
    if how == "nan inputs":
        index = tuple(data.draw(st.integers(0, n - 1), label="index") for n in x.shape)
        x[index] = data.draw(st.sampled_from([math.nan, math.inf, -math.inf]), label="value")
        return gt.Batch(x, y, mask, batch.loss), {"batch.inputs"}
    if how == "inf targets" and y.is_floating_point():
        y[(0,) * y.dim()] = math.inf
        return gt.Batch(x, y, mask, batch.loss), {"batch.targets"}
    if how == "members":
        K = model.num_models + data.draw(st.integers(1, 2), label="extra members")  # noqa: N806
        return gt.Batch.stack([batch] * K), {"batch.inputs"}
    if how == "targets width" and y.is_floating_point():
        return gt.Batch(x, torch.cat([y, y], -1), mask, batch.loss), {"batch.targets"}
    wider = torch.cat([x, x[..., :1]], -1)
    return gt.Batch(wider, y, mask, batch.loss), {"batch.inputs"}


def _check_trace(model, batch):
    def check(traced):
        K = model.num_models  # noqa: N806
        points = model.depth if isinstance(model, gt.MLP) else batch.length
        assert tuple(traced.grad_norms.shape) == (K, points)
        assert tuple(traced.loss.shape) == (K,) and bool(torch.isfinite(traced.loss).all())
        assert bool((traced.grad_norms >= 0).all())
    return check


@settings(FUZZ, max_examples=150)
@given(data=st.data(), kind=st.sampled_from(["elman", "lstm", "gru", "esn", "mlp"]))
def test_trace_on_broken_batches(data, kind):
    names = STATIC_TASKS if kind == "mlp" else SEQUENCE_TASKS
    case, make = draw_task(data, break_args=False, names=names)
    task = make()
    model = _fitting_model(data, task, kind)
    batch = task.sample(data.draw(st.integers(1, 4), label="batch size"), seed=0)
    options = Case(data, ["batch", "jacobians", "loss"], max_broken=1)
    bad = set()
    if "batch" in options.broken:
        batch, bad = _corrupt(data, batch, model)
    jacobian_name = "jacobian_examples" if kind == "mlp" else "jacobian_steps"
    if "jacobians" in options.broken:
        options.broken.add(jacobian_name)
    count = options.int_or_broken(jacobian_name, 0, 3, st.sampled_from([-1, 1.5, "2", None]))
    other = "mse" if task.loss_kind == "cross_entropy" else "cross_entropy"
    loss = options.arg("loss", st.sampled_from([None, task.loss_kind]), st.sampled_from(["l1", 3, "MSE", other]))
    bad |= options.bad
    if getattr(model, "batch_norm", False) and model.training and batch.batch_size == 1:
        bad.add("batch")  # batch norm cannot normalize one example: refused naming `batch`
    outcome("trace", bad, lambda: gt.trace(model, batch, loss=loss, **{jacobian_name: count}),
            check=_check_trace(model, batch))


# ------------------------------------------------------------------------------------------------
# fit
# ------------------------------------------------------------------------------------------------
FIT_ARGS = ["steps", "optimizer", "lr", "batch_size", "dataset_size", "seed", "trace_every", "eval_every",
            "eval_batch_size", "on_nonfinite", "truncation", "remedies", "loss"]
def _also_broken(args: dict, K: int) -> set[str]:  # noqa: N803
    """Arguments that the random draw made invalid although drawn as valid: an every of 0, a huge lr, a seed
    whose members' seeds (or their held-out seeds) pass 2**63 − 1."""
    broken = {name for name in ("trace_every", "eval_every")
              if args.get(name) == 0 and not isinstance(args.get(name), bool)}
    rates = args.get("lr")
    if any(isinstance(r, float) and math.isfinite(r) and r > 1e6 for r in np.atleast_1d(np.asarray(rates, object))):
        broken.add("lr")
    seed = args.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool) and seed > MAX_SEED - (K - 1) - 1_000_003:
        broken.add("seed")
    return broken


def _fit_remedies(data, model):
    options = [None, clip_by_global_norm(1.0), [clip_by_value(-1.0, 1.0), weight_penalty(1e-3)]]
    return data.draw(st.sampled_from(options), label="remedies")


def _check_run(model, steps: int):
    def check(run):
        K = model.num_models  # noqa: N806
        assert run.status == "finished"
        # fit stops early only when every member has diverged.
        assert run.steps_done == steps or bool((run.diverged_at >= 0).all())
        assert run.history["train/loss"].shape == (run.steps_done, K)
        assert run.diverged_at.shape == (K,)
        assert set(run.final) >= {"task/loss", "task/accuracy", "task/success"}
    return check


@settings(FUZZ, max_examples=200)
@given(data=st.data(), kind=st.sampled_from(["elman", "lstm", "gru", "esn", "mlp"]))
def test_fit_arguments(data, kind):
    names = STATIC_TASKS if kind == "mlp" else SEQUENCE_TASKS
    _, make = draw_task(data, break_args=False, names=names)
    task = make()
    model = _fitting_model(data, task, kind)
    K = model.num_models  # noqa: N806
    case = Case(data, FIT_ARGS)
    steps = case.int_or_broken("steps", 1, 3, st.sampled_from([0, -1, 1.5, "2", None]))
    case.arg("optimizer", st.sampled_from(["sgd", "adam", "rmsprop"]), st.sampled_from(["adamw", "", None, 1]))
    case.arg("lr", st.one_of(st.floats(1e-4, 0.5), st.lists(st.floats(1e-4, 0.5), min_size=K, max_size=K)),
             st.sampled_from([0.0, -0.1, math.nan, math.inf, 1e300, "0.1", None, [0.1] * (K + 1), [0.1, "x"],
                              [0.1] * (K - 1) + [0.0]]))
    size = case.int_or_broken("batch_size", 1, 4, st.sampled_from([0, -1, 2.5, "4", None, HUGE]))
    valid_size = size if isinstance(size, int) and not isinstance(size, bool) and 1 <= size <= 4 else 1
    case.arg("dataset_size", st.one_of(st.none(), st.integers(valid_size, 8)),
             st.sampled_from([0, -1, 8.0, "8"] + ([valid_size - 1] if valid_size > 1 else [])))
    case.arg("seed", st.integers(0, 1000), st.one_of(BAD_SEEDS, st.just(MAX_SEED - K + 2)))
    case.arg("trace_every", st.one_of(st.none(), st.integers(1, 3)), st.sampled_from([0, -1, 1.5, "1"]))
    case.arg("eval_every", st.one_of(st.none(), st.integers(1, 3)), st.sampled_from([0, -2, 2.5, "1"]))
    case.int_or_broken("eval_batch_size", 1, 4, st.sampled_from([0, -1, 2.0, None, HUGE]))
    case.arg("on_nonfinite", st.sampled_from(["raise", "skip", "record"]), st.sampled_from(["ignore", None, 0]))
    recurrent = kind != "mlp"
    case.arg("truncation", st.one_of(st.none(), st.tuples(st.integers(1, 4), st.integers(1, 4)))
             if recurrent else st.none(),
             st.sampled_from([(0, 1), (2, -1), (1,), "2", 3, (1.5, 2)] + ([] if recurrent else [(2, 2)])))
    if "remedies" in case.broken:
        case.bad.add("remedies")
        case.args["remedies"] = data.draw(st.sampled_from(["clip", 3, [clip_by_global_norm(1.0), "x"]]),
                                          label="bad remedies")
    else:
        case.args["remedies"] = _fit_remedies(data, model)
    loss_kinds = [None, task.loss_kind] + (["half_mse"] if task.loss_kind != "cross_entropy" else [])
    case.arg("loss", st.sampled_from(loss_kinds), st.sampled_from(["l1", 0]))
    case.bad |= _also_broken(case.args, K)
    if "dataset_size" in case.bad and "batch_size" not in case.bad:
        case.bad.add("batch_size")  # a dataset smaller than the batch is refused naming both
    if getattr(model, "batch_norm", False):  # batch norm cannot normalize a batch of one example
        args = case.args
        case.bad |= {name for name in ("batch_size", "eval_batch_size")
                     if type(args.get(name)) is int and args[name] == 1}
        size, dataset = args.get("batch_size"), args.get("dataset_size")
        if type(size) is int and type(dataset) is int and size >= 1 and dataset >= size and dataset % size == 1:
            case.bad |= {"dataset_size", "batch_size"}
    domain = (NonFiniteError,) if case.args["on_nonfinite"] == "raise" and not case.bad else ()
    outcome("fit", case.bad, lambda: gt.fit(model, task, **case.args), check=_check_run(model, steps),
            domain=domain)


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    if os.environ.get("GRADTRACE_FUZZ_COUNTS"):
        areas = sorted({area for area, _ in COUNTS})
        for area in areas:
            ended = {how: n for (a, how), n in COUNTS.items() if a == area}
            print(f"\nfuzz {area}: {sum(ended.values())} calls: {ended}")


FIT_SWEEP = {
    "steps": [0, -1, 1.5, "2", None],
    "optimizer": ["adamw", "", None, 1],
    "lr": [0.0, -0.1, math.nan, math.inf, 1e300, "0.1", None, [0.1] * 3, [0.1, "x"], [0.1, 0.0]],
    "batch_size": [0, -1, 2.5, "4", None, HUGE],
    "dataset_size": [0, -1, 8.0, "8", 1],
    "seed": [-1, -(2**70), 2**70, 2**64, MAX_SEED + 1, MAX_SEED, 1.5, "0", True],
    "trace_every": [0, -1, 1.5, "1"],
    "eval_every": [0, -2, 2.5, "1"],
    "eval_batch_size": [0, -1, 2.0, None, HUGE],
    "on_nonfinite": ["ignore", None, 0],
    "truncation": [(0, 1), (2, -1), (1,), "2", 3, (1.5, 2)],
    "remedies": ["clip", 3, [clip_by_global_norm(1.0), "x"]],
    "loss": ["l1", 0, "cross_entropy"],
}
def _fit_sweep_cases():
    for name, values in FIT_SWEEP.items():
        for value in values:
            yield pytest.param(name, value, id=f"{name}={value!r}"[:60])


@pytest.mark.parametrize(("name", "value"), list(_fit_sweep_cases()))
def test_each_broken_fit_argument(name, value):
    model = gt.ElmanRNN(2, 4, 1, num_models=2, seed=0)
    args = {"steps": 1, "batch_size": 2, "eval_batch_size": 2, name: value}
    if name == "dataset_size":
        args["batch_size"] = 2  # a dataset of 1 is smaller than the batch: refused naming both
    outcome("fit sweep", {name, "batch_size"} if name == "dataset_size" else {name},
            lambda: gt.fit(model, gt.Adding(5), **args))


def test_truncation_of_an_mlp_is_refused_naming_it():
    outcome("fit sweep", {"truncation"}, lambda: gt.fit(gt.MLP(10, [3], seed=0), gt.Adding(5), steps=1,
                                                        truncation=(2, 2)))


@pytest.mark.parametrize(("task", "key", "value"), [
    (name, key, value) for name in sorted(TASKS) for key, value in _bad_task_params(name)])
def test_each_broken_task_parameter(task, key, value):
    params = {"adding": {"length": 5}, "copy_memory": {"delay": 2}, "latch": {"length": 5},
              "temporal_order": {"length": 10}, "mackey_glass": {"length": 3, "series_length": 50},
              "forecast": {"series": "price", "length": 60}}.get(task, {})
    outcome("task sweep", {key}, lambda: gt.make_task(task, **{**params, key: value}).sample(2, seed=0))


# ------------------------------------------------------------------------------------------------
# What the fuzzing found, pinned
# ------------------------------------------------------------------------------------------------
def test_a_remedy_list_with_a_stranger_names_remedies():
    with pytest.raises(TypeError, match=r"^`remedies\[1\]` must be a GradientTransform \(from gradtrace\.remedies\), "
                                        r"got 'x'\.$"):
        gt.fit(gt.ElmanRNN(2, 3, 1, seed=0), gt.Adding(5), steps=1, remedies=[clip_by_global_norm(1.0), "x"])


def test_a_numpy_scalar_type_as_dtype_is_described_not_crashed_on():
    # describe() read numpy.float32's `shape` descriptor as a shape: TypeError "'getset_descriptor'...".
    with pytest.raises(TypeError, match=r"`dtype` must be .*, got <class 'numpy\.float32'>\."):
        gt.LSTM(1, 1, 1, dtype=np.float32)


def test_a_loss_that_does_not_suit_the_targets_names_loss():
    with pytest.raises(ValueError, match=r"The loss 'cross_entropy' \(`loss`\) needs class-index targets"):
        gt.fit(gt.ElmanRNN(2, 3, 1, seed=0), gt.Adding(5), steps=1, loss="cross_entropy")
    with pytest.raises(ValueError, match=r"The loss 'mse' \(`loss`\) needs real targets"):
        gt.trace(gt.MLP(2, [3], 2, seed=0), gt.Circles().sample(4, seed=0), loss="mse")


@pytest.mark.parametrize("how", CORRUPTIONS)
@pytest.mark.parametrize("kind", ["elman", "lstm", "gru", "esn", "mlp"])
def test_each_broken_batch(kind, how):
    task = gt.XOR() if kind == "mlp" else gt.Adding(6)
    model = (gt.MLP(2, [3], seed=0, num_models=2) if kind == "mlp"
             else RECURRENT[kind](2, 3, 1, num_models=2, seed=0))
    batch = task.sample(3, seed=0)

    class Fixed:  # the first choice of every draw: index 0 everywhere, NaN, one extra member
        @staticmethod
        def draw(strategy, label=None):
            return {"index": 0, "value": math.nan, "extra members": 1}[label]

    broken, bad = _corrupt(Fixed, batch, model, how)
    outcome("trace sweep", bad, lambda: gt.trace(model, broken))


@pytest.mark.parametrize("size", [0, -1, 2.0, "3", None, True, HUGE, 2**70])
@pytest.mark.parametrize("task", ["adding", "temporal_order", "xor", "blobs", "mackey_glass"])
def test_each_broken_batch_size(task, size):
    params = {"adding": {"length": 5}, "temporal_order": {"length": 10},
              "mackey_glass": {"length": 3, "series_length": 50}}.get(task, {})
    outcome("sample sweep", {"batch_size"}, lambda: gt.make_task(task, **params).sample(size, seed=0))


@pytest.mark.parametrize("seed", SEEDS + [None])
def test_each_broken_sample_seed(seed):
    # None is valid (torch's global generator); the others are not.
    outcome("sample sweep", set() if seed is None else {"seed"}, lambda: gt.Adding(5).sample(2, seed=seed))
