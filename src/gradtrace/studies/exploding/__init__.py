"""The exploding study: its config (``config``), runs (``study``), claims (``claims``) and figures (``figures``)."""

from gradtrace.studies.exploding.config import CURES, QUICK, ExplodingConfig
from gradtrace.studies.exploding.study import Exploding, make_remedies, make_tasks

__all__ = ["CURES", "QUICK", "Exploding", "ExplodingConfig", "make_remedies", "make_tasks"]
