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

A report carries one number (a study with one objective and no other metric) or a mapping
naming every metric of the study (``{"loss": 0.2, "latency_ms": 12}``); the trial's
``metrics`` lists them.

Programs that cannot import hpo report with a line on stdout instead:
``@hpo report resource=<number> value=<number>``, ``@hpo report resource=3 loss=0.2
latency_ms=12`` or ``@hpo report {"resource": 3, "loss": 0.2, "latency_ms": 12}`` (the
worker then enforces a stop decision by terminating the process).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, SupportsFloat, TypeAlias

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
ENV_METRICS = "HPO_METRICS"

# What a report carries: one number, or every metric of the study by name.
ReportValue: TypeAlias = float | Mapping[str, float]
# Which logged values a trainer callback reports: metric names (each logged under its own
# name), or a mapping from the study's metric to the name it is logged under.
MetricSources: TypeAlias = Sequence[str] | Mapping[str, str]

_STDOUT_REPORT = re.compile(r"^@hpo\s+report(?:\s+(?P<body>.*))?$")
_STDOUT_FIELD = re.compile(r"^(?P<name>[^=\s]+)=(?P<number>\S+)$")
# The stdout forms name the resource beside the metrics; a one-objective report may name
# its number ``value``.
_RESOURCE = "resource"
_VALUE = "value"


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
    # The metrics each report of the study names (objectives, declared metrics, a reported
    # cost); empty when the worker did not say (one of an older hpo).
    metrics: tuple[str, ...] = ()

    def report(self, resource: float, value: ReportValue) -> Decision:
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
            ENV_METRICS: json.dumps(list(self.metrics)),
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
            metrics=tuple(json.loads(environ.get(ENV_METRICS, "[]"))),
        )


def _exact(number: float) -> str:
    """``number`` as text that reads back as the same float: a whole number without a fraction
    (``9``, which a shell script can use as is), any other in Python's shortest exact form."""
    number = float(number)
    return str(int(number)) if number.is_integer() else repr(number)


class Reporter(Protocol):
    def report(self, resource: float, value: ReportValue) -> Decision: ...


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


def report(resource: float, value: ReportValue) -> Decision:
    """Report ``value`` at ``resource`` for the current trial; stop training when told to.

    ``value`` is a number for a study with one objective and no other metric, else a mapping
    naming every metric of the study (``current_trial().metrics``); the coordinator refuses
    an unknown, missing or non-finite one, and the trial then fails with the reason."""
    value = report_value(value)
    active = _current.get()
    if active is not None:
        return active.reporter.report(resource, value)
    return _pipe_channel().report(resource, value)


def report_value(value: ReportValue) -> ReportValue:
    """``value`` as plain floats (a tensor or numpy scalar becomes one), copied, so a report
    buffered by the worker does not change when the caller reuses its dict."""
    if not isinstance(value, Mapping):
        return float(value)
    for name in value:
        if not isinstance(name, str):
            raise TypeError(f"metric names are strings, got {name!r}")
    return {name: float(metric) for name, metric in value.items()}


def logged_report(
    logged: Mapping[str, SupportsFloat],
    single: str,
    metrics: MetricSources | None,
    prefix: str = "",
) -> ReportValue:
    """What a trainer callback reports from a trainer's logged values: ``logged[single]`` for
    a study with one metric; with several, a mapping of each study metric to the logged
    value ``metrics`` names for it. By default those are the trial's ``metrics``, each
    logged under its name with ``prefix`` (the ``eval_`` a Hugging Face Trainer puts before
    every evaluation metric). Raises KeyError naming what was not logged."""
    sources = _metric_sources(metrics, prefix)
    if sources is None:
        return float(_logged(logged, single))
    return {metric: float(_logged(logged, key)) for metric, key in sources.items()}


def _metric_sources(metrics: MetricSources | None, prefix: str) -> dict[str, str] | None:
    """Study metric -> logged name, or None for a one-value report (the default, unless the
    trial's study has several metrics)."""
    if metrics is None:
        names = current_trial().metrics
        if len(names) < 2:
            return None
        return {name: name if name.startswith(prefix) else prefix + name for name in names}
    if isinstance(metrics, Mapping):
        return dict(metrics)
    if isinstance(metrics, str):
        raise TypeError(f"metrics is a list of names or a mapping, not the string {metrics!r}")
    return {name: name for name in metrics}


