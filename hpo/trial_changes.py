"""How a trial's transitions are written: the columns they change and the decisions they log.

Shared by the calls that make them: a worker's Complete and Fail (:mod:`hpo.trial_service`),
a lease that ran out (:mod:`hpo.lease_service`) and an admin's StopStudy (:mod:`hpo.service`).
Each also records the transition's effect (:mod:`hpo.engine`), which the cached state takes
after the commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hpo import engine
from hpo.decider import Deciding
from hpo.records import TrialRecord
from hpo.study_store import StoreTransaction
from hpo.validation import check_text
from hpo.vocabulary import DecisionKind, TrialState

MAX_ID_LENGTH = 128
MAX_REASON_LENGTH = 10_000
_NEVER = datetime.min.replace(tzinfo=timezone.utc)


def check_id(field_name: str, value: str, required: bool) -> str:
    return check_text(field_name, value, MAX_ID_LENGTH, required=required)


def clean_reason(reason: str, default: str) -> str:
    """A free-text reason as the store can keep it: cut to length, NUL replaced."""
    return reason[:MAX_REASON_LENGTH].replace("\x00", "\ufffd") or default


def state_change(tx: Deciding, change: engine.StateChanged) -> dict[str, object]:
    """The trial's column changes of ``change``. A paused trial keeps its worker and lease
    until the worker releases it."""
    tx.effects.append(change)
    changes: dict[str, object] = {"state": change.state.value}
    if change.final:
        changes.update(finished_at=tx.now, lease_expires_at=None)
    return changes


def release(
    tx: Deciding,
    trial: TrialRecord,
    reason: str,
    worker_id: str | None = None,
    request_id: str = "",
) -> TrialRecord:
    """A paused trial's worker lets go of it: from now on it can be promoted."""
    released = tx.update(trial, worker_id=None, lease_expires_at=None)
    tx.effects.append(engine.Released(trial.number))
    tx.log(
        DecisionKind.RELEASE,
        trial.id,
        rung=trial.rung,
        worker_id=worker_id or None,
        reason=reason,
        request_id=request_id or None,
    )
    return released


def finish(
    tx: Deciding,
    trial: TrialRecord,
    finished: engine.StateChanged,
    reason: str | None,
    worker_id: str | None = None,
    request_id: str = "",
) -> TrialRecord:
    """Trial ``trial`` completes or fails (``finished``), logged with ``reason``."""
    changes = state_change(tx, finished)
    failed = finished.state is TrialState.FAILED
    changes["fail_reason"] = reason if failed else None
    done = tx.update(trial, **changes)
    tx.log(
        DecisionKind.FAIL if failed else DecisionKind.COMPLETE,
        trial.id,
        worker_id=worker_id or None,
        reason=reason,
        request_id=request_id or None,
    )
    return done


class WorkerSightings:
    """When each worker was last seen: Suggest records it at most every ``interval``,
    a heartbeat always (bookkeeping that need not cost a write on every call)."""

    def __init__(self) -> None:
        self._seen: dict[str, datetime] = {}

    def record(
        self, store: StoreTransaction, worker_id: str, now: datetime, interval: timedelta
    ) -> None:
        """Record that ``worker_id`` was seen, unless this process did so within ``interval``."""
        if now - self._seen.get(worker_id, _NEVER) >= interval:
            store.touch_worker(worker_id, now)
            self._seen[worker_id] = now
