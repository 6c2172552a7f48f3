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
from typing import TypeVar

from hpo.errors import InvalidArgumentError
from hpo.study_store import DecisionUse, ReportUse, StoreTransaction

Use = TypeVar("Use", DecisionUse, ReportUse)

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

    def matches(self, row: DecisionUse) -> bool:
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


def _refuse_other_uses(store: StoreTransaction, request_id: str, own: str) -> None:
    """Refuse ``request_id`` if a request of another kind than ``own`` used it."""
    if any(use != own for use in store.request_id_uses(request_id)):
        raise InvalidArgumentError("request_id", REUSED)


def _earlier_use(
    store: StoreTransaction,
    request_id: str,
    find: Callable[[str], Use | None],
    own: str,
    same_request: Callable[[Use], bool],
) -> Use | None:
    """What ``find`` finds for ``request_id`` in the method's own table (``own``), if
    ``same_request`` says it was this request; None for a new id; INVALID_ARGUMENT for an id
    any other request used, in this table or another.

    The tables that know the id are asked first, in one statement: a new id, by far the most
    common case, costs that statement alone (issue 16's hot path)."""
    uses = store.request_id_uses(request_id)
    if not uses:
        return None
    earlier = find(request_id) if own in uses else None
    if earlier is None or not same_request(earlier):
        raise InvalidArgumentError("request_id", REUSED)
    return earlier


def earlier_decision(
    store: StoreTransaction, request_id: str, scope: DecisionScope
) -> DecisionUse | None:
    """The decision an earlier call with ``request_id`` logged, if that call was this request;
    None for a new id (or none given); INVALID_ARGUMENT for an id used by any other request."""
    if not request_id:
        return None
    return _earlier_use(store, request_id, store.decision_by_request, "decision", scope.matches)


def earlier_report(
    store: StoreTransaction,
    request_id: str,
    trial_id: int,
    resource: float,
    value: float,
    worker_id: str,
) -> ReportUse | None:
    """The report an earlier call with ``request_id`` stored, if it was this very report (same
    trial, worker, resource and value); None for a new id; INVALID_ARGUMENT otherwise."""

    def same_report(earlier: ReportUse) -> bool:
        return (
            earlier.trial_id == trial_id
            and earlier.worker_id == worker_id
            and earlier.resource == resource
            and earlier.value == value  # both finite: Report refuses NaN and infinities
        )

    return _earlier_use(store, request_id, store.report_by_request, "report", same_report)


def refuse_if_used_elsewhere(store: StoreTransaction, request_id: str) -> None:
    """For a new prior proposal: refuse an id that a decision or a report used."""
    if request_id:
        _refuse_other_uses(store, request_id, "proposal")
