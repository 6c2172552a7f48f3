"""The Python client of an hpo coordinator.

    client = hpo.Client("127.0.0.1:50051")
    study = client.create_study("mlp", space, r_min=1, r_max=81, eta=3)
    while (trial := study.suggest()) is not None:
        with trial:                      # fails the trial if the block raises
            for epoch in range(int(trial.resume_from) + 1, int(trial.resource) + 1):
                loss = train_one_epoch(trial.config)
                if trial.report(epoch, loss).should_stop:
                    break

Every report carries a fresh idempotency key, and the channel retries calls
that fail with UNAVAILABLE, so a report that reached the coordinator before
the connection dropped is stored once. Errors come back as the exceptions of
:mod:`hpo.errors`.

An event-driven caller (a scheduler, a simulator) uses :meth:`Study.try_suggest`, which makes
one Suggest call and returns a :class:`Trial`, a :class:`Wait` or :class:`Finished` without
sleeping; :mod:`hpo.aio_client` is the same client on asyncio. The pieces both clients share
(the channel, the requests, the decoding of answers) are the module-level functions and base
classes here.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import grpc

from hpo import errors, wire
from hpo.auth import Role, TokenRecord, role_from_proto, role_to_proto
from hpo.outcomes import Constraint, Cost
from hpo.priors.sources import PriorSource
from hpo.records import TrialRecord
from hpo.space import Config, Parameter, Space
from hpo.spec import (
    Algorithm,
    AshaMode,
    BracketSplit,
    DecisionBasis,
    Direction,
    Objective,
    Resource,
    StudySpec,
)
from hpo.v1 import hpo_pb2 as pb
from hpo.v1 import hpo_pb2_grpc
from hpo.vocabulary import TrialState

log = logging.getLogger("hpo.client")

DEFAULT_ADDRESS = "127.0.0.1:50051"
MAX_RECONNECT_BACKOFF_MS = 5000
ENV_TOKEN = "HPO_TOKEN"
ENV_TLS_CA = "HPO_TLS_CA"

# The deadline of a Suggest on a deterministic study. Its coordinator answers only after the
# model fit that is due: it waits up to 300 s for it
# (hpo.coordinator.fit_process.DETERMINISTIC_WAIT_SECONDS), after up to 15 s for the study's
# turn (hpo.decider.STUDY_LOCK_TIMEOUT_SECONDS); the rest is margin for the transaction and the
# network. A shorter deadline gave up while the coordinator was still deciding, and a retry
# waited for the same fit again. tests/integration/test_client_forms.py keeps it above them.
DETERMINISTIC_SUGGEST_TIMEOUT = 360.0

T = TypeVar("T")

# Retry calls that never reached the service (or lost their connection): every
# mutating call carries a request id, so a retry cannot write twice.
_SERVICE_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                "name": [{"service": "hpo.v1.Coordinator"}],
                "retryPolicy": {
                    "maxAttempts": 5,
                    "initialBackoff": "0.2s",
                    "maxBackoff": "5s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
)


def default_worker_id() -> str:
    """A worker id unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def seed_for(name: str) -> int:
    """The default seed of a study: stable for a name, so ``exist_ok`` re-creations match."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") >> 1


def _request_id() -> str:
    return uuid.uuid4().hex


# ---------------------------------------------------------------- records


class DecisionAction(str, enum.Enum):
    """What a report's answer asks of the worker, and what becomes of the trial.

    Every action but CONTINUE ends the assignment; they differ in what follows, which
    ``should_stop`` alone did not say: keep a checkpoint the trial may resume from (PAUSE), or
    drop it (STOP, DONE)."""

    # Train on toward ``Decision.next_resource``.
    CONTINUE = "continue"
    # Paused at a rung: end the assignment and keep the checkpoint. The trial can be promoted
    # once its assignment is released (``Trial.report`` releases it unless held).
    PAUSE = "pause"
    # Stopped (or failed) for good: it will not run again.
    STOP = "stop"
    # Reached r_max: the trial is completed.
    DONE = "done"


def decision_action(stops: bool, state: TrialState) -> DecisionAction:
    """The action of a report's answer from the two things the wire says: stop or continue
    (``ReportResponse.action``) and the trial's state now (``trial_state``).

    A stop leaves the trial completed (r_max reached), stopped or failed (for good), or paused.
    A repeated report is answered with the trial's state at the time of the repeat, so a pause
    answered again after the trial was promoted reads running (or pending): it is a pause too,
    since the trial runs again."""
    if not stops:
        return DecisionAction.CONTINUE
    if state is TrialState.COMPLETED:
        return DecisionAction.DONE
    if state in (TrialState.STOPPED, TrialState.FAILED):
        return DecisionAction.STOP
    return DecisionAction.PAUSE


@dataclass(frozen=True)
class Decision:
    """The coordinator's answer to a report."""

    action: DecisionAction
    # With CONTINUE: the resource of the next decision.
    next_resource: float | None
    state: TrialState
    reason: str
    # True when the worker could not reach the coordinator: the report is buffered and will
    # be delivered later; training goes on meanwhile.
    buffered: bool = False

    def __post_init__(self) -> None:
        # Also takes the action's text ("pause"), and refuses the bool that the first field
        # held before it was the action: Decision(True, ...) must not mean something else.
        object.__setattr__(self, "action", DecisionAction(self.action))

    @property
    def should_stop(self) -> bool:
        """Whether the assignment ends here (any action but CONTINUE)."""
        return self.action is not DecisionAction.CONTINUE

    @classmethod
    def from_proto(cls, response: pb.ReportResponse) -> Decision:
        stops = response.action != pb.CONTINUE
        state = wire.decode_trial_state(response.trial_state, "trial_state")
        return cls(
            action=decision_action(stops, state),
            next_resource=None if stops else response.next_resource,
            state=state,
            reason=response.reason,
        )


