"""What a request id may be reused for: only a retry of the very same request.

A mutating call carries a request id so that a retry after a lost answer is recognised and
answered as the first call was, without acting twice. A request id therefore names one
request: one method, one target (study or trial), one caller (worker) and one payload. An
id seen before with any of these different is not a retry but a client bug (or someone
else's id), and is refused with INVALID_ARGUMENT naming ``request_id``, writing nothing
(docs/reliability.md, "Retries"). Before this rule, a StopStudy with an id used on another
study answered OK and did nothing, and a Suggest with another worker's id returned that
worker's trial (issue 15, defect 3).

Request ids live in three tables (decisions, reports, prior proposals); an id found in a
table other than the method's own is refused the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Executable, Row

from hpo.errors import InvalidArgumentError
from hpo.storage import queries

REUSED = (
    "was already used for another request; a request id may only be reused to retry the same call"
)


@dataclass(frozen=True)
class DecisionScope:
    """The request a decision-logging method makes: the decision kinds it logs, its target and
    caller, and the payload the decision records. ``None`` fields are not compared."""

    kinds: frozenset[str]
    study_id: int | None = None
    trial_id: int | None = None
    worker_id: str | None = None
    resource: float | None = None
    reason: str | None = None

    def matches(self, row: Row[Any]) -> bool:
        expected = {
            "study_id": self.study_id,
            "trial_id": self.trial_id,
            "worker_id": self.worker_id,
            "resource": self.resource,
            "reason": self.reason,
        }
        return row.kind in self.kinds and all(
            getattr(row, name) == value for name, value in expected.items() if value is not None
        )


def _refuse_other_uses(connection: Connection, request_id: str, own: str) -> None:
    """Refuse ``request_id`` if a request of another kind than ``own`` used it."""
    uses = connection.execute(queries.REQUEST_ID_USES, {"request_id": request_id}).scalars()
    if any(use != own for use in uses):
        raise InvalidArgumentError("request_id", REUSED)


def _earlier_use(
    connection: Connection,
    request_id: str,
    statement: Executable,
    own: str,
    same_request: Callable[[Row[Any]], bool],
) -> Row[Any] | None:
    """The row ``statement`` finds for ``request_id`` in the method's own table (``own``), if
    ``same_request`` says it was this request; None for a new id; INVALID_ARGUMENT for an id
    any other request used, in this table or another."""
    earlier = connection.execute(statement, {"request_id": request_id}).one_or_none()
    if earlier is None:
        _refuse_other_uses(connection, request_id, own)
        return None
    if not same_request(earlier):
        raise InvalidArgumentError("request_id", REUSED)
    return earlier


def earlier_decision(
    connection: Connection, request_id: str, scope: DecisionScope
) -> Row[Any] | None:
    """The decision an earlier call with ``request_id`` logged, if that call was this request;
    None for a new id (or none given); INVALID_ARGUMENT for an id used by any other request."""
    if not request_id:
        return None
    return _earlier_use(
        connection, request_id, queries.DECISION_BY_REQUEST, "decision", scope.matches
    )


def earlier_report(
    connection: Connection,
    request_id: str,
    trial_id: int,
    resource: float,
    value: float,
    worker_id: str,
) -> Row[Any] | None:
    """The report an earlier call with ``request_id`` stored, if it was this very report (same
    trial, worker, resource and value); None for a new id; INVALID_ARGUMENT otherwise."""

    def same_report(earlier: Row[Any]) -> bool:
        return (
            earlier.trial_id == trial_id
            and earlier.worker_id == worker_id
            and earlier.resource == resource
            and earlier.value == value  # both finite: Report refuses NaN and infinities
        )

    return _earlier_use(connection, request_id, queries.REPORT_BY_REQUEST, "report", same_report)


def refuse_if_used_elsewhere(connection: Connection, request_id: str) -> None:
    """For a new prior proposal: refuse an id that a decision or a report used."""
    if request_id:
        _refuse_other_uses(connection, request_id, "proposal")
