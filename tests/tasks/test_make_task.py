"""Building tasks by name."""

import pytest

from gradtrace.tasks import TASKS, Adding, CopyMemory, TemporalOrder, make_task


def test_make_task_builds_each_registered_task():
    assert make_task("adding", length=30, variant="pascanu2013") == Adding(
        30, variant="pascanu2013"
    )
    assert make_task("copy_memory", delay=5) == CopyMemory(5)
    assert make_task("temporal_order", length=20, bits=3) == TemporalOrder(20, bits=3)
    assert {cls.name for cls in TASKS.values()} == set(TASKS)


def test_unknown_task_lists_the_available_ones():
    with pytest.raises(
        ValueError, match=r"Unknown task 'adder' for `task`\. Available: 'adding', 'copy_memory'"
    ):
        make_task("adder", length=10)


def test_unknown_parameter_lists_the_valid_ones():
    with pytest.raises(
        TypeError,
        match=r"Task 'adding' got invalid parameters \['size'\]; it takes: length, variant\.",
    ):
        make_task("adding", length=10, size=3)


def test_a_valid_parameter_of_the_wrong_type_keeps_its_own_message():
    # Regression: the constructor's TypeError used to be reworded as an unknown parameter.
    with pytest.raises(TypeError, match=r"`length` must be an integer, got '10'"):
        make_task("adding", length="10")