@dataclass(frozen=True)
class Wait:
    """Nothing to hand out now, but running trials may still create work: ask again in
    ``retry_after_seconds``."""

    retry_after_seconds: float


@dataclass(frozen=True)
class Finished:
    """The study hands out no more work: its budget is spent, or an admin stopped it
    (``study.refresh().state`` is ``finished`` or ``stopped``)."""


@dataclass(frozen=True)
class BestTrial:
    trial: TrialRecord
    value: float
    resource: float

    @property
    def config(self) -> Config:
        return self.trial.config


@dataclass(frozen=True)
class ParetoTrial:
    """A trial of a study's Pareto front: its metrics at ``resource``, and whether every
    outcome constraint holds there."""

    trial: TrialRecord
    metrics: Mapping[str, float]
    resource: float
    feasible: bool

    @property
    def config(self) -> Config:
        return self.trial.config


@dataclass(frozen=True)
class ScalingLaws:
    """A family's fitted laws in docs/scaling.md's JSON form, and, when a scale was given, the
    configuration they propose there with the proposal's intervals."""

    fit: dict[str, Any]
    config: Config | None
    proposal: dict[str, Any] | None


@dataclass(frozen=True)
class ProposalRecord:
    """A configuration the study's prior holds: queued to run first (``run_first``), or a mode
    of the prior; ``trial_number`` is the trial that ran it (None while queued)."""

    position: int
    config: Config
    source: str
    run_first: bool
    trial_number: int | None

    @classmethod
    def from_proto(cls, message: pb.Proposal) -> ProposalRecord:
        return cls(
            position=message.position,
            config=wire.config_from_proto(message.config),
            source=message.source,
            run_first=message.run_first,
            trial_number=None if message.trial_number < 0 else message.trial_number,
        )


@dataclass(frozen=True)
class ExchangeRecord:
    """One question to an LLM and its verbatim answer (``replayed_from``: the stored exchange
    whose answer was reused instead of asking, or None)."""

    id: int
    base_url: str
    model: str
    prompt_hash: str
    messages: list[dict[str, str]]
    raw_answer: str
    accepted: int
    rejected: int
    error: str | None
    replayed_from: int | None


