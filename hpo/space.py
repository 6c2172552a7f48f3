"""Search spaces: parameter definitions, validation, sampling and unit-cube encoding.

A :class:`Space` is an ordered mapping from parameter names to :class:`Float`,
:class:`Int` or :class:`Categorical` definitions. It is the one place that knows
how a configuration looks, so the coordinator (validation), the samplers
(sampling) and the surrogate model (unit-cube encoding) all agree.

Encoding: each float or int takes one coordinate in [0, 1] (in log space when
``log=True``; an int owns an equal-width cell around each integer so rounding
is unbiased); each categorical takes one coordinate per choice (one-hot), and
decoding picks the largest. Sampling decodes a uniform point of the cube, so
random search and the surrogate see the same geometry.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpo.errors import InvalidArgumentError
from hpo.validation import (
    INT64_MAX,
    INT64_MIN,
    MAX_CHOICE_LENGTH,
    MAX_CHOICES,
    MAX_NAME_LENGTH,
    MAX_PARAMETERS,
    MAX_SPACE_DIMS,
    check_count,
    check_text,
    describe,
    member,
)

ParamValue = float | int | str | bool
Config = dict[str, ParamValue]

# \Z, not $: "$" also matches before a trailing newline.
_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _require_finite(field: str, value: object) -> float:
    if not _is_number(value):
        raise InvalidArgumentError(field, f"must be a number, got {describe(value)}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except OverflowError:  # an int too large for a float
        raise InvalidArgumentError(field, f"must be finite, got {describe(value)}") from None
    if not math.isfinite(number):
        raise InvalidArgumentError(field, f"must be finite, got {number}")
    return number


def _require_int64(field: str, value: object) -> int:
    """An integer the wire can carry (int64): bounds, choices and values of int parameters."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise InvalidArgumentError(field, f"must be an integer, got {describe(value)}")
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidArgumentError(field, f"must fit in 64 bits, got {describe(value)}")
    return int(value)


@dataclass(frozen=True)
class Float:
    """A real parameter in ``[low, high]``, searched on a log scale when ``log``."""

    low: float
    high: float
    log: bool = False

    dims = 1

    def check(self, field: str) -> None:
        low = _require_finite(f"{field}.low", self.low)
        high = _require_finite(f"{field}.high", self.high)
        if not low < high:
            raise InvalidArgumentError(field, f"low ({low}) must be below high ({high})")
        if not math.isfinite(high - low):
            # The unit-cube encoding divides by the width: an infinite one maps every value
            # to 0 and samples NaN.
            raise InvalidArgumentError(field, f"high - low overflows a float ({low}, {high})")
        if self.log and low <= 0:
            raise InvalidArgumentError(f"{field}.low", f"must be > 0 on a log scale, got {low}")

    def validate(self, field: str, value: object) -> float:
        number = _require_finite(field, value)
        if not self.low <= number <= self.high:
            raise InvalidArgumentError(field, f"{number} is outside [{self.low}, {self.high}]")
        return number

    def _bounds(self) -> tuple[float, float]:
        if self.log:
            return math.log(self.low), math.log(self.high)
        return float(self.low), float(self.high)

    def encode(self, value: ParamValue) -> list[float]:
        lo, hi = self._bounds()
        x = math.log(float(value)) if self.log else float(value)
        return [(x - lo) / (hi - lo)]

    def decode(self, unit: Sequence[float]) -> float:
        lo, hi = self._bounds()
        x = lo + min(max(float(unit[0]), 0.0), 1.0) * (hi - lo)
        value = math.exp(x) if self.log else x
        return min(max(value, self.low), self.high)

    def snap(self, units: np.ndarray) -> np.ndarray:
        """``encode(decode(u))`` for a column of unit coordinates at once: clipped to [0, 1]."""
        return np.clip(units, 0.0, 1.0)

    def to_json(self) -> dict[str, Any]:
        return {"type": "float", "low": self.low, "high": self.high, "log": self.log}


