"""Helpers shared by the study tests."""

import pytest


class InterruptAt:
    """A progress reporter that presses Ctrl-C at ``step`` of the ``run``-th run it sees (1 is the first)."""

    def __init__(self, step, run=1):
        self.run, self.step, self.started = run, step, 0

    def study_started(self, study, total_runs, skipped):
        pass

    def run_started(self, name, steps):
        self.started += 1

    def run_step(self, step, metrics):
        if self.started == self.run and step == self.step:
            raise KeyboardInterrupt

    def run_finished(self, name, seconds):
        pass


@pytest.fixture
def interrupt_at():
    """The :class:`InterruptAt` reporter class, for tests that stop a study half-way."""
    return InterruptAt