@dataclass(frozen=True)
class PriorsRecord:
    proposals: tuple[ProposalRecord, ...]
    exchanges: tuple[ExchangeRecord, ...]
    # True while an LLM warm start has not answered: suggest waits meanwhile.
    warming_up: bool

    @classmethod
    def from_proto(cls, message: pb.GetPriorsResponse) -> PriorsRecord:
        return cls(
            proposals=tuple(ProposalRecord.from_proto(p) for p in message.proposals),
            exchanges=tuple(
                ExchangeRecord(
                    id=e.id,
                    base_url=e.base_url,
                    model=e.model,
                    prompt_hash=e.prompt_hash,
                    messages=json.loads(e.messages_json or "[]"),
                    raw_answer=e.raw_answer,
                    accepted=e.accepted,
                    rejected=e.rejected,
                    error=e.error or None,
                    replayed_from=e.replayed_from or None,
                )
                for e in message.exchanges
            ),
            warming_up=message.warming_up,
        )


def _token_from_proto(message: pb.Token) -> TokenRecord:
    return TokenRecord(
        id=message.id,
        name=message.name,
        role=role_from_proto(message.role),
        created_at=wire.from_timestamp(message.created_at),
        revoked_at=(
            wire.from_timestamp(message.revoked_at) if message.HasField("revoked_at") else None
        ),
        expires_at=(
            wire.from_timestamp(message.expires_at) if message.HasField("expires_at") else None
        ),
    )


# ---------------------------------------------------------------- shared by both clients


class ClientBase:
    """A connection to a coordinator, shared by :class:`Client` and
    :class:`hpo.aio_client.AsyncClient`, which differ in ``transport`` (``grpc`` or
    ``grpc.aio``: their channel factories take the same arguments) and in how they wait.

    ``token`` (default: the ``HPO_TOKEN`` environment variable) is sent as a bearer token
    with every call; ``tls_ca`` (default: ``HPO_TLS_CA``), a PEM file of the certificate
    authority that signed the coordinator's certificate, makes the connection use TLS.
    ``timeout`` is every call's deadline, except a Suggest on a deterministic study
    (:func:`suggest_timeout`).
    """

    transport: ModuleType = grpc

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        timeout: float = 30.0,
        worker_id: str | None = None,
        wait_for_ready: bool = False,
        token: str | None = None,
        tls_ca: str | os.PathLike[str] | None = None,
    ) -> None:
        self.address = address
        self.timeout = timeout
        self.worker_id = worker_id or default_worker_id()
        self._wait_for_ready = wait_for_ready
        token = token if token is not None else os.environ.get(ENV_TOKEN, "")
        self._metadata = (("authorization", f"Bearer {token}"),) if token else None
        tls_ca = tls_ca if tls_ca is not None else os.environ.get(ENV_TLS_CA) or None
        options = [
            ("grpc.enable_retries", 1),
            ("grpc.service_config", _SERVICE_CONFIG),
            # gRPC's default lets reconnection attempts drift to 2 minutes apart; a worker
            # should notice a restarted coordinator within seconds.
            ("grpc.max_reconnect_backoff_ms", MAX_RECONNECT_BACKOFF_MS),
        ]
        if tls_ca is None:
            self._channel = self.transport.insecure_channel(address, options=options)
        else:
            credentials = grpc.ssl_channel_credentials(Path(tls_ca).read_bytes())
            self._channel = self.transport.secure_channel(address, credentials, options=options)
        self._stub = hpo_pb2_grpc.CoordinatorStub(self._channel)

    def _call_options(self, timeout: float | None) -> dict[str, Any]:
        """The keyword arguments of a call: its deadline (the client's unless given), the
        token and whether to wait for the channel."""
        return {
            "timeout": self.timeout if timeout is None else timeout,
            "wait_for_ready": self._wait_for_ready,
            "metadata": self._metadata,
        }


def remote_error(error: grpc.RpcError) -> errors.HpoError:
    """hpo's exception for a failed call (both clients raise these, never gRPC's)."""
    return errors.from_status(error.code(), error.details() or "")


def suggest_timeout(timeout: float, deterministic: bool) -> float:
    """The deadline of a Suggest call: the client's timeout, or longer for a deterministic
    study, whose coordinator may wait for a model fit before it answers
    (:data:`DETERMINISTIC_SUGGEST_TIMEOUT`)."""
    return max(timeout, DETERMINISTIC_SUGGEST_TIMEOUT) if deterministic else timeout


def suggest_request(study: str, worker_id: str, request_id: str | None) -> pb.SuggestRequest:
    return pb.SuggestRequest(
        study=study, worker_id=worker_id, request_id=request_id or _request_id()
    )


