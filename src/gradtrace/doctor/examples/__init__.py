"""Subjects for the doctor; the code is in :mod:`gradtrace.doctor.examples.language` until it is split."""

from gradtrace.doctor.examples.language import *  # noqa: F403
from gradtrace.doctor.examples.language import __all__  # noqa: F401
