"""One training loop for every model and task, with the gradient trace recorded as it trains.

:func:`fit` (``loop.py``) reads top to bottom; its pieces are small modules, one concept each:
``settings`` (the arguments, checked once), ``sampling`` (the members' batches), ``paths`` (what
differs between a recurrent model and an MLP), ``windows`` (the truncation windows of one batch),
``updater`` (one update: backward → non-finite policy → remedies → optimizer step), ``members``
(which members train), ``history`` (what was measured, and the :class:`Run`), ``memory`` (running
out of it).
"""

from gradtrace.train.loop import fit
from gradtrace.train.run import Run
from gradtrace.train.settings import MAX_LR, NONFINITE_POLICIES, OPTIMIZERS

__all__ = ["MAX_LR", "NONFINITE_POLICIES", "OPTIMIZERS", "Run", "fit"]