def suggest_answer(
    response: pb.SuggestResponse, trial: Callable[[pb.Assignment], T]
) -> T | Wait | Finished:
    """A Suggest answer as ``trial(assignment)``, a :class:`Wait` or :class:`Finished`."""
    kind = response.WhichOneof("result")
    if kind == "assignment":
        return trial(response.assignment)
    if kind == "wait":
        return Wait(response.wait.retry_after_seconds)
    return Finished()


def create_study_request(spec: StudySpec, exist_ok: bool) -> pb.CreateStudyRequest:
    return pb.CreateStudyRequest(
        spec=wire.spec_to_proto(spec), exist_ok=exist_ok, request_id=_request_id()
    )


def heartbeat_request(worker_id: str, trial_ids: Sequence[int]) -> pb.HeartbeatRequest:
    return pb.HeartbeatRequest(worker_id=worker_id, trial_ids=list(trial_ids))


def leases_answer(response: pb.HeartbeatResponse) -> dict[int, bool]:
    """Which of the heartbeated trials this worker still holds."""
    return {lease.trial_id: lease.active for lease in response.leases}


def best_answer(response: pb.GetBestResponse) -> BestTrial | None:
    if not response.HasField("trial"):
        return None
    return BestTrial(wire.trial_from_proto(response.trial), response.value, response.resource)


def best_request(study: str, max_cost: float | None) -> pb.GetBestRequest:
    request = pb.GetBestRequest(study=study)
    if max_cost is not None:
        request.max_cost = max_cost
    return request


def pareto_request(study: str, max_cost: float | None) -> pb.GetParetoFrontRequest:
    request = pb.GetParetoFrontRequest(study=study)
    if max_cost is not None:
        request.max_cost = max_cost
    return request


def pareto_answer(response: pb.GetParetoFrontResponse) -> list[ParetoTrial]:
    return [
        ParetoTrial(
            wire.trial_from_proto(entry.trial), dict(entry.metrics), entry.resource, entry.feasible
        )
        for entry in response.trials
    ]


class TrialBase:
    """An assignment: train ``config`` from ``resume_from`` to ``resource``; the requests its
    trial sends, and what it remembers of its end. :class:`Trial` and
    :class:`hpo.aio_client.AsyncTrial` add the calls.

    ``hold`` (default False) is what a report does when its answer ends the assignment (any
    action but CONTINUE): release the assignment at once (False: the trial sends Complete, so
    a paused trial can be promoted without the caller remembering to), or keep it until
    ``complete()`` (True: for a worker whose process may still write the trial's checkpoint).
    """

    def __init__(self, assignment: pb.Assignment, worker_id: str, hold: bool = False) -> None:
        self.record = wire.trial_from_proto(assignment.trial)
        self.id = self.record.id
        self.number = self.record.number
        self.study = self.record.study
        self.config: Config = self.record.config
        self.resource = assignment.resource
        self.resume_from = assignment.resume_from
        self.r_max = assignment.r_max
        self.heartbeat_seconds = assignment.heartbeat_seconds
        self.hold = hold
        self._worker_id = worker_id
        # The trial as its Complete or Fail left it: the assignment is over.
        self._ended: TrialRecord | None = None

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({self.study!r}, number={self.number}, config={self.config!r})"

    @property
    def done(self) -> bool:
        """Whether the assignment is over (completed, released or failed by this client)."""
        return self._ended is not None

    def _releases_after(self, decision: Decision, hold: bool | None) -> bool:
        return decision.should_stop and not (self.hold if hold is None else hold)

    def _report_request(
        self, resource: float, value: float | Mapping[str, float], request_id: str | None
    ) -> pb.ReportRequest:
        """A number travels as ``value`` (what a v1 coordinator reads); a mapping as
        ``metrics``, every metric of the study by name."""
        metrics = value if isinstance(value, Mapping) else None
        return pb.ReportRequest(
            trial_id=self.id,
            resource=float(resource),
            value=0.0 if metrics is not None else float(value),  # type: ignore[arg-type]
            metrics={name: float(metric) for name, metric in (metrics or {}).items()},
            request_id=request_id or _request_id(),
            worker_id=self._worker_id,
        )

    def _complete_request(self, request_id: str | None) -> pb.CompleteRequest:
        return pb.CompleteRequest(
            trial_id=self.id, request_id=request_id or _request_id(), worker_id=self._worker_id
        )

    def _fail_request(self, reason: str, request_id: str | None) -> pb.FailRequest:
        return pb.FailRequest(
            trial_id=self.id,
            reason=reason,
            request_id=request_id or _request_id(),
            worker_id=self._worker_id,
        )

    def _end(self, message: pb.Trial) -> TrialRecord:
        self._ended = wire.trial_from_proto(message)
        return self._ended

    def _release_failed(self, decision: Decision, error: errors.HpoError) -> None:
        log.warning(
            "trial %d: not released after its %s (complete() retries): %s",
            self.number,
            decision.action.value,
            error,
        )

    def _heartbeat_failed(self, error: errors.HpoError) -> None:
        log.warning("trial %d: heartbeat failed: %s", self.number, error)

    def _still_held(self, leases: Mapping[int, bool]) -> bool:
        """Whether a heartbeat's answer still grants this trial's lease; if not, heartbeats
        end, and the next report or complete is refused with the reason."""
        if leases.get(self.id, False):
            return True
        log.warning("trial %d: the coordinator no longer grants its lease", self.number)
        return False

    def _ending(
        self, error: object, complete: Callable[[], T], fail: Callable[[str], T]
    ) -> Callable[[], T] | None:
        """What the end of a ``with`` block calls, given the exception it raised (or None):
        nothing once the assignment is over, else ``complete``, or ``fail`` with the
        exception."""
        if self.done:
            return None
        if isinstance(error, BaseException):
            return functools.partial(fail, f"{type(error).__name__}: {error}")
        return complete


