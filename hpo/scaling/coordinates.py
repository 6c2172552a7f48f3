"""The coordinate a numeric parameter's scaling law is fitted in: log(h) or h.

Learning rates, batch sizes and weight decays scale multiplicatively, so their optima are
compared and fitted on a log scale; a parameter the user put on a log scale, or any positive
one whose range spans more than a decade, is treated that way. Others (a dropout rate in
[0, 0.5], a signed offset) are fitted as they are. The optimum estimation
(:mod:`hpo.scaling.optima`) works in the same coordinate, so an estimate's uncertainty is in
the units the law is fitted in.
"""

from __future__ import annotations

import math

from hpo.space import Float, Int, ParamValue

# A positive range wider than this factor is fitted on a log scale even when not declared so.
DECADE = 10.0


def uses_log(parameter: Float | Int) -> bool:
    """Whether ``parameter``'s law is on log(h)."""
    return parameter.log or (parameter.low > 0 and parameter.high > DECADE * parameter.low)


def to_coordinate(parameter: Float | Int, value: float) -> float:
    return math.log(value) if uses_log(parameter) else float(value)


def from_coordinate(parameter: Float | Int, coordinate: float) -> float:
    return math.exp(coordinate) if uses_log(parameter) else float(coordinate)


def bounds(parameter: Float | Int) -> tuple[float, float]:
    """The space's bounds in the law's coordinate."""
    return to_coordinate(parameter, parameter.low), to_coordinate(parameter, parameter.high)


def clip(parameter: Float | Int, value: float) -> ParamValue:
    """``value`` moved into the space's bounds, rounded for an int parameter."""
    clipped = min(max(value, parameter.low), parameter.high)
    return int(round(clipped)) if isinstance(parameter, Int) else float(clipped)
