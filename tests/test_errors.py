"""The error helpers: what they accept, return and how they word a refusal."""

import numpy as np
import pytest
import torch

from gradtrace.errors import (
    GradtraceError,
    NonFiniteError,
    RunInterrupted,
    StoreError,
    check_choice,
    check_int,
    check_real,
    check_shape,
    describe,
)


def test_domain_errors_share_a_base_and_carry_their_context():
    error = NonFiniteError("loss is nan", step=12, members=[0, 2])
    assert isinstance(error, GradtraceError) and (error.step, error.members) == (12, [0, 2])
    assert RunInterrupted("stopped", partial={"done": 3}).partial == {"done": 3}
    assert issubclass(StoreError, GradtraceError)
    assert not issubclass(GradtraceError, (ValueError, TypeError))


def test_check_int_accepts_integers_and_integer_like_values():
    assert check_int("n", 3, minimum=1, maximum=3) == 3
    value = check_int("n", np.int64(5))
    assert value == 5 and type(value) is int


@pytest.mark.parametrize(
    ("value", "options", "error", "match"),
    [
        (True, {}, TypeError, r"`n` must be an integer, got True"),
        (2.0, {}, TypeError, r"`n` must be an integer, got 2\.0"),
        ("2", {}, TypeError, r"`n` must be an integer, got '2'"),
        (0, {"minimum": 1}, ValueError, r"`n` must be at least 1, got 0"),
        (9, {"maximum": 8}, ValueError, r"`n` must be at most 8, got 9"),
    ],
)
def test_check_int_refusals(value, options, error, match):
    with pytest.raises(error, match=match):
        check_int("n", value, **options)


def test_check_real_returns_a_float():
    value = check_real("lr", 1, minimum=0.0, exclusive_minimum=True)
    assert value == 1.0 and type(value) is float


@pytest.mark.parametrize(
    ("value", "options", "error", "match"),
    [
        (float("nan"), {}, ValueError, r"`x` must be finite, got nan"),
        (float("-inf"), {}, ValueError, r"`x` must be finite, got -inf"),
        (False, {}, TypeError, r"`x` must be a real number, got False"),
        (torch.tensor(1.0), {}, TypeError, r"`x` must be a real number, got Tensor of shape \(\)"),
        (
            0.0,
            {"minimum": 0.0, "exclusive_minimum": True},
            ValueError,
            r"`x` must be greater than 0\.0, got 0\.0",
        ),
        (-0.5, {"minimum": 0.0}, ValueError, r"`x` must be at least 0\.0, got -0\.5"),
        (2.0, {"maximum": 1.0}, ValueError, r"`x` must be at most 1\.0, got 2\.0"),
    ],
)
def test_check_real_refusals(value, options, error, match):
    with pytest.raises(error, match=match):
        check_real("x", value, **options)


def test_check_choice_names_the_argument_and_lists_the_choices():
    assert check_choice("mode", "b", ("a", "b")) == "b"
    with pytest.raises(ValueError, match=r"^Unknown mode 'c' for `mode`\. Available: 'a', 'b'\.$"):
        check_choice("mode", "c", ("a", "b"))
    with pytest.raises(ValueError, match=r"^Unknown task kind 'c' for `mode`"):
        check_choice("mode", "c", {"a": 1}, what="task kind")


def test_check_shape_raises_only_when_not_ok():
    check_shape("x", torch.zeros(2), "(B,)", True)
    with pytest.raises(
        ValueError,
        match=r"`x` must have shape \(B, T\), "
        r"got Tensor of shape \(2,\) and dtype torch\.float32\.",
    ):
        check_shape("x", torch.zeros(2), "(B, T)", False)


def test_describe_shows_tensor_shapes_and_truncates_long_reprs():
    assert (
        describe(torch.zeros(2, 3, dtype=torch.long))
        == "Tensor of shape (2, 3) and dtype torch.int64"
    )
    long = describe(list(range(100)))
    assert len(long) == 80 and long.endswith("...")
    assert describe("tanh") == "'tanh'"