class StudyBase:
    """A study on the coordinator, as last fetched (both clients' :class:`Study`)."""

    def __init__(self, message: pb.Study) -> None:
        self.id = message.id
        self.spec = wire.spec_from_proto(message.spec)
        self.name = self.spec.name
        self.state = {state: name for name, state in wire.STUDY_STATES.items()}.get(
            message.state, "unknown"
        )
        self.counts = {
            "running": message.counts.running,
            "paused": message.counts.paused,
            "completed": message.counts.completed,
            "stopped": message.counts.stopped,
            "failed": message.counts.failed,
            "pending": message.counts.pending,
        }
        self.created_at = wire.from_timestamp(message.created_at)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, state={self.state!r}, counts={self.counts!r})"


# ---------------------------------------------------------------- trial


class Trial(TrialBase):
    """A configuration this client holds: train it from ``resume_from`` to ``resource``.

    :meth:`Study.try_suggest` and :meth:`Study.suggest` hand trials out. A caller that made
    the Suggest call itself (``client.call("Suggest", ...)``) builds one with
    ``Trial(client, response.assignment)``.

    A report whose answer ends the assignment releases it (sends Complete) unless the trial
    is held (``hold``, see :class:`TrialBase`); ``complete()`` afterwards returns the record
    that release got and sends nothing. Used as a context manager, the trial is heartbeated
    every ``heartbeat_seconds`` while the block runs (so its lease outlives long silent
    stretches), completed when the block ends and failed (with the exception's message) when
    it raises.
    """

    def __init__(self, client: Client, assignment: pb.Assignment, *, hold: bool = False) -> None:
        super().__init__(assignment, client.worker_id, hold)
        self._client = client
        # Set while a ``with`` block runs: ends the thread that keeps the lease.
        self._left: threading.Event | None = None
        self._lease_keeper: threading.Thread | None = None

    def report(
        self,
        resource: float,
        value: float | Mapping[str, float],
        request_id: str | None = None,
        *,
        hold: bool | None = None,
    ) -> Decision:
        """Record ``value`` at ``resource``; the answer's ``action`` says what to do next.
        ``value`` is a number for a study with one objective and no other metric, otherwise
        a mapping naming every metric of the study (``{"loss": 0.3, "latency_ms": 12}``).

        An answer other than CONTINUE also releases the assignment, unless ``hold`` (default:
        the trial's ``hold``) is true. A release that fails is logged and left to
        ``complete()`` or the end of the ``with`` block, which try it again; the answer is
        returned either way, since the report is stored. Sending the same ``request_id``
        again (a retry after a lost connection) stores the report once and returns the first
        answer."""
        decision = Decision.from_proto(
            self._client.call("Report", self._report_request(resource, value, request_id))
        )
        if self._releases_after(decision, hold):
            try:
                self.complete()
            except errors.HpoError as error:
                self._release_failed(decision, error)
        return decision

    def complete(self, request_id: str | None = None) -> TrialRecord:
        """This assignment is done (a paused or stopped trial keeps its state). Once it is
        over, the record its end got is returned and nothing is sent."""
        if self._ended is not None:
            return self._ended
        self._stop_heartbeats()
        return self._end(self._client.call("Complete", self._complete_request(request_id)))

    def fail(self, reason: str, request_id: str | None = None) -> TrialRecord:
        self._stop_heartbeats()
        return self._end(self._client.call("Fail", self._fail_request(reason, request_id)))

    def __enter__(self) -> Trial:
        """Heartbeat the trial until the block ends: an epoch longer than the lease must not
        send the trial to another worker."""
        self._left = threading.Event()
        self._lease_keeper = threading.Thread(
            target=self._heartbeat,
            args=(self._left,),
            name=f"hpo-trial-{self.number}-heartbeat",
            daemon=True,
        )
        self._lease_keeper.start()
        return self

    def _heartbeat(self, left: threading.Event) -> None:
        while not left.wait(self.heartbeat_seconds):
            try:
                held = self._client.heartbeat([self.id])
            except errors.HpoError as error:
                self._heartbeat_failed(error)
                continue
            if not self._still_held(held):
                return

    def _stop_heartbeats(self) -> None:
        """End the ``with`` block's heartbeats before the assignment ends (no-op without one)."""
        if self._left is not None and self._lease_keeper is not None:
            self._left.set()
            self._lease_keeper.join()

    def __exit__(self, *exc_info: object) -> None:
        end = self._ending(exc_info[1], self.complete, self.fail)
        if end is not None:
            end()


