"""Small checks shared by the spec and its prior entries, with errors that name the field."""

from __future__ import annotations

import enum
import math
from typing import Any

from hpo.errors import InvalidArgumentError


def is_finite_number(value: object) -> bool:
    """An int or float (not a bool) that is neither NaN nor infinite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def enum_member(cls: type[enum.Enum], field_name: str, value: object) -> Any:
    """The member of ``cls`` whose value is ``value``, or INVALID_ARGUMENT listing the choices."""
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(member.value for member in cls)
        raise InvalidArgumentError(field_name, f"must be one of {allowed}; got {value!r}") from None
