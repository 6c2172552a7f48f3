"""The limits every request is held to, and the small checks that enforce them.

A coordinator takes requests from the network, so every field is hostile until
checked: a string may be megabytes long or hold NUL characters (which
PostgreSQL cannot store), a number may be NaN or overflow a float, a list may
be long enough to tie up the coordinator's two cores. The limits live here, in
one place, so that the space, the spec, the prior entries and the wire decoder
agree, and so that docs/limits.md has one source. Each check raises
:class:`~hpo.errors.InvalidArgumentError` naming the field, before anything is
written.

Error messages never echo a hostile value whole (:func:`describe`,
:func:`member`): a status message travels in gRPC trailers, and a client
refuses trailers over a few kilobytes, which would turn a clear
INVALID_ARGUMENT into RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Sized
from typing import Any

from hpo.errors import InvalidArgumentError

# ---------------------------------------------------------------- text

# Study, parameter, metric, resource and environment-variable names: labels, not prose.
MAX_NAME_LENGTH = 128
# The study description, which the LLM warm start sends as the task's description.
MAX_DESCRIPTION_LENGTH = 20_000
# A categorical string choice: it is stored in every trial's configuration.
MAX_CHOICE_LENGTH = 256
# An LLM prior's base_url and model.
MAX_URL_LENGTH = 512
# How much of a rejected value an error message repeats.
MAX_ECHO_LENGTH = 64

# ---------------------------------------------------------------- counts

MAX_PARAMETERS = 256
MAX_CHOICES = 1024
# Coordinates of the unit-cube encoding (one per float or int, one per categorical choice):
# the width of every point the GP surrogate fits and optimises.
MAX_SPACE_DIMS = 4096
MAX_RUNGS = 32
# Scale variables of a study (n_params, n_tokens, ...): a law has one exponent per variable.
MAX_SCALE_VARIABLES = 8
MAX_PRIORS = 16
MAX_PRIOR_CONFIGS = 100
MAX_TRANSFER_STUDIES = 16
MAX_ENQUEUED = 1000
# Entries of ListTrials' state filter (there are six states; repeats are dropped).
MAX_STATE_FILTERS = 64

# ---------------------------------------------------------------- numbers

# Integers travel as int64 on the wire (int bounds, integer choices and values).
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_SEED = 2**64 - 1
MAX_TRIALS_LIMIT = 10**9
MAX_WEIGHT = 1e6
MAX_LLM_CONFIGS = 32
MIN_LLM_TIMEOUT_SECONDS = 1.0
MAX_LLM_TIMEOUT_SECONDS = 600.0
MAX_LLM_RETRIES = 10
MAX_LLM_TEMPERATURE = 2.0
MAX_LLM_SEED = 2**31 - 1
MAX_TOP_K = 100

# \Z, not $: "$" also matches before a trailing newline.
_STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*\Z")


def describe(value: object) -> str:
    """``repr(value)``, cut to :data:`MAX_ECHO_LENGTH` characters for an error message."""
    text = repr(value)
    if len(text) <= MAX_ECHO_LENGTH:
        return text
    return f"{text[: MAX_ECHO_LENGTH - 3]}... ({len(text)} characters)"


def member(field: str, key: object) -> str:
    """The path of ``key`` under ``field`` (``config.lr``; just the key for an empty
    ``field``), with a hostile key cut short."""
    name = str(key)
    if len(name) > MAX_NAME_LENGTH:
        name = f"{name[:32]}..."
    return f"{field}.{name}" if field else name


def is_finite_number(value: object) -> bool:
    """An int or float (not a bool) that is neither NaN nor infinite, nor beyond a float."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int with more than about 308 digits
        return False


def check_text(field: str, value: object, max_length: int, *, required: bool = False) -> str:
    """``value`` if it is a string of at most ``max_length`` characters that a store can keep:
    no NUL (PostgreSQL text and JSONB refuse it) and no lone surrogate (not UTF-8)."""
    if not isinstance(value, str):
        raise InvalidArgumentError(field, f"must be a string, got {describe(value)}")
    if required and not value:
        raise InvalidArgumentError(field, "is required")
    if len(value) > max_length:
        raise InvalidArgumentError(
            field, f"is {len(value)} characters long; the limit is {max_length}"
        )
    if "\x00" in value:
        raise InvalidArgumentError(field, "must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgumentError(field, "is not valid Unicode (a lone surrogate)") from None
    return value


def check_name(
    name: object, field: str, *, kind: str, pattern: re.Pattern[str], characters: str
) -> str:
    """The name of a ``kind`` of thing (a study, a token): 1 to MAX_NAME_LENGTH characters
    that ``pattern`` accepts; a refusal lists the allowed ``characters``. Names show up in
    logs, URLs and tables, so they stay plain."""
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(field, f"a {kind} needs a name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgumentError(field, f"is longer than {MAX_NAME_LENGTH} characters")
    if not pattern.match(name):
        raise InvalidArgumentError(
            field, f"{name!r}: use {characters}, starting with a letter or digit"
        )
    return name


def check_study_name(name: object, field: str = "name") -> str:
    """A study's name; ``field`` names the request field that holds it."""
    return check_name(
        name, field, kind="study", pattern=_STUDY_NAME, characters="letters, digits, _, . and -"
    )


def check_count(field: str, entries: Sized, limit: int) -> None:
    """Refuse a list longer than ``limit`` (before looking at its entries)."""
    if len(entries) > limit:
        raise InvalidArgumentError(field, f"has {len(entries)} entries; the limit is {limit}")


def bounded_int(field: str, value: object, low: int, high: int) -> int:
    """``value`` if it is an integer (not a bool) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidArgumentError(
            field, f"must be an integer in [{low}, {high}], got {describe(value)}"
        )
    return value


def bounded_float(field: str, value: object, low: float, high: float) -> float:
    """``value`` as a float if it is a finite number in ``[low, high]``."""
    if not is_finite_number(value) or not low <= value <= high:  # type: ignore[operator]
        raise InvalidArgumentError(
            field, f"must be a number in [{low:g}, {high:g}], got {describe(value)}"
        )
    return float(value)  # type: ignore[arg-type]


def enum_member(cls: type[enum.Enum], field_name: str, value: object) -> Any:
    """The member of ``cls`` whose value is ``value``, or INVALID_ARGUMENT listing the choices."""
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(member.value for member in cls)
        raise InvalidArgumentError(
            field_name, f"must be one of {allowed}; got {describe(value)}"
        ) from None
