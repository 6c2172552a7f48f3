"""The API that training code calls inside a trial: ``hpo.current_trial()`` and ``hpo.report()``.

The same training code runs in both worker modes:

* **command mode** (``hpo worker -- CMD``): the worker starts CMD with the
  trial in its environment (``HPO_CONFIG``, ``HPO_RESOURCE``... see
  docs/worker.md) and two inherited pipes. ``report`` writes one JSON line to
  the report pipe and reads the coordinator's decision from the decision
  pipe, so the trial process never talks to the network itself and the
  worker stays the one place that holds the lease and retries.
* **function mode** (``Worker.run_function``): the trial runs in the worker's
  process and ``report`` calls the client directly.

Programs that cannot import hpo report with a line on stdout instead:
``@hpo report resource=<number> value=<number>`` (the worker then enforces a
stop decision by terminating the process).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from hpo.client import Decision, DecisionAction, decision_action
from hpo.space import Config
from hpo.vocabulary import TrialState

ENV_STUDY = "HPO_STUDY"
ENV_TRIAL_ID = "HPO_TRIAL_ID"
ENV_TRIAL_NUMBER = "HPO_TRIAL_NUMBER"
ENV_CONFIG = "HPO_CONFIG"
ENV_CONFIG_FILE = "HPO_CONFIG_FILE"
ENV_RESOURCE = "HPO_RESOURCE"
ENV_RESUME_FROM = "HPO_RESUME_FROM"
ENV_R_MAX = "HPO_R_MAX"
ENV_TRIAL_DIR = "HPO_TRIAL_DIR"
ENV_REPORT_FD = "HPO_REPORT_FD"
ENV_DECISION_FD = "HPO_DECISION_FD"

_STDOUT_REPORT = re.compile(
    r"^@hpo\s+report\s+resource=(?P<resource>\S+)\s+value=(?P<value>\S+)\s*$"
)


@dataclass(frozen=True)
class TrialContext:
    """What training code needs to know about the trial it runs."""

    study: str
    trial_id: int
    number: int
    config: Config
    # Train from resume_from (0 for a new trial) up to resource.
    resource: float
    resume_from: float
    r_max: float
    # A directory kept for this trial across its assignments: put checkpoints here.
    trial_dir: Path | None

    def report(self, resource: float, value: float) -> Decision:
        """Report for this trial (the same as ``hpo.report``)."""
        return report(resource, value)

    def environment(self) -> dict[str, str]:
        """The variables that describe this trial to a command."""
        variables = {
            ENV_STUDY: self.study,
            ENV_TRIAL_ID: str(self.trial_id),
            ENV_TRIAL_NUMBER: str(self.number),
            ENV_CONFIG: json.dumps(self.config),
            ENV_RESOURCE: _exact(self.resource),
            ENV_RESUME_FROM: _exact(self.resume_from),
            ENV_R_MAX: _exact(self.r_max),
        }
        if self.trial_dir is not None:
            variables[ENV_TRIAL_DIR] = str(self.trial_dir)
            variables[ENV_CONFIG_FILE] = str(self.trial_dir / "config.json")
        return variables

    @classmethod
    def from_environment(cls, environ: dict[str, str] | os._Environ[str]) -> TrialContext:
        trial_dir = environ.get(ENV_TRIAL_DIR)
        return cls(
            study=environ[ENV_STUDY],
            trial_id=int(environ[ENV_TRIAL_ID]),
            number=int(environ[ENV_TRIAL_NUMBER]),
            config=json.loads(environ[ENV_CONFIG]),
            resource=float(environ[ENV_RESOURCE]),
            resume_from=float(environ[ENV_RESUME_FROM]),
            r_max=float(environ[ENV_R_MAX]),
            trial_dir=Path(trial_dir) if trial_dir else None,
        )


def _exact(number: float) -> str:
    """``number`` as text that reads back as the same float: a whole number without a fraction
    (``9``, which a shell script can use as is), any other in Python's shortest exact form."""
    number = float(number)
    return str(int(number)) if number.is_integer() else repr(number)


class Reporter(Protocol):
    def report(self, resource: float, value: float) -> Decision: ...


@dataclass
class _InProcessTrial:
    context: TrialContext
    reporter: Reporter