def _logged(logged: Mapping[str, SupportsFloat], name: str) -> SupportsFloat:
    if name not in logged:
        available = ", ".join(sorted(logged)) or "none"
        raise KeyError(f"{name!r} is not among the trainer's metrics: {available}")
    return logged[name]


class _PipeChannel:
    """The trial side of the worker's report/decision pipes."""

    def __init__(self, report_fd: int, decision_fd: int) -> None:
        self._requests: IO[str] = os.fdopen(report_fd, "w", buffering=1, closefd=False)
        self._answers: IO[str] = os.fdopen(decision_fd, "r", closefd=False)
        self._lock = threading.Lock()

    def report(self, resource: float, value: ReportValue) -> Decision:
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


def encode_report(resource: float, value: ReportValue) -> str:
    """A report as one line of the report pipe: ``{"resource": r, "value": v}`` (the form of
    every hpo version) or ``{"resource": r, "metrics": {...}}``, so any metric name fits."""
    field = "metrics" if isinstance(value, Mapping) else "value"
    return json.dumps({"resource": resource, field: value}) + "\n"


def decode_report(line: str) -> tuple[float, ReportValue]:
    """A report line from the pipe (:func:`encode_report`)."""
    data = json.loads(line)
    if "metrics" in data:
        return float(data["resource"]), {name: float(v) for name, v in data["metrics"].items()}
    return float(data["resource"]), float(data["value"])


def parse_stdout_report(line: str) -> tuple[float, ReportValue] | None:
    """A report printed on stdout, or None for other output. Three forms:

    * ``@hpo report resource=3 value=0.25``: one number;
    * ``@hpo report resource=3 loss=0.25 latency_ms=12``: every metric of the study;
    * ``@hpo report {"resource": 3, "loss": 0.25, "latency_ms": 12}``: the same, as JSON.

    Whether the metrics are the study's is the coordinator's to say; NaN and infinities
    parse, and the coordinator refuses them. A line that starts ``@hpo report`` but does not
    parse raises ValueError."""
    match = _STDOUT_REPORT.match(line.strip())
    if match is None:
        return None
    body = (match["body"] or "").strip()
    fields = _json_fields(body) if body.startswith("{") else _text_fields(body)
    return _stdout_report(fields)


def _text_fields(body: str) -> dict[str, float]:
    """``name=number`` pairs separated by white space."""
    fields: dict[str, float] = {}
    for token in body.split():
        pair = _STDOUT_FIELD.match(token)
        if pair is None:
            raise ValueError(f"{token!r} is not name=number")
        _add_field(fields, pair["name"], float(pair["number"]))
    return fields


def _json_fields(body: str) -> dict[str, float]:
    """A JSON object of names to numbers (``NaN`` and ``Infinity`` included). Integers are
    read as floats, so one too large for a float becomes infinite, which the coordinator
    refuses, instead of an OverflowError that would end the worker's reader."""
    data = json.loads(body, object_pairs_hook=_unique_names, parse_int=float)
    if not isinstance(data, dict):
        raise ValueError("the report is not a JSON object")
    for name, number in data.items():
        if not isinstance(number, float):
            raise ValueError(f"{name!r} is not a number: {number!r}")
    return data


def _unique_names(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object, refused when it repeats a name (``json`` would keep the last one)."""
    fields: dict[str, object] = {}
    for name, value in pairs:
        _add_field(fields, name, value)
    return fields


def _add_field(fields: dict[str, Any], name: str, value: object) -> None:
    """Add ``name``; a name given twice is refused, since which one to report is a guess."""
    if name in fields:
        raise ValueError(f"{name!r} is given twice")
    fields[name] = value


def _stdout_report(fields: dict[str, float]) -> tuple[float, ReportValue]:
    """The resource and the value of a stdout report's fields: ``value`` alone is the
    one-number form, any other names are metrics."""
    if _RESOURCE not in fields:
        raise ValueError(f"the report names no {_RESOURCE}")
    resource = fields.pop(_RESOURCE)
    if not fields:
        raise ValueError("the report names no metric")
    if fields.keys() == {_VALUE}:
        return resource, fields[_VALUE]
    return resource, fields


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