# ---------------------------------------------------------------- study


class Study(StudyBase):
    """A study on the coordinator, as last fetched."""

    def __init__(self, client: Client, message: pb.Study) -> None:
        super().__init__(message)
        self._client = client

    def refresh(self) -> Study:
        return self._client.get_study(self.name)

    def stop(self, reason: str = "") -> Study:
        """Stop the study for good (admin): no new work, running trials stop at their next
        report."""
        message = self._client.call(
            "StopStudy",
            pb.StopStudyRequest(study=self.name, reason=reason, request_id=_request_id()),
        )
        return Study(self._client, message)

    def extend(self, r_max: float) -> Study:
        """Raise the study's top resource to ``r_max`` (docs/algorithms.md, "Growing r_max"):
        results are kept and the best trials that reached the old r_max continue upward."""
        message = self._client.call(
            "ExtendStudy",
            pb.ExtendStudyRequest(study=self.name, r_max=float(r_max), request_id=_request_id()),
        )
        return Study(self._client, message)

    def enqueue(self, config: Mapping[str, Any]) -> ProposalRecord:
        """Run ``config`` before any other new configuration, at the bottom rung (its trial's
        source is ``user``); the coordinator validates it against the space."""
        response = self._client.call(
            "Enqueue",
            pb.EnqueueRequest(
                study=self.name, config=wire.config_to_proto(config), request_id=_request_id()
            ),
        )
        return ProposalRecord.from_proto(response.proposal)

    def priors(self) -> PriorsRecord:
        """The study's proposals (queued, run, or prior-only) and its LLM exchanges."""
        return PriorsRecord.from_proto(
            self._client.call("GetPriors", pb.GetPriorsRequest(study=self.name))
        )

    def try_suggest(self, request_id: str | None = None) -> Trial | Wait | Finished:
        """One Suggest call, which never waits on the caller's side: the next assignment, a
        :class:`Wait` (ask again after its delay) or :class:`Finished`.

        For callers that wait their own way (an event loop, a scheduler of many workers, a
        simulator). A caller that retries after a lost connection passes the ``request_id``
        of its first attempt, so an assignment the coordinator made but could not deliver is
        handed to it then. On a deterministic study the call may take minutes (the
        coordinator fits its model first), and its deadline is long enough for that
        (:func:`suggest_timeout`)."""
        response = self._client.call(
            "Suggest",
            suggest_request(self.name, self._client.worker_id, request_id),
            timeout=suggest_timeout(self._client.timeout, self.spec.deterministic),
        )
        return suggest_answer(response, lambda assignment: Trial(self._client, assignment))

    def suggest(
        self, cancel: threading.Event | None = None, request_id: str | None = None
    ) -> Trial | None:
        """The next assignment, waiting while running trials may still create work.

        Returns None when the study hands out no more work (``study.refresh().state`` tells
        whether it finished or was stopped), or when ``cancel`` is set while waiting (then
        ``cancel.is_set()``); :meth:`try_suggest` tells them apart itself. ``request_id`` is
        that of a first attempt being retried, as for :meth:`try_suggest`.
        """
        cancelled = cancel or threading.Event()
        while True:
            answer = self.try_suggest(request_id)
            request_id = None  # after a wait, the next call is a new request
            if not isinstance(answer, Wait):
                return answer if isinstance(answer, Trial) else None
            if cancelled.wait(answer.retry_after_seconds):
                return None

    def trials(
        self, states: Sequence[TrialState | str] = (), include_reports: bool = False
    ) -> list[TrialRecord]:
        """Every trial (optionally of some states), in number order, fetched page by page."""
        records: list[TrialRecord] = []
        start = 0
        while True:
            page = self._client.call(
                "ListTrials",
                pb.ListTrialsRequest(
                    study=self.name,
                    states=[wire.encode_trial_state(state) for state in states],
                    include_reports=include_reports,
                    start_number=start,
                ),
            )
            records.extend(wire.trial_from_proto(trial) for trial in page.trials)
            if not page.more:
                return records
            start = page.next_start_number

    def best(self, max_cost: float | None = None) -> BestTrial | None:
        """The best value at the highest rung reached so far, or None before any rung; with
        several objectives the front's best in the first, feasible if any trial is; with
        ``max_cost`` among results that cost at most that (docs/study-spec.md)."""
        return best_answer(self._client.call("GetBest", best_request(self.name, max_cost)))

    def pareto_front(self, max_cost: float | None = None) -> list[ParetoTrial]:
        """The non-dominated trials at the highest rung with a feasible result."""
        return pareto_answer(
            self._client.call("GetParetoFront", pareto_request(self.name, max_cost))
        )


