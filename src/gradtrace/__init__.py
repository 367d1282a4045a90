"""gradtrace: see, measure and fix vanishing and exploding gradients."""

__version__ = "0.1.0"
