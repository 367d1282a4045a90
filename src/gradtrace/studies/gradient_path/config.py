"""The gradient-path study's sizes, and the names its runs, claims and figures share."""

from __future__ import annotations

from gradtrace.errors import check_int, check_real
from gradtrace.studies.base import StudyConfig

__all__ = [
    "CARRIED",
    "EQUATIONS_VS_AUTOGRAD",
    "FINITE_DIFFERENCES_VS_AUTOGRAD",
    "LOSS",
    "MANY_TO_MANY",
    "MANY_TO_ONE",
    "OWN_ERROR",
    "PROBES_VS_AUTOGRAD",
    "PROFILE",
    "QUICK",
    "READOUTS",
    "SUM_VS_AUTOGRAD",
    "TRACE_VS_AUTOGRAD",
    "W_REC_TERMS",
    "GradientPathConfig",
]


class GradientPathConfig(StudyConfig):
    """Sizes of the gradient-path study; the defaults are the course's section 1.

    Everything is measured in float64 on the network as initialized: the point is where the error goes, and
    that the one backward pass computes it exactly, not what the network learns.
    """

    # Long enough that the error entering at the last step is a billionth of itself 40 steps back; short
    # enough that the reference, one autograd call per step (O(T²)), costs a fraction of a second.
    length: int = 40
    hidden_size: int = 16
    batch_size: int = 16
    # Central differences in float64: truncation error ~step², rounding ~1e-16/step; 1e-6 balances them.
    finite_difference_step: float = 1e-6

    def __post_init__(self) -> None:
        check_int("length", self.length, minimum=2)
        check_int("hidden_size", self.hidden_size, minimum=1)
        check_int("batch_size", self.batch_size, minimum=1)
        check_real("finite_difference_step", self.finite_difference_step, minimum=0.0, exclusive_minimum=True)


QUICK = GradientPathConfig(length=8, hidden_size=4, batch_size=4)

#: The two runs: the loss at the last step only, or at every step; each name maps to the model's readout.
MANY_TO_ONE, MANY_TO_MANY = "many-to-one", "many-to-many"
READOUTS = {MANY_TO_ONE: "last", MANY_TO_MANY: "all"}

# Per-member profiles along the sequence, (K, T).
PROFILE = "trace/grad_norms"       # ‖∂L/∂h_t‖ from gradtrace's trace, the norm over sequences and units
OWN_ERROR = "own_error"            # ‖W_outᵀ ∂L/∂ŷ_t‖: what step t's own error puts on h_t
CARRIED = "carried"                # ‖W_recᵀ(tanh′_{t+1} ⊙ δ_{t+1})‖: what comes back from step t + 1
W_REC_TERMS = "w_rec_terms"        # ‖(tanh′_t ⊙ δ_t) h_{t−1}ᵀ‖: step t's term of ∂L/∂W_rec

# Per-member largest relative differences, (K,), and the loss.
PROBES_VS_AUTOGRAD = "diff/probes_vs_autograd"
EQUATIONS_VS_AUTOGRAD = "diff/equations_vs_autograd"
TRACE_VS_AUTOGRAD = "diff/trace_vs_autograd"
SUM_VS_AUTOGRAD = "diff/sum_vs_autograd"
FINITE_DIFFERENCES_VS_AUTOGRAD = "diff/finite_differences_vs_autograd"
LOSS = "loss"
