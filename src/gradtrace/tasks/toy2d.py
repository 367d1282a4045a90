"""Two-dimensional classification: concentric circles, interleaved spirals and Gaussian blobs.

Every task here is non-sequential (T = 1): inputs (B, 1, 2) are points of the plane, targets (B, 1)
class indices, drawn uniformly among the classes; the loss is cross-entropy on logits, guessing
(uniform logits) scores ln(classes), and a point counts correct when its arg-max class is right.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch

from gradtrace.errors import check_int, check_real
from gradtrace.tasks.base import Batch, Task, aligned

__all__ = ["SPIRAL_START_RADIUS", "Blobs", "Circles", "Spiral"]

#: Radius where every spiral arm starts: the arms would all meet at the origin, where no classifier
#: could tell them apart (Lang & Witbrock's spirals likewise start at 1/13 of their outer radius).
SPIRAL_START_RADIUS = 0.1
# Most classes a task accepts: beyond this the plane is a blur, and the check catches typos.
_MAX_CLASSES = 1000


class _PlaneTask(Task):
    """A 2-D classification task; subclasses draw the points of each class."""

    loss_kind: ClassVar[str] = "cross_entropy"

    @property
    @abstractmethod
    def classes(self) -> int:
        """Number of classes."""

    @abstractmethod
    def _draw(self, labels: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Return (B, 2) points of the given (B,) class labels."""

    @property
    def input_size(self) -> int:
        return 2

    @property
    def output_size(self) -> int:
        return self.classes

    @property
    def max_length(self) -> int:
        return 1

    @property
    def baseline_loss(self) -> float:
        return math.log(self.classes)

    def _sample(self, batch_size: int, generator: torch.Generator | None) -> Batch:
        labels = torch.randint(0, self.classes, (batch_size,), generator=generator)
        points = self._draw(labels, generator)
        mask = torch.ones(batch_size, 1, dtype=torch.bool)
        return Batch(points.unsqueeze(1), labels.unsqueeze(1), mask, loss=self.loss_kind)

    def correct(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        out, targets, _ = aligned(outputs, batch)
        return out[..., -1, :].argmax(-1) == targets[..., -1]


@dataclass(frozen=True)
class Circles(_PlaneTask):
    """Tell a point of the unit circle (class 0) from a point of a smaller concentric one (class 1).

    A point of class c is r_c (cos θ, sin θ) + ε with θ ~ U[0, 2π), r₀ = 1, r₁ = ``factor`` and
    ε ~ N(0, noise² I). No line separates the classes: the network must bend its boundary into a
    closed curve. With the defaults the gap between the circles is ten noise standard deviations,
    so a perfect classifier is right on essentially every point.

    Args:
        noise: standard deviation of the Gaussian jitter of each coordinate, ≥ 0.
        factor: radius of the inner circle, in (0, 1).

    Raises:
        ValueError: for a negative ``noise`` or a ``factor`` outside (0, 1).
        TypeError: for an argument that is not a real number.

    Example:
        >>> batch = Circles(noise=0.0).sample(6, seed=0)
        >>> radius = batch.inputs[:, 0].norm(dim=-1)
        >>> bool(torch.allclose(radius, 1 - 0.5 * batch.targets[:, 0].float()))
        True

    References:
        The ``make_circles`` data set of scikit-learn (Pedregosa et al. 2011, JMLR 12).
    """

    noise: float = 0.05
    factor: float = 0.5

    name: ClassVar[str] = "circles"

    def __post_init__(self) -> None:
        check_real("noise", self.noise, minimum=0.0)
        factor = check_real("factor", self.factor)
        if not 0.0 < factor < 1.0:
            raise ValueError(f"`factor` (the inner circle's radius) must lie in (0, 1), got {factor}.")

    @property
    def classes(self) -> int:
        return 2

    def _draw(self, labels: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        angle = 2 * math.pi * torch.rand(labels.shape[0], generator=generator)
        radius = 1.0 - (1.0 - self.factor) * labels.to(angle.dtype)
        points = radius[:, None] * torch.stack([angle.cos(), angle.sin()], dim=-1)
        return points + self.noise * torch.randn(points.shape, generator=generator)


@dataclass(frozen=True)
class Spiral(_PlaneTask):
    """Tell apart ``classes`` interleaved spiral arms that wind around the origin.

    A point of arm k is r (cos θ, sin θ) + ε with t ~ U[0, 1], r = r₀ + (1 − r₀) t,
    θ = 2π (turns · t + k / classes) and ε ~ N(0, noise² I); r₀ = ``SPIRAL_START_RADIUS`` = 0.1.
    The arms are (1 − r₀) / (turns · classes) apart along a ray (0.3 with the defaults), so the
    boundary a network must draw winds ``turns`` times around the origin; the more turns, the
    deeper the network the problem calls for. The defaults (2 arms, 1.5 turns, noise 0.05) leave
    the Bayes-optimal classifier right on about 99.6 % of the points (measured by integrating the
    class likelihoods), just above ``success_accuracy``.

    Args:
        classes: number of arms, ≥ 2.
        turns: how many times each arm winds around the origin, > 0.
        noise: standard deviation of the Gaussian jitter of each coordinate, ≥ 0.

    Raises:
        ValueError: for an argument out of range.
        TypeError: for an argument of the wrong type.

    Example:
        >>> batch = Spiral().sample(5, seed=0)
        >>> tuple(batch.inputs.shape), tuple(batch.targets.shape), batch.loss
        ((5, 1, 2), (5, 1), 'cross_entropy')

    References:
        Lang & Witbrock 1988, "Learning to tell two spirals apart", Proceedings of the 1988
        Connectionist Models Summer School.
    """

    classes: int = 2
    turns: float = 1.5
    noise: float = 0.05

    name: ClassVar[str] = "spiral"

    def __post_init__(self) -> None:
        check_int("classes", self.classes, minimum=2, maximum=_MAX_CLASSES)
        check_real("turns", self.turns, minimum=0.0, exclusive_minimum=True)
        check_real("noise", self.noise, minimum=0.0)

    def _draw(self, labels: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        t = torch.rand(labels.shape[0], generator=generator)
        radius = SPIRAL_START_RADIUS + (1.0 - SPIRAL_START_RADIUS) * t
        angle = 2 * math.pi * (self.turns * t + labels.to(t.dtype) / self.classes)
        points = radius[:, None] * torch.stack([angle.cos(), angle.sin()], dim=-1)
        return points + self.noise * torch.randn(points.shape, generator=generator)


@dataclass(frozen=True)
class Blobs(_PlaneTask):
    """Tell apart ``classes`` isotropic Gaussian blobs whose centers sit evenly on the unit circle.

    A point of class k is c_k + ε with c_k = (cos 2πk/classes, sin 2πk/classes) and
    ε ~ N(0, spread² I). Neighboring centers are 2 sin(π/classes) apart (√3 for 3 classes), so with
    the default ``spread`` 0.2 the blobs barely touch; a wider spread makes them overlap and caps
    the accuracy any classifier can reach.

    Args:
        classes: number of blobs, ≥ 2.
        spread: standard deviation of each blob along each axis, ≥ 0.

    Raises:
        ValueError: for an argument out of range.
        TypeError: for an argument of the wrong type.

    Example:
        >>> task = Blobs()
        >>> task.centers()
        tensor([[ 1.0000,  0.0000],
                [-0.5000,  0.8660],
                [-0.5000, -0.8660]])
        >>> round(task.baseline_loss, 4)  # ln 3
        1.0986
    """

    classes: int = 3
    spread: float = 0.2

    name: ClassVar[str] = "blobs"

    def __post_init__(self) -> None:
        check_int("classes", self.classes, minimum=2, maximum=_MAX_CLASSES)
        check_real("spread", self.spread, minimum=0.0)

    def centers(self) -> torch.Tensor:
        """Return the (classes, 2) blob centers, class k at angle 2πk/classes on the unit circle."""
        angle = 2 * math.pi * torch.arange(self.classes, dtype=torch.float64) / self.classes
        centers = torch.stack([angle.cos(), angle.sin()], dim=-1)
        # Round away the float noise of cos(π/2) and the like so the documented centers print exactly.
        return torch.where(centers.abs() < 1e-12, 0.0, centers).to(torch.get_default_dtype())

    def _draw(self, labels: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        points = self.centers()[labels]
        return points + self.spread * torch.randn(points.shape, generator=generator)
