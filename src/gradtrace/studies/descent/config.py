"""The descent study's config, its course size, and the keys its runs, claims and figures share."""

from __future__ import annotations

from gradtrace.errors import check_choice, check_int, check_real
from gradtrace.studies.base import StudyConfig
from gradtrace.tasks import FIT_FUNCTIONS

__all__ = ["QUICK", "VARIANTS", "DescentConfig", "Key"]

#: The variants compared, by the name of their run, in the order of their batch size (largest first).
VARIANTS = ("batch", "mini_batch", "stochastic")


class Key:
    """Names of the arrays and summary values a descent run stores, defined once for the study, claims and figures."""

    # Arrays.
    EPOCH = "epoch"                          # (E + 1,) 0 … E
    EPOCH_LOSS = "epoch/train_loss"          # (E + 1, K) loss on the whole training set after each epoch
    UPDATE_LOSS = "update/train_loss"        # (U + 1, K) loss on the whole training set after each update
    BATCH_LOSS = "train/loss"                # (U, K) loss of each batch, as the update saw it
    STEP_EPOCH = "step/epoch"                # (U,) epochs completed after each update (fractional)
    HELD_OUT = "task/loss"                   # (K,) loss on fresh points at the end
    DIVERGED_EPOCH = "diverged_epoch"        # (K,) epoch a member diverged in, −1 if it never did
    # Summary values (medians over the members that did not diverge).
    VARIANT = "variant"
    BATCH_SIZE = "batch_size"
    UPDATES_PER_EPOCH = "updates_per_epoch"
    UPDATES = "updates"
    LR = "lr"
    SEEDS = "seeds"
    BASELINE = "baseline_loss"
    FINAL_LOSS = "train_loss"
    FINAL_HELD_OUT = "task/loss"
    # The loss after the same number of updates for every variant: the full batch's whole budget (one per epoch).
    EQUAL_UPDATES = "equal_updates"
    EQUAL_UPDATES_LOSS = "equal_updates_loss"
    # How often an update raised the loss on the whole training set, over every member's updates.
    RISES = "rises"
    RISE_FRACTION = "rise_fraction"
    EPOCH_RISES = "epoch_rises"
    SECONDS_PER_EPOCH = "seconds_per_epoch"
    DIVERGED = "diverged"
    DIVERGENCE = "divergence"


class DescentConfig(StudyConfig):
    """Sizes of the descent study; the defaults are the course's (about 7 CPU seconds on one core).

    One learning rate for every variant, so that the batch size is the only difference: 0.1 is the
    largest of 0.0125 · 2^k at which no variant diverged on seeds 100–104 (the full batch diverged on
    one of five at 0.2). Plain SGD, as in the course notes: momentum or Adam would blur the comparison.
    """

    variants: tuple[str, ...] = VARIANTS
    function: str = "sin"          # sin x on [1, 2π]: smooth, one bend, a loss that falls over decades
    dataset_size: int = 64         # N: the stochastic variant makes N updates per epoch
    mini_batch_size: int = 16      # four updates per epoch, a quarter of the example-gradients of one full-batch update
    epochs: int = 100              # the same for every variant, so every variant computes the same example-gradients
    hidden_sizes: tuple[int, ...] = (32,)
    activation: str = "tanh"
    lr: float = 0.1
    # Held-out points, fresh from the same distribution, scored once at the end.
    eval_batch_size: int = 1024
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.variants) - set(VARIANTS))
        if unknown or not self.variants:
            raise ValueError(f"Unknown or no variants {unknown or list(self.variants)} in `variants` of the descent "
                             f"study. Available: {', '.join(VARIANTS)}.")
        check_choice("function", self.function, FIT_FUNCTIONS, what="function")
        size = check_int("dataset_size", self.dataset_size, minimum=2)
        check_int("mini_batch_size", self.mini_batch_size, minimum=1, maximum=size)
        check_int("epochs", self.epochs, minimum=1)
        check_int("eval_batch_size", self.eval_batch_size, minimum=1)
        if not self.hidden_sizes or any(width < 1 for width in self.hidden_sizes):
            raise ValueError(f"`hidden_sizes` must be one or more positive widths, got {list(self.hidden_sizes)}.")
        check_real("lr", self.lr, minimum=0.0, exclusive_minimum=True)

    def batch_size(self, variant: str) -> int:
        """Return the examples per update of ``variant``: N, the mini-batch size, or 1."""
        return {"batch": self.dataset_size, "mini_batch": self.mini_batch_size, "stochastic": 1}[variant]

    def updates_per_epoch(self, variant: str) -> int:
        """Return how many updates ``variant`` makes per pass over the N examples."""
        return -(-self.dataset_size // self.batch_size(variant))


#: A smoke test of a few seconds: the same three variants on 16 points for 6 epochs.
QUICK = DescentConfig(dataset_size=16, mini_batch_size=4, epochs=6, hidden_sizes=(8,), eval_batch_size=64)
