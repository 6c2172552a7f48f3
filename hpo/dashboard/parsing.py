"""Query-string parameters of the API, checked: a bad one is a 400 that names it.

Every route declares the parameters it takes; an unknown parameter, one given twice, or
a value out of range is an :class:`~hpo.errors.InvalidArgumentError` naming the
parameter, which the app answers with ``400 {"error": ..., "field": name}``. Strictness
is on purpose: a script that misspells ``limit`` should hear about it, not get 100 rows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from starlette.datastructures import QueryParams

from hpo.errors import InvalidArgumentError
from hpo.space import INT64_MAX
from hpo.validation import check_text, describe

MAX_TEXT_LENGTH = 200


class Parameters:
    """A request's query parameters, each read at most once, with its checks."""

    def __init__(self, query: QueryParams, accepted: Iterable[str]) -> None:
        accepted = set(accepted)
        for name in query:
            if name not in accepted:
                expected = ", ".join(sorted(accepted)) or "none"
                raise InvalidArgumentError(
                    name[:64], f"is not a parameter of this route (it takes: {expected})"
                )
            if len(query.getlist(name)) > 1:
                raise InvalidArgumentError(name, "is given more than once")
        self._query = query

    def integer(self, name: str, default: int, low: int, high: int = INT64_MAX) -> int:
        """An integer in ``[low, high]``; ``high`` defaults to the largest a database takes
        (an offset past int64 overflowed the query: an HTTP 500, issue 15)."""
        raw = self._query.get(name)
        if raw is None:
            return default
        try:
            value = int(raw.strip())
        except ValueError:
            raise InvalidArgumentError(name, f"must be an integer, got {describe(raw)}") from None
        if not low <= value <= high:
            raise InvalidArgumentError(name, f"must be in [{low}, {high}], got {value}")
        return value

    def choice(self, name: str, default: str, allowed: Collection[str]) -> str:
        raw = self._query.get(name)
        if raw is None:
            return default
        if raw not in allowed:
            raise InvalidArgumentError(
                name, f"must be one of {', '.join(allowed)}, got {describe(raw)}"
            )
        return raw

    def choices(self, name: str, allowed: Collection[str]) -> frozenset[str]:
        """A comma-separated subset of ``allowed`` (empty: no filter)."""
        raw = self._query.get(name)
        if raw is None or not raw.strip():
            return frozenset()
        values = frozenset(value.strip() for value in raw.split(",") if value.strip())
        unknown = sorted(values - set(allowed))
        if unknown:
            raise InvalidArgumentError(
                name,
                f"{describe(unknown[0])} is not one of {', '.join(sorted(allowed))}",
            )
        return values

    def text(self, name: str) -> str:
        """Free text a database can compare: no NUL (PostgreSQL refuses it), valid Unicode."""
        return check_text(name, self._query.get(name, ""), MAX_TEXT_LENGTH).strip()
