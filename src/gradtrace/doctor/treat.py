"""``treat``: try the relevant remedies on copies of a user's model and say which one fixed it.

Every trial trains a deep copy with the same batches, the same optimizer and the same seeds as the
untreated copy it is compared with; the user's model is never trained. A trial is paired with the
untreated run of the same seed (same batch order, same dropout masks), so a sign test over the seeds
says whether a remedy's lower loss is more than luck.
"""

from __future__ import annotations

import contextlib
import copy
import math
import textwrap
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from gradtrace.doctor.diagnose import LossFunctionError, batch_list, call_loss, check_model, diagnose, seeded
from gradtrace.doctor.diagnosis import Diagnosis
from gradtrace.doctor.omega import PascanuOmega
from gradtrace.doctor.remedies import Remedy, auto_remedies, make_remedy
from gradtrace.errors import GradtraceError, check_int, check_real, describe

__all__ = ["RemedyError", "Treatment", "Trial", "treat"]

#: A remedy fixed it when it never diverged, beat the untreated copy on so many seeds that a sign test puts
#: chance at most this likely (5 of 5 seeds: 1/32)...
SIGNIFICANCE = 0.05
#: ...and either the untreated copy diverged or the remedy lowered the median final loss by this much.
MIN_IMPROVEMENT = 0.1


@dataclass
class Trial:
    """One remedy (or none: the untreated copy) trained for ``steps`` on each seed.

    Attributes:
        name: the remedy's name, ``"untreated"`` for the baseline.
        description: what it does.
        code: the lines that apply it to the user's model.
        curves: per seed, the training loss at each step (up to a divergence).
        final_losses: per seed, the mean loss over the last tenth of the steps (inf when it diverged).
        diverged_at: per seed, the step whose loss or gradient was not finite, else None.
        seconds: per seed, the wall time of the training.
        after: the diagnosis of the seed-0 copy after training (None when it diverged or failed).
        error: why the trial could not run on some seed (a remedy that does not fit the model's code; it is
            then not compared), or why the diagnosis after training failed; else None.
        wins: seeds on which its final loss is below the untreated copy's.
        p_value: one-sided sign test of ``wins`` over the seeds (chance: 1/2 per seed).
        improvement: relative reduction of the median final loss against the untreated copy.
        fixed: never diverged, won on enough seeds for a sign-test p ≤ 0.05 (5 of 5 at least), and the
            untreated copy diverged or
            the median final loss fell by at least 10 %.
    """

    name: str
    description: str
    code: list[str]
    curves: list[list[float]] = field(default_factory=list)
    final_losses: list[float] = field(default_factory=list)
    diverged_at: list[int | None] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    after: Diagnosis | None = None
    error: str | None = None
    wins: int = 0
    p_value: float = float("nan")
    improvement: float = float("nan")
    fixed: bool = False

    @property
    def divergences(self) -> int:
        return sum(step is not None for step in self.diverged_at)

    @property
    def median_loss(self) -> float:
        return _median(self.final_losses)

    @property
    def horizon(self) -> int | None:
        """The shortest horizon over the recurrent layers after training (None without any)."""
        if self.after is None or not self.after.recurrent:
            return None
        return min(int(r.horizon.min()) for r in self.after.recurrent.values())

    @property
    def first_last_ratio(self) -> float:
        return float("nan") if self.after is None else self.after.depth.first_last_ratio

    def to_dict(self) -> dict:
        return {
            "name": self.name, "description": self.description, "code": list(self.code),
            "final_losses": [_plain(v) for v in self.final_losses], "median_loss": _plain(self.median_loss),
            "diverged_at": list(self.diverged_at), "divergences": self.divergences,
            "seconds": list(self.seconds), "wins": self.wins, "p_value": _plain(self.p_value),
            "improvement": _plain(self.improvement), "fixed": self.fixed, "horizon": self.horizon,
            "first_last_ratio": _plain(self.first_last_ratio), "error": self.error,
            "verdicts_after": sorted(self.after.kinds) if self.after is not None else None,
            "curves": [[_plain(v) for v in curve] for curve in self.curves],
        }


