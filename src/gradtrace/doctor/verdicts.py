"""The doctor's verdicts: what a measured gradient path means, with its evidence and thresholds.

A verdict is computed from readings, never written: each one carries the numbers it was decided on and
the thresholds it compared them with, so a reader can disagree with a threshold and still use the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from gradtrace.instruments.through_time import HORIZON_THRESHOLD

__all__ = [
    "DEAD_UNITS_FRACTION",
    "DEPTH_EXPLODING_RATIO",
    "DEPTH_VANISHING_RATIO",
    "EXPLODING_GROWTH",
    "KINDS",
    "MIN_DEPTH",
    "VANISHING_FLOOR",
    "Verdict",
    "combine",
    "judge_depth",
    "judge_time",
]

#: The gradient of the last step's error has fallen this far below its peak: it no longer teaches
#: anything (float32 epsilon ≈ 1e-7); the threshold of gradtrace's horizon.
VANISHING_FLOOR = HORIZON_THRESHOLD
#: Going back in time, the last step's error has grown this much above its value at the last step: the
#: earliest steps dominate every update a hundred to one, and one large step throws the weights far away
#: (Pascanu 2013). A path that grows by one order of magnitude can still train well under plain SGD;
#: the exploding ReLU RNN of :mod:`gradtrace.doctor.examples` grows by more than two and diverges.
EXPLODING_GROWTH = 1e2
#: ‖∂L/∂output‖ of the first weighted layer over the last: three orders of magnitude means the first
#: layers learn a thousand times slower than the last ones (Glorot & Bengio 2010).
DEPTH_VANISHING_RATIO = 1e-3
DEPTH_EXPLODING_RATIO = 1e3
#: Half of a ReLU layer's units output zero on every example of the batch: they get no gradient and
#: cannot come back by gradient descent (the dying ReLU).
DEAD_UNITS_FRACTION = 0.5
#: Fewer weighted layers than this is not a deep path: its first/last ratio is reported, not judged.
MIN_DEPTH = 3

#: Verdict kinds, most severe first.
KINDS = ("non-finite", "exploding", "vanishing", "dead units", "healthy")


@dataclass(frozen=True)
class Verdict:
    """One finding on one part of the gradient path.

    Attributes:
        kind: one of :data:`KINDS`.
        where: the part of the path: ``"lstm layer 0 forward"``, ``"depth"``, ``"loss"``...
        evidence: one sentence filled from the measured numbers.
        measured: the numbers the verdict was decided on.
        thresholds: what they were compared with.
        found_in: (batches where this kind was found, batches diagnosed).
    """

    kind: str
    where: str
    evidence: str
    measured: dict = field(default_factory=dict)
    thresholds: dict = field(default_factory=dict)
    found_in: tuple[int, int] = (1, 1)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "where": self.where, "evidence": self.evidence,
                "measured": {k: _plain(v) for k, v in self.measured.items()},
                "thresholds": dict(self.thresholds), "found_in": list(self.found_in)}


def _plain(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _g(value: float) -> str:
    return f"{value:.2g}" if math.isfinite(value) else str(value)


def judge_time(where: str, lag_profile: list[float], decay_rate: float, horizon: int,
               finite: bool) -> Verdict:
    """Judge one recurrent layer and direction from its lag profile.

    Args:
        where: the layer's name in the verdict.
        lag_profile: ‖∂⟨δ_end, h_end⟩/∂h_(end−k)‖ for k = 0…T−1: the last step's error carried back k steps.
        decay_rate: the factor per step back fitted to it.
        horizon: steps back before it falls below :data:`VANISHING_FLOOR` × its running peak (T: never).
        finite: whether every gradient of this layer was finite.
    """
    steps = len(lag_profile)
    thresholds = {"vanishing_floor": VANISHING_FLOOR, "exploding_growth": EXPLODING_GROWTH}
    measured = {"steps": steps, "decay_rate": decay_rate, "horizon": horizon}
    if not finite or not lag_profile or not all(math.isfinite(v) for v in lag_profile):
        return Verdict("non-finite", where, f"{where}: a gradient through time is not finite (inf or nan).",
                       measured, thresholds)
    start = lag_profile[0]
    growth = max(lag_profile) / start if start > 0 else float("inf") if max(lag_profile) > 0 else float("nan")
    measured["growth"] = growth
    measured["last_over_first"] = lag_profile[-1] / start if start > 0 else float("nan")
    rate = f"×{decay_rate:.3g} per step" if math.isfinite(decay_rate) else "an unmeasurable rate"
    if growth >= EXPLODING_GROWTH:
        return Verdict("exploding", where,
                       f"{where}: the last step's error grows {_g(growth)}× going back {steps - 1} steps "
                       f"({rate}), above the {EXPLODING_GROWTH:.0e} limit.", measured, thresholds)
    if 0 <= horizon < steps:
        return Verdict("vanishing", where,
                       f"{where}: the last step's error falls {VANISHING_FLOOR:.0e} below its peak after "
                       f"{horizon} of {steps} steps back ({rate}); earlier steps learn nothing from it.",
                       measured, thresholds)
    return Verdict("healthy", where,
                   f"{where}: the last step's error reaches all {steps} steps back ({rate}; it ends at "
                   f"{_g(measured['last_over_first'])} of its value at the last step).", measured, thresholds)


def judge_depth(layers: list[tuple[str, float]], dead: dict[str, float], sigmoid_bound: float | None,
                finite: bool, first_nonfinite: str | None) -> list[Verdict]:
    """Judge the path through depth.

    Args:
        layers: (name, ‖∂L/∂output‖) of each weighted layer in the order they ran.
        dead: the fraction of dead units of each ReLU module.
        sigmoid_bound: 0.25^(M−1) when every activation between the layers is a sigmoid, else None: the
            most the sigmoids' derivatives (σ′ ≤ 0.25) let through; the weights can shrink it further.
        finite: whether every output and output gradient was finite.
        first_nonfinite: the first module whose output (or, going back, output gradient) was not finite.
    """
    thresholds = {"vanishing_ratio": DEPTH_VANISHING_RATIO, "exploding_ratio": DEPTH_EXPLODING_RATIO,
                  "dead_units_fraction": DEAD_UNITS_FRACTION, "min_depth": MIN_DEPTH}
    if not finite:
        return [Verdict("non-finite", "depth", f"depth: the first module whose output or output gradient was "
                        f"not finite is `{first_nonfinite}`.", {"first_nonfinite": first_nonfinite}, thresholds)]
    found = []
    dying = {name: fraction for name, fraction in dead.items() if fraction >= DEAD_UNITS_FRACTION}
    if dying:
        listed = ", ".join(f"`{n}` {f:.0%}" for n, f in dying.items())
        found.append(Verdict("dead units", "depth", f"depth: ReLU units that output zero on every example: "
                             f"{listed} (at least {DEAD_UNITS_FRACTION:.0%} of a layer).", {"dead": dying},
                             thresholds))
    # a layer no gradient reached (frozen, or unused by the loss: NaN) has no ratio to give; a gradient of
    # exactly zero did reach it (behind dead units) and counts
    unmeasured = [name for name, norm in layers if not math.isfinite(norm)]
    layers = [(name, norm) for name, norm in layers if math.isfinite(norm)]
    count = len(layers)
    measured: dict = {"layers": count}
    if unmeasured:
        measured["without_gradient"] = unmeasured
    if count >= 2:
        first, last = layers[0][1], layers[-1][1]
        ratio = first / last if last > 0 else float("nan")
        measured.update(first=layers[0][0], last=layers[-1][0], first_last_ratio=ratio)
        if sigmoid_bound is not None:
            measured["sigmoid_bound"] = sigmoid_bound
    if count < MIN_DEPTH:
        if not found:
            found.append(Verdict("healthy", "depth", f"depth: {count} weighted layer(s), fewer than {MIN_DEPTH}: "
                                 "not a deep path; nothing to judge through depth.", measured, thresholds))
        return found
    ratio = measured["first_last_ratio"]
    bound = (f", beside 0.25^{count - 1} = {_g(sigmoid_bound)}, the most its sigmoids' derivatives let through"
             if sigmoid_bound is not None else "")
    text = f"‖∂L/∂output‖ of the first layer `{layers[0][0]}` is {_g(ratio)}× the last's `{layers[-1][0]}`"
    if math.isfinite(ratio) and ratio < DEPTH_VANISHING_RATIO:
        found.insert(0, Verdict("vanishing", "depth", f"depth: {text} over {count} layers{bound}; below "
                                f"{DEPTH_VANISHING_RATIO:.0e}.", measured, thresholds))
    elif math.isfinite(ratio) and ratio > DEPTH_EXPLODING_RATIO:
        found.insert(0, Verdict("exploding", "depth", f"depth: {text} over {count} layers; above "
                                f"{DEPTH_EXPLODING_RATIO:.0e}.", measured, thresholds))
    elif not found:
        found.append(Verdict("healthy", "depth", f"depth: {text} over {count} layers{bound}; within "
                             f"[{DEPTH_VANISHING_RATIO:.0e}, {DEPTH_EXPLODING_RATIO:.0e}].", measured, thresholds))
    return found


def combine(per_batch: list[list[Verdict]], overall: list[Verdict] = ()) -> list[Verdict]:
    """Combine the verdicts of several batches: per place, each kind found in at least half of them.

    The evidence is the sentence of the same place and kind in ``overall`` (judged on the readings
    combined over the batches, the numbers a reader finds in the diagnosis) where there is one, else the
    first batch's; ``found_in`` says in how many batches the kind was found.
    """
    preferred = {(v.where, v.kind): v for v in overall}
    total = len(per_batch)
    places: dict[str, dict[str, list[Verdict]]] = {}
    for verdicts in per_batch:
        for verdict in verdicts:
            places.setdefault(verdict.where, {}).setdefault(verdict.kind, []).append(verdict)
    out = []
    for where, kinds in places.items():
        kept = [k for k in KINDS if k in kinds and k != "healthy" and 2 * len(kinds[k]) >= total]
        if not kept:
            # nothing wrong in a majority: healthy where it was measured healthy, else the most severe finding
            kept = ["healthy"] if "healthy" in kinds else [min(kinds, key=KINDS.index)]
        for kind in kept:
            first = preferred.get((where, kind), kinds[kind][0])
            out.append(Verdict(kind, where, first.evidence, first.measured, first.thresholds,
                               (len(kinds[kind]), total)))
    return out
