"""Checkers for the warm-up exercise of notebook 00."""

from __future__ import annotations

from . import checker, fail, ok

__all__ = ["check_dense_parameter_count"]


@checker("parameters of a dense layer")
def check_dense_parameter_count(my_dense_parameter_count) -> tuple[bool, str]:
    for fan_in, fan_out in ((784, 512), (512, 10), (3, 1)):
        got = my_dense_parameter_count(fan_in, fan_out)
        expected = fan_in * fan_out + fan_out
        if got == fan_in * fan_out:
            return fail(f"for ({fan_in}, {fan_out}) you gave {got}: the weights are right, but each unit also has a bias.")
        if got == fan_in * fan_out + fan_in:
            return fail(f"for ({fan_in}, {fan_out}) you gave {got}: there is one bias per *unit* (fan_out), not per input.")
        if got != expected:
            return fail(f"for ({fan_in}, {fan_out}) you gave {got}; expected {expected} = {fan_in}*{fan_out} + {fan_out}.")
    return ok("784*512 + 512 = 401,920 for the classic MNIST hidden layer.")