@dataclass(frozen=True)
class Int:
    """An integer parameter in ``[low, high]`` (both included), log-scaled when ``log``."""

    low: int
    high: int
    log: bool = False

    dims = 1

    def check(self, field: str) -> None:
        for bound in ("low", "high"):
            _require_int64(f"{field}.{bound}", getattr(self, bound))
        if not self.low < self.high:
            raise InvalidArgumentError(field, f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low < 1:
            raise InvalidArgumentError(
                f"{field}.low", f"must be >= 1 on a log scale, got {self.low}"
            )

    def validate(self, field: str, value: object) -> int:
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            integer = int(value)  # exactly: a float would round integers above 2**53
        else:
            number = _require_finite(field, value)
            if not number.is_integer():
                raise InvalidArgumentError(field, f"must be an integer, got {describe(value)}")
            integer = int(number)
        if not self.low <= integer <= self.high:
            raise InvalidArgumentError(
                field, f"{describe(integer)} is outside [{self.low}, {self.high}]"
            )
        return integer

    def _bounds(self) -> tuple[float, float]:
        # Each integer owns the cell [i - 0.5, i + 0.5], so rounding a uniform
        # point gives every integer its fair share.
        lo, hi = self.low - 0.5, self.high + 0.5
        return (math.log(lo), math.log(hi)) if self.log else (lo, hi)

    def encode(self, value: ParamValue) -> list[float]:
        lo, hi = self._bounds()
        x = math.log(float(value)) if self.log else float(value)
        return [(x - lo) / (hi - lo)]

    def decode(self, unit: Sequence[float]) -> int:
        lo, hi = self._bounds()
        x = lo + min(max(float(unit[0]), 0.0), 1.0) * (hi - lo)
        value = math.exp(x) if self.log else x
        return int(min(max(round(value), self.low), self.high))

    def snap(self, units: np.ndarray) -> np.ndarray:
        """``encode(decode(u))`` for a column of unit coordinates at once: the centre of the
        integer each one decodes to."""
        lo, hi = self._bounds()
        x = lo + np.clip(units, 0.0, 1.0) * (hi - lo)
        values = np.clip(np.round(np.exp(x) if self.log else x), self.low, self.high)
        return ((np.log(values) if self.log else values) - lo) / (hi - lo)

    def to_json(self) -> dict[str, Any]:
        return {"type": "int", "low": self.low, "high": self.high, "log": self.log}


def _choice_key(value: object) -> tuple[str, object]:
    # bool is a subclass of int in Python; True and 1 are different choices.
    return (type(value).__name__, value)


@dataclass(frozen=True)
class Categorical:
    """One of a fixed list of choices (strings, numbers or booleans), one-hot encoded."""

    choices: tuple[ParamValue, ...]

    def __init__(self, choices: Sequence[ParamValue]) -> None:
        object.__setattr__(self, "choices", tuple(choices))

    @property
    def dims(self) -> int:  # type: ignore[override]
        return len(self.choices)

    def check(self, field: str) -> None:
        if not 2 <= len(self.choices) <= MAX_CHOICES:
            raise InvalidArgumentError(
                f"{field}.choices", f"needs 2 to {MAX_CHOICES} choices, got {len(self.choices)}"
            )
        seen: set[tuple[str, object]] = set()
        for index, choice in enumerate(self.choices):
            where = f"{field}.choices[{index}]"
            if isinstance(choice, str):
                check_text(where, choice, MAX_CHOICE_LENGTH)
            elif isinstance(choice, float):
                _require_finite(where, choice)
            elif isinstance(choice, int) and not isinstance(choice, bool):
                _require_int64(where, choice)
            elif not isinstance(choice, bool):
                raise InvalidArgumentError(
                    where, f"must be a string, number or boolean, got {describe(choice)}"
                )
            key = _choice_key(choice)
            if key in seen:
                raise InvalidArgumentError(where, f"duplicate choice {describe(choice)}")
            seen.add(key)

    def validate(self, field: str, value: object) -> ParamValue:
        key = _choice_key(value)
        for choice in self.choices:
            if _choice_key(choice) == key:
                return choice
        raise InvalidArgumentError(
            field, f"{describe(value)} is not one of {describe(list(self.choices))}"
        )

    def encode(self, value: ParamValue) -> list[float]:
        key = _choice_key(value)
        return [1.0 if _choice_key(choice) == key else 0.0 for choice in self.choices]

    def decode(self, unit: Sequence[float]) -> ParamValue:
        return self.choices[int(np.argmax(np.asarray(unit, dtype=float)))]

    def snap(self, units: np.ndarray) -> np.ndarray:
        """``encode(decode(u))`` for rows of one-hot coordinates at once: the largest wins."""
        return np.eye(len(self.choices))[np.argmax(units, axis=1)]

    def to_json(self) -> dict[str, Any]:
        return {"type": "categorical", "choices": list(self.choices)}


Parameter = Float | Int | Categorical


def parameter_from_json(field: str, data: object) -> Parameter:
    """Build one parameter from its JSON form, naming ``field`` in any error."""
    if not isinstance(data, Mapping):
        raise InvalidArgumentError(field, f"must be an object, got {describe(data)}")
    kind = data.get("type")
    extra = set(data) - {"type", "low", "high", "log", "choices"}
    if extra:
        raise InvalidArgumentError(field, f"unknown keys {sorted(extra)}")
    if kind in ("float", "int"):
        if "low" not in data or "high" not in data:
            raise InvalidArgumentError(field, f"a {kind} parameter needs low and high")
        log = data.get("log", False)
        if not isinstance(log, bool):
            raise InvalidArgumentError(
                f"{field}.log", f"must be true or false, got {describe(log)}"
            )
        cls = Float if kind == "float" else Int
        return cls(data["low"], data["high"], log)
    if kind == "categorical":
        choices = data.get("choices")
        if not isinstance(choices, list):
            raise InvalidArgumentError(f"{field}.choices", "must be a list")
        return Categorical(choices)
    raise InvalidArgumentError(
        f"{field}.type", f"must be float, int or categorical, got {describe(kind)}"
    )


class Space(Mapping[str, Parameter]):
    """An ordered, validated set of named parameters."""

    def __init__(self, parameters: Mapping[str, Parameter]) -> None:
        if not parameters:
            raise InvalidArgumentError("space", "needs at least one parameter")
        check_count("space", parameters, MAX_PARAMETERS)
        for name, parameter in parameters.items():
            check_parameter_name(name)
            if not isinstance(parameter, (Float, Int, Categorical)):
                raise InvalidArgumentError(
                    f"space.{name}", f"is not a parameter: {describe(parameter)}"
                )
            parameter.check(f"space.{name}")
        self._parameters = dict(parameters)
        self.dims = sum(parameter.dims for parameter in self._parameters.values())
        if self.dims > MAX_SPACE_DIMS:
            raise InvalidArgumentError(
                "space",
                f"encodes to {self.dims} coordinates (one per float or int, one per categorical "
                f"choice); the limit is {MAX_SPACE_DIMS}",
            )

    def __getitem__(self, name: str) -> Parameter:
        return self._parameters[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._parameters)

    def __len__(self) -> int:
        return len(self._parameters)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and list(self._parameters.items()) == list(
            other._parameters.items()
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Space({self._parameters!r})"

    def validate(self, config: Mapping[str, object], field: str = "config") -> Config:
        """Return ``config`` with canonical types, or raise naming the offending parameter."""
        unknown = [name for name in config if name not in self._parameters]
        if unknown:
            raise InvalidArgumentError(member(field, unknown[0]), "is not a parameter of the space")
        missing = [name for name in self._parameters if name not in config]
        if missing:
            raise InvalidArgumentError(f"{field}.{missing[0]}", "is missing")
        return {
            name: parameter.validate(f"{field}.{name}", config[name])
            for name, parameter in self._parameters.items()
        }

    def sample(self, rng: np.random.Generator) -> Config:
        """Draw a configuration uniformly (log-uniformly for log parameters)."""
        return self.from_unit(rng.random(self.dims))

    def to_unit(self, config: Mapping[str, ParamValue]) -> np.ndarray:
        """Encode a valid configuration as a point of the unit cube of ``self.dims`` coordinates."""
        return np.array(
            [
                u
                for name, parameter in self._parameters.items()
                for u in parameter.encode(config[name])
            ],
            dtype=float,
        )

    def from_unit(self, unit: Sequence[float] | np.ndarray) -> Config:
        """Decode a point of the unit cube (clipped) into the nearest valid configuration."""
        point = np.asarray(unit, dtype=float)
        if point.shape != (self.dims,):
            raise ValueError(
                f"expected a point of {self.dims} coordinates, got shape {point.shape}"
            )
        config: Config = {}
        offset = 0
        for name, parameter in self._parameters.items():
            config[name] = parameter.decode(point[offset : offset + parameter.dims])
            offset += parameter.dims
        return config

    def snap_units(self, units: np.ndarray) -> np.ndarray:
        """Each row (a point of the unit cube) moved to the encoding of the configuration it
        decodes to, ``to_unit(from_unit(row))``, vectorised: the GP scores thousands of points
        a fit, and decoding them one by one cost a quarter of it."""
        points = np.asarray(units, dtype=float)
        snapped = np.empty_like(points)
        offset = 0
        for parameter in self._parameters.values():
            columns = slice(offset, offset + parameter.dims)
            block = points[:, columns]
            snapped[:, columns] = (
                parameter.snap(block)
                if parameter.dims > 1
                else parameter.snap(block[:, 0])[:, None]
            )
            offset += parameter.dims
        return snapped

    def to_json(self) -> dict[str, dict[str, Any]]:
        return {name: parameter.to_json() for name, parameter in self._parameters.items()}

    @classmethod
    def from_json(cls, data: object) -> Space:
        if not isinstance(data, Mapping):
            raise InvalidArgumentError(
                "space", f"must be an object of parameters, got {describe(data)}"
            )
        check_count("space", data, MAX_PARAMETERS)
        return cls(
            {
                str(name): parameter_from_json(member("space", name), spec)
                for name, spec in data.items()
            }
        )


def check_parameter_name(name: object) -> None:
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(
            "space", f"parameter names must be non-empty strings, got {describe(name)}"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgumentError(member("space", name), f"name is longer than {MAX_NAME_LENGTH}")
    if not _NAME_PATTERN.match(name):
        raise InvalidArgumentError(
            f"space.{name}",
            "names start with a letter or _ and use letters, digits, _, . and -",
        )