@dataclass
class Treatment:
    """What ``treat`` found: the diagnosis, the untreated copy, every trial, and the best fix."""

    diagnosis: Diagnosis
    untreated: Trial
    trials: list[Trial]
    steps: int
    seeds: int

    @property
    def fixed(self) -> list[Trial]:
        """The trials that fixed it, best (lowest median final loss) first."""
        return sorted((t for t in self.trials if t.fixed), key=lambda t: t.median_loss)

    @property
    def outcome(self) -> str:
        """One sentence on the treatment as a whole when no remedy fixed it."""
        if self.trials:
            return "No remedy fixed it within these steps."
        if self.diagnosis.healthy:
            return "Nothing to treat: every verdict is healthy."
        culprit = self.diagnosis.first_nonfinite
        if any(v.where == "loss" and v.kind == "non-finite" for v in self.diagnosis.verdicts):
            where = f" (`{culprit}` makes it)" if culprit else ""
            return (f"No remedy was tried: the loss is not finite before any training{where}; no change to the "
                    "gradient can fix the forward pass. Fix that module or its input first.")
        return "No remedy was tried."

    @property
    def identical_seeds(self) -> bool:
        """Whether the seeds trained the untreated copy identically (nothing random varied between them)."""
        curves = self.untreated.curves
        return len(curves) > 1 and bool(curves[0]) and all(curve == curves[0] for curve in curves[1:])

    @property
    def best(self) -> Trial | None:
        fixed = self.fixed
        return fixed[0] if fixed else None

    def to_dict(self) -> dict:
        best = self.best
        return {"steps": self.steps, "seeds": self.seeds, "identical_seeds": self.identical_seeds,
                "untreated": self.untreated.to_dict(),
                "trials": [t.to_dict() for t in self.trials], "best": best.name if best else None,
                "code": best.code if best else None}

    def table(self) -> str:
        """The trials as aligned text that reads at 80 columns and piped."""
        lines = [f"gradtrace treat: {len(self.trials)} remedies, {self.steps} steps, {self.seeds} seed(s)",
                 "  (final loss: median over seeds; wins: seeds below untreated; p: sign test;",
                 "   horizon: after training; time: median seconds per seed)",
                 f"  {'remedy':<20}{'final loss':>11}{'diverged':>9}{'wins':>6}{'p':>7}{'horizon':>8}{'time':>7}"
                 "  fixed"]
        for trial in (self.untreated, *self.trials):
            if trial.error and len(trial.final_losses) < self.seeds:
                lines.extend(_wrap(f"{trial.name:<20} could not run: {trial.error}"))
                continue
            horizon = "" if trial.horizon is None else str(trial.horizon)
            untreated = trial is self.untreated
            wins = "" if untreated else f"{trial.wins}/{self.seeds}"
            p_value = "" if untreated else f"{trial.p_value:.3f}"
            fixed = "" if untreated else ("yes" if trial.fixed else "no")
            seconds = f"{_median(trial.seconds):.1f}" if trial.seconds else ""
            lines.append(f"  {trial.name:<20}{_loss(trial.median_loss):>11}{trial.divergences:>6}/{self.seeds:<2}"
                         f"{wins:>6}{p_value:>7}{horizon:>8}{seconds:>7}  {fixed}")
            if trial.error:  # it trained on every seed; what failed after (the diagnosis) is a note
                lines.extend(_wrap(f"note: {trial.error}", indent=4))
        if self.identical_seeds:
            lines.extend(_wrap("note: every seed trained the untreated copy identically (one batch order and no "
                               "dropout), so the sign test counts one comparison several times.", indent=2))
        best = self.best
        if best is None:
            lines.extend(_wrap(self.outcome, indent=0))
        else:
            lines.extend(textwrap.wrap(f"Best: {best.name} — {best.description}. Apply it to your model:", 80,
                                       subsequent_indent="  ", break_on_hyphens=False))
            lines.extend(f"    {line}" for line in best.code)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def treat(model: nn.Module, loss_fn: Callable[[nn.Module, Any], torch.Tensor], batches: Iterable[Any], *,
          steps: int = 100, remedies: str | Iterable[str] = "auto",
          optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer] | None = None, lr: float = 0.01,
          seeds: int = 5, diagnosis: Diagnosis | None = None) -> Treatment:
    """Try the remedies that fit the diagnosis on copies of ``model`` and compare each with no remedy.

    Args:
        model: the user's model; it is copied, never trained.
        loss_fn: ``loss_fn(model, batch)`` returns the scalar loss.
        batches: the batches to train on, visited in an order shuffled by each seed.
        steps: optimizer steps per copy and seed.
        remedies: ``"auto"`` (chosen from the diagnosis) or names from
            :data:`gradtrace.doctor.remedies.REMEDY_NAMES`.
        optimizer: builds the optimizer from the parameters; default plain SGD at ``lr``.
        lr: the learning rate of the default optimizer.
        seeds: how many seeds each copy trains with (they vary the batch order and dropout masks).
        diagnosis: a diagnosis of ``model`` already made on these batches (else one is made).

    Returns:
        A :class:`Treatment`; ``treatment.best.code`` holds the lines that apply the winning fix.

    Raises:
        TypeError / ValueError: for bad arguments, naming them; ``LossFunctionError`` as in diagnose.

    Example:
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> layers = [m for _ in range(12) for m in (torch.nn.Linear(4, 4), torch.nn.Sigmoid())]
        >>> model = torch.nn.Sequential(*layers, torch.nn.Linear(4, 1))
        >>> data = [(torch.randn(32, 4), torch.randn(32, 1)) for _ in range(4)]
        >>> loss = lambda m, b: ((m(b[0]) - b[1]) ** 2).mean()
        >>> treatment = treat(model, loss, data, steps=20, seeds=2, lr=0.05)
        >>> treatment.diagnosis.found("vanishing")[0].where
        'depth'
    """
    check_model(model)
    steps = check_int("steps", steps, minimum=1)
    seeds = check_int("seeds", seeds, minimum=1)
    lr = check_real("lr", lr, minimum=0.0, exclusive_minimum=True)
    if optimizer is not None and not callable(optimizer):
        raise TypeError(f"`optimizer` must build an optimizer from parameters, got {describe(optimizer)}.")
    items = batch_list(None, batches)
    build = optimizer or (lambda params: torch.optim.SGD(params, lr=lr))
    if diagnosis is None:
        diagnosis = diagnose(model, loss_fn, batches=items)
    finite_norms = sorted(v for v in diagnosis.grad_norms if math.isfinite(v))
    median_norm = finite_norms[len(finite_norms) // 2] if finite_norms else 1.0
    forward_broken = any(v.where == "loss" and v.kind == "non-finite" and v.found_in[0] == v.found_in[1]
                         for v in diagnosis.verdicts)
    if remedies == "auto" and forward_broken:
        names = []  # every batch's loss is NaN before a single step: the forward pass is broken, not training
    elif remedies == "auto":
        time_kinds = {v.kind for v in diagnosis.verdicts if v.where not in ("depth", "loss")}
        depth_kinds = {v.kind for v in diagnosis.verdicts if v.where in ("depth", "loss")}
        names = auto_remedies(model, time_kinds, depth_kinds)
    else:
        names = [remedies] if isinstance(remedies, str) else list(remedies)
    chosen = [remedy for name in names for remedy in make_remedy(name, model, median_norm)]

    untreated = _trial(Remedy("untreated", "no remedy"), model, loss_fn, items, steps, seeds, build)
    trials = [_trial(remedy, model, loss_fn, items, steps, seeds, build) for remedy in chosen]
    for trial in trials:
        _compare(trial, untreated)
    return Treatment(diagnosis, untreated, trials, steps, seeds)


class RemedyError(GradtraceError):
    """A remedy cannot be applied to this model (a module it needs is missing or shaped otherwise)."""


def _trial(remedy: Remedy, model, loss_fn, items, steps: int, seeds: int, build) -> Trial:
    trial = Trial(remedy.name, remedy.description, list(remedy.code))
    for seed in range(seeds):
        try:
            curve, diverged, seconds, trained = _train(remedy, model, loss_fn, items, steps, seed, build)
        except (LossFunctionError, RemedyError) as error:  # the remedy does not fit the user's code: a result
            if remedy.name == "untreated":
                raise
            trial.error = f"{type(error).__name__}: {error}"
            return trial
        tail = curve[-max(1, steps // 10):]
        trial.curves.append(curve)
        trial.diverged_at.append(diverged)
        trial.final_losses.append(float("inf") if diverged is not None else sum(tail) / len(tail))
        trial.seconds.append(seconds)
        if seed == 0 and diverged is None:
            try:
                trial.after = diagnose(trained, loss_fn, batches=items[:2])
            except (LossFunctionError, TypeError, ValueError) as error:  # say so and keep the losses
                trial.error = f"diagnosis after training failed: {type(error).__name__}: {error}"
    return trial


def _train(remedy: Remedy, model, loss_fn, items, steps: int, seed: int, build):
    with seeded(seed, model):
        order = torch.randperm(len(items)).tolist()
        twin = copy.deepcopy(model)
        try:
            if remedy.apply is not None:
                remedy.apply(twin)
            omega = PascanuOmega(twin, remedy.omega) if remedy.omega is not None else None
        except (TypeError, ValueError, AttributeError, RuntimeError) as error:
            raise RemedyError(f"{remedy.name} cannot be applied to this model: {error}") from error
        # the same random state from here on as the untreated copy of this seed: the same dropout masks,
        # whatever the remedy drew to initialize its weights
        torch.default_generator.manual_seed(seed)
        twin.train()
        optimizer = build(twin.parameters())
        for group in optimizer.param_groups:
            group["lr"] *= remedy.lr_scale
        curve: list[float] = []
        started = time.perf_counter()
        for step in range(steps):
            batch = items[order[step % len(items)]]
            with omega.recording() if omega is not None else contextlib.nullcontext():
                during = f"training the {'untreated copy' if remedy.name == 'untreated' else remedy.name + ' copy'}"
                loss = call_loss(loss_fn, twin, batch, order[step % len(items)], len(items),
                                 during=f"{during}, seed {seed}, step {step}")
            value = float(loss.detach())
            if not math.isfinite(value):
                return curve, step, time.perf_counter() - started, twin
            curve.append(value)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if omega is not None:
                omega.add_to_grads()  # after backward, before clipping: Ω's gradient is clipped with the rest
            if remedy.clip_norm is not None:
                norm = torch.nn.utils.clip_grad_norm_(twin.parameters(), remedy.clip_norm)
            else:
                norm = torch.linalg.vector_norm(
                    torch.stack([p.grad.detach().norm() for p in twin.parameters() if p.grad is not None]))
            if not bool(torch.isfinite(norm)):
                return curve, step, time.perf_counter() - started, twin
            optimizer.step()
        return curve, None, time.perf_counter() - started, twin


def _compare(trial: Trial, untreated: Trial) -> None:
    if len(trial.final_losses) < len(untreated.final_losses):
        return  # it failed on some seed: the seeds it did run on are no fair sample, and it fixed nothing
    pairs = list(zip(trial.final_losses, untreated.final_losses))
    trial.wins = sum(treated < plain for treated, plain in pairs)
    n = len(pairs)
    trial.p_value = sum(math.comb(n, k) for k in range(trial.wins, n + 1)) / 2 ** n
    base, mine = untreated.median_loss, trial.median_loss
    trial.improvement = (base - mine) / base if math.isfinite(base) and base > 0 and math.isfinite(mine) else (
        1.0 if math.isfinite(mine) and not math.isfinite(base) else float("nan"))
    # a hair of tolerance: 1.0 → 0.9 is a 10 % reduction, though it computes to 0.0999…
    improved = untreated.divergences > 0 or (math.isfinite(trial.improvement)
                                             and trial.improvement >= MIN_IMPROVEMENT - 1e-12)
    trial.fixed = trial.divergences == 0 and n > 0 and trial.p_value <= SIGNIFICANCE and improved


def _median(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else 0.5 * (ordered[middle - 1] + ordered[middle])


def _plain(value: float):
    return value if isinstance(value, (int, float)) and math.isfinite(value) else str(value)


def _wrap(text: str, indent: int = 2) -> list[str]:
    """``text`` as lines of at most 80 columns, the first indented by ``indent`` and the rest by 2 more."""
    return textwrap.wrap(text, 80, initial_indent=" " * indent, subsequent_indent=" " * (indent + 2),
                         break_on_hyphens=False)


def _loss(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else "diverged"