# ---------------------------------------------------------------- client


class Client(ClientBase):
    """A connection to a coordinator (the options: :class:`ClientBase`). Thread-safe; close
    it (or use ``with``) when done."""

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def call(self, method: str, request: Any, timeout: float | None = None) -> Any:
        """Call an RPC of the Coordinator service, raising hpo's errors instead of gRPC's;
        ``timeout`` replaces the client's for this call."""
        try:
            return getattr(self._stub, method)(request, **self._call_options(timeout))
        except grpc.RpcError as error:
            raise remote_error(error) from None

    # ------------------------------------------------------------ studies

    def create_study(
        self,
        name: str,
        space: Space | Mapping[str, Parameter],
        *,
        r_min: float,
        r_max: float,
        eta: float = 3.0,
        resource_name: str = "resource",
        metric: str = "value",
        direction: Direction | str = Direction.MINIMIZE,
        algorithm: Algorithm | str = Algorithm.GP_HYPERBAND,
        asha_mode: AshaMode | str = AshaMode.PROMOTION,
        bracket_split: BracketSplit | str = BracketSplit.LEARNED,
        deterministic: bool = False,
        max_trials: int = 0,
        seed: int | None = None,
        description: str = "",
        priors: Sequence[PriorSource | Mapping[str, Any]] = (),
        enqueue: Sequence[Mapping[str, Any]] = (),
        objectives: Sequence[Objective | Mapping[str, str]] = (),
        metrics: Sequence[str] = (),
        constraints: Sequence[Constraint | Mapping[str, Any]] = (),
        cost: Cost | Mapping[str, str] | None = None,
        decision: DecisionBasis | str = DecisionBasis.RUNG,
        scale: Mapping[str, float] | None = None,
        scale_parameters: Sequence[str] = (),
        family: str = "",
        exist_ok: bool = False,
    ) -> Study:
        """Create a study (see docs/algorithms.md for the options, docs/priors.md for
        ``priors`` and ``enqueue``, docs/study-spec.md for ``objectives``, ``metrics``,
        ``constraints`` and ``cost``, which replace ``metric`` and ``direction`` when given;
        docs/curves.md for ``decision``, docs/scaling.md for ``scale``, ``scale_parameters``
        and ``family``).
        Without ``seed``, the seed is derived from the name, so the same call with
        ``exist_ok`` finds the same study."""
        spec = StudySpec(
            name=name,
            space=space if isinstance(space, Space) else Space(space),
            resource=Resource(r_min=r_min, r_max=r_max, eta=eta, name=resource_name),
            objective=Objective(metric=metric, direction=direction),
            algorithm=algorithm,
            asha_mode=asha_mode,
            bracket_split=bracket_split,
            deterministic=deterministic,
            max_trials=max_trials,
            seed=seed_for(name) if seed is None else seed,
            description=description,
            priors=tuple(priors),
            enqueue=tuple(dict(config) for config in enqueue),
            objectives=list(objectives),  # type: ignore[arg-type]
            metrics=list(metrics),  # type: ignore[arg-type]
            constraints=list(constraints),  # type: ignore[arg-type]
            cost=cost,  # type: ignore[arg-type]
            decision=decision,  # type: ignore[arg-type]
            scale=dict(scale or {}),
            scale_parameters=tuple(scale_parameters),
            family=family,
        )
        return self.create_study_from_spec(spec, exist_ok=exist_ok)

    def create_study_from_spec(self, spec: StudySpec, exist_ok: bool = False) -> Study:
        return Study(self, self.call("CreateStudy", create_study_request(spec, exist_ok)))

    def get_study(self, name: str) -> Study:
        return Study(self, self.call("GetStudy", pb.GetStudyRequest(name=name)))

    def studies(self) -> list[Study]:
        response = self.call("ListStudies", pb.ListStudiesRequest())
        return [Study(self, message) for message in response.studies]

    def fit_scaling(self, family: str, scale: Mapping[str, float] | None = None) -> ScalingLaws:
        """The scaling laws of the studies of ``family`` and, given a ``scale`` (e.g.
        ``{"n_params": 1e9, "n_tokens": 2e10}``), the configuration they propose there
        (docs/scaling.md)."""
        response = self.call(
            "FitScaling", pb.FitScalingRequest(family=family, scale=dict(scale or {}))
        )
        return ScalingLaws(
            json.loads(response.fit_json),
            wire.config_from_proto(response.config.values, "config") if scale else None,
            json.loads(response.proposal_json) if response.proposal_json else None,
        )

    def heartbeat(self, trial_ids: Sequence[int]) -> dict[int, bool]:
        """Extend the leases of ``trial_ids``; the answer says which this worker still holds."""
        return leases_answer(self.call("Heartbeat", heartbeat_request(self.worker_id, trial_ids)))

    # ------------------------------------------------------------ tokens (admin)

    def create_token(
        self,
        name: str,
        role: Role | str,
        secret: str,
        request_id: str | None = None,
        expires_at: datetime | None = None,
    ) -> TokenRecord:
        """Register ``secret`` as the token ``name`` with ``role`` (reader, worker, admin).

        Make the secret with :func:`hpo.auth.generate_secret` and hand it to whoever will
        use it: the coordinator stores only its SHA-256, so it cannot be shown again. A retry
        with the same ``request_id`` returns the token the first call created. From
        ``expires_at`` (aware, in the future) on, the token is refused; None: never."""
        message = self.call(
            "CreateToken",
            pb.CreateTokenRequest(
                name=name,
                role=role_to_proto(role),
                secret=secret,
                request_id=request_id or _request_id(),
                expires_at=wire.timestamp(expires_at),
            ),
        )
        return _token_from_proto(message)

    def list_tokens(self) -> list[TokenRecord]:
        """Every token, revoked ones included, in creation order."""
        response = self.call("ListTokens", pb.ListTokensRequest())
        return [_token_from_proto(message) for message in response.tokens]

    def revoke_token(self, name: str) -> TokenRecord:
        """Revoke the token ``name`` for good (again: no change). Coordinators that cache
        tokens stop accepting it within their cache TTL (docs/security.md)."""
        message = self.call(
            "RevokeToken", pb.RevokeTokenRequest(name=name, request_id=_request_id())
        )
        return _token_from_proto(message)