_current: ContextVar[_InProcessTrial | None] = ContextVar("hpo_trial", default=None)


@contextmanager
def running(context: TrialContext, reporter: Reporter) -> Iterator[None]:
    """Make ``context`` the current trial of this thread while a function-mode trial runs."""
    token = _current.set(_InProcessTrial(context, reporter))
    try:
        yield
    finally:
        _current.reset(token)


def current_trial() -> TrialContext:
    """The trial this code runs in (inside ``hpo worker`` or ``Worker.run_function``)."""
    active = _current.get()
    if active is not None:
        return active.context
    if ENV_TRIAL_ID in os.environ:
        return TrialContext.from_environment(os.environ)
    raise RuntimeError(
        "not inside an hpo trial: run this code with `hpo worker ... -- CMD` "
        "or hpo.workers.Worker.run_function"
    )


def report(resource: float, value: float) -> Decision:
    """Report ``value`` at ``resource`` for the current trial; stop training when told to."""
    active = _current.get()
    if active is not None:
        return active.reporter.report(resource, value)
    return _pipe_channel().report(resource, value)


class _PipeChannel:
    """The trial side of the worker's report/decision pipes."""

    def __init__(self, report_fd: int, decision_fd: int) -> None:
        self._requests: IO[str] = os.fdopen(report_fd, "w", buffering=1, closefd=False)
        self._answers: IO[str] = os.fdopen(decision_fd, "r", closefd=False)
        self._lock = threading.Lock()

    def report(self, resource: float, value: float) -> Decision:
        with self._lock:
            self._requests.write(encode_report(resource, value))
            self._requests.flush()
            line = self._answers.readline()
        if not line:
            raise RuntimeError("the hpo worker closed the decision pipe")
        return decode_decision(line)


_channel: _PipeChannel | None = None
_channel_lock = threading.Lock()


def _pipe_channel() -> _PipeChannel:
    global _channel
    with _channel_lock:
        if _channel is None:
            try:
                report_fd = int(os.environ[ENV_REPORT_FD])
                decision_fd = int(os.environ[ENV_DECISION_FD])
            except KeyError:
                raise RuntimeError(
                    "hpo.report() needs an hpo worker: run this code with "
                    "`hpo worker ... -- CMD` or hpo.workers.Worker.run_function"
                ) from None
            _channel = _PipeChannel(report_fd, decision_fd)
        return _channel


# ---------------------------------------------------------------- the line formats


def encode_report(resource: float, value: float) -> str:
    return json.dumps({"resource": resource, "value": value}) + "\n"


def decode_report(line: str) -> tuple[float, float]:
    """A report line from the pipe: ``{"resource": r, "value": v}``."""
    data = json.loads(line)
    return float(data["resource"]), float(data["value"])


def parse_stdout_report(line: str) -> tuple[float, float] | None:
    """A report printed on stdout (``@hpo report resource=3 value=0.25``), or None for other
    output; a report line whose numbers do not parse raises ValueError."""
    match = _STDOUT_REPORT.match(line.strip())
    if match is None:
        return None
    return float(match["resource"]), float(match["value"])


def encode_decision(decision: Decision) -> str:
    """A decision as one line of the decision pipe. ``should_stop`` stays beside ``action``
    for trial code of an hpo version that reads only it (a command may run in another
    environment than its worker)."""
    return (
        json.dumps(
            {
                "action": decision.action.value,
                "should_stop": decision.should_stop,
                "next_resource": decision.next_resource,
                "state": decision.state.value,
                "reason": decision.reason,
                "buffered": decision.buffered,
            }
        )
        + "\n"
    )


def decode_decision(line: str) -> Decision:
    """A decision line; one from a worker older than ``action`` gets it derived, as the client
    derives it from the wire (:func:`hpo.client.decision_action`)."""
    data = json.loads(line)
    state = TrialState(data["state"])
    action = data.get("action")
    return Decision(
        action=(
            DecisionAction(action)
            if action is not None
            else decision_action(bool(data["should_stop"]), state)
        ),
        next_resource=data["next_resource"],
        state=state,
        reason=data["reason"],
        buffered=bool(data.get("buffered", False)),
    )
