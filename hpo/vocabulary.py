"""The words every layer shares: the states of studies and trials, where a trial's
configuration came from, what a report decides, and the kinds of logged decisions.

They are stored (``studies.state``, ``trials.state``, ``trials.source``,
``decisions.kind``), sent over the wire, shown on the dashboard and compared by the
schedulers, so each is defined once, here, with no dependency: the light client and the
worker import it without numpy, SQLAlchemy or the schedulers (docs/architecture.md).
"""

from __future__ import annotations

import enum


class StudyStatus(str, enum.Enum):
    """A study's state (``studies.state``)."""

    RUNNING = "running"
    # Its trial budget is spent and no trial is held or promotable.
    FINISHED = "finished"
    # Stopped for good by an admin.
    STOPPED = "stopped"


# Studies that take no more trials: their results are final (transfer priors learn from them).
DONE_STUDY_STATES = frozenset({StudyStatus.FINISHED, StudyStatus.STOPPED})


class TrialState(str, enum.Enum):
    """A trial's state (``trials.state``)."""

    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    STOPPED = "stopped"
    FAILED = "failed"
    # Its worker's lease expired before it finished: the next free worker resumes it.
    PENDING = "pending"


FINAL_STATES = frozenset({TrialState.COMPLETED, TrialState.STOPPED, TrialState.FAILED})


class Action(str, enum.Enum):
    """What a report decides for its trial."""

    CONTINUE = "continue"
    PAUSE = "pause"
    STOP = "stop"
    COMPLETE = "complete"


# The trial's state after a report's action ends its current run (CONTINUE keeps it running).
STATE_AFTER = {
    Action.PAUSE: TrialState.PAUSED,
    Action.STOP: TrialState.STOPPED,
    Action.COMPLETE: TrialState.COMPLETED,
}


class Source:
    """Where a trial's configuration came from (``trials.source``)."""

    RANDOM = "random"
    MODEL = "model"
    # Drawn from the spec's own points and configuration lists.
    PRIOR = "prior"
    LLM = "llm"
    TRANSFER = "transfer"
    # Proposed by a family's scaling laws at the study's scale (docs/scaling.md).
    SCALING = "scaling"
    # Enqueued by a user.
    USER = "user"
    # Drawn near the incumbent (PriorBand's mixture).
    INCUMBENT = "incumbent"

    ALL = (RANDOM, MODEL, PRIOR, LLM, TRANSFER, SCALING, USER, INCUMBENT)


class DecisionKind:
    """The kinds of rows in the decision log (``decisions.kind``). A report's decision is
    logged as its :class:`Action`'s value."""

    CREATE = "create"
    # A trial handed to a worker: a new one, a promoted one, a resumed one.
    NEW = "new"
    PROMOTE = "promote"
    RESUME = "resume"
    RELEASE = "release"
    REQUEUE = "requeue"
    COMPLETE = "complete"
    FAIL = "fail"
    FINISH = "finish"
    REOPEN = "reopen"
    EXTEND = "extend"
    STOP_STUDY = "stop-study"
    ENQUEUE = "enqueue"
    WARM_START = "warm-start"

    ASSIGNMENTS = frozenset({NEW, PROMOTE, RESUME})
