"""The worker daemon: claim trials from a coordinator, run them, forward reports, heartbeat.

A worker runs one loop per *slot* (one per GPU with ``--gpus``, pinned through
``CUDA_VISIBLE_DEVICES``). Each loop asks for an assignment, runs it (a command
in its own process group, or a Python function in-process), forwards every
report and hands the decision back, and finally completes or fails the trial.
A heartbeat thread extends the leases of the running trials; a trial whose
lease is lost is stopped.

When the coordinator cannot be reached, training goes on: a report that cannot
be delivered is buffered (the trial is told to continue, with ``buffered`` set)
and a delivery thread retries the trial's buffered reports in order, with
exponential backoff and jitter, each under the request id of its first attempt,
so a report the coordinator stored before the connection dropped is stored
once. The trial is completed or failed only after its buffer is delivered.

Stopping the worker (``stop()``, SIGTERM/SIGINT in ``hpo worker``) takes no new
trials, terminates running commands (SIGTERM, SIGKILL after a grace period)
and fails their trials with the reason, so no trial is silently lost.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from hpo.client import Client, Decision, DecisionAction, Study, Trial
from hpo.errors import FailedPreconditionError, HpoError, RemoteError
from hpo.trial_api import ReportValue, TrialContext, parse_stdout_report, running
from hpo.vocabulary import TrialState
from hpo.workers.process import KILL_AFTER_TERM_SECONDS, TrialProcess
from hpo.workers.retry import Backoff

log = logging.getLogger("hpo.worker")

DEFAULT_GRACE_SECONDS = 30.0
DEFAULT_HEARTBEAT_SECONDS = 10.0

TrialFunction = Callable[[TrialContext], object]
_BUFFERED = "buffered: the coordinator is unreachable; training goes on"
_BUFFERED_AT_TARGET = (
    "buffered: the coordinator is unreachable; the assignment's resource is reached"
)
Result = TypeVar("Result")


@dataclass(frozen=True)
class _BufferedReport:
    """A report the coordinator has not acknowledged, with the request id of its first try."""

    resource: float
    value: ReportValue
    request_id: str


@dataclass
class WorkerSummary:
    assignments: int = 0
    completed: int = 0
    failed: int = 0


@dataclass
class _Running:
    """A trial this worker runs now, and what has happened to it."""

    trial: Trial
    slot: str | None
    process: TrialProcess | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Set when the trial must stop for a reason of this worker's: lease lost, shutdown.
    lost_reason: str | None = None
    # The coordinator's answer that ended the assignment (pause, stop or r_max).
    stop_decision: Decision | None = None
    # A report the coordinator refused (e.g. a NaN value): the trial fails with it.
    rejected: str | None = None
    # Reports waiting for the coordinator, oldest first; ``drained`` is set while it is empty.
    backlog: deque[_BufferedReport] = field(default_factory=deque)
    drained: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.drained.set()

    @property
    def told_to_stop(self) -> Decision | None:
        """The answer to reports of this trial once they are no longer forwarded, or None
        while they are."""
        if self.stop_decision is not None:
            return replace(self.stop_decision, reason="already told to stop")
        if self.lost_reason is not None:
            return _lost(self.lost_reason)
        if self.rejected is not None:
            return _refused(self.rejected)
        return None


def _lost(reason: str) -> Decision:
    """The answer to a report of a trial this worker no longer holds: end the assignment and
    keep the checkpoint, since another assignment may resume the trial (PAUSE)."""
    return Decision(DecisionAction.PAUSE, None, TrialState.RUNNING, reason)


def _refused(reason: str) -> Decision:
    """The answer to a report the coordinator refused: the trial fails (STOP)."""
    return Decision(DecisionAction.STOP, None, TrialState.RUNNING, reason)


@dataclass(frozen=True)
class _Outcome:
    succeeded: bool
    reason: str = ""


class Worker:
    """Runs the trials of one study until it is finished, the budget is spent, or ``stop()``."""

    def __init__(
        self,
        client: Client,
        study: str,
        *,
        slots: Sequence[str | None] = (None,),
        workdir: Path | str = "hpo-trials",
        grace_seconds: float = DEFAULT_GRACE_SECONDS,
        max_assignments: int | None = None,
        echo: bool = True,
    ) -> None:
        if not slots:
            raise ValueError("a worker needs at least one slot")
        self.client = client
        self.study_name = study
        self.slots = list(slots)
        self.workdir = Path(workdir)
        self.grace_seconds = grace_seconds
        self.echo = echo
        self.summary = WorkerSummary()
        self._budget = max_assignments
        self._stopping = threading.Event()
        self._finished = threading.Event()
        self._active: dict[int, _Running] = {}
        self._lock = threading.Lock()
        self._heartbeat_seconds = DEFAULT_HEARTBEAT_SECONDS
        # The metrics each report of the study names, told to every trial (TrialContext).
        self._metrics: tuple[str, ...] = ()
        # Wakes the heartbeat thread early: at the end, or when a trial needs a shorter period.
        self._beat_now = threading.Event()

    # ------------------------------------------------------------ public

    def run_command(self, command: Sequence[str]) -> WorkerSummary:
        """Run ``command`` once per assignment (see hpo.trial_api for what it receives)."""
        if not command:
            raise ValueError("no command to run")
        return self._run(lambda state: self._run_command(list(command), state))

    def run_function(self, function: TrialFunction) -> WorkerSummary:
        """Call ``function(trial_context)`` once per assignment, in this process.

        Inside it, ``hpo.report`` (or ``trial_context.report``) reports results.
        """
        return self._run(lambda state: self._run_function(function, state))

    def stop(self) -> None:
        """Take no new trial and terminate the running ones (safe to call from a signal handler)."""
        self._stopping.set()
        with self._lock:
            active = list(self._active.values())
        for state in active:
            self._lose(state, "the worker was stopped before the trial finished")

    # ------------------------------------------------------------ loops

    def _run(self, run_one: Callable[[_Running], _Outcome]) -> WorkerSummary:
        # A worker may start before its coordinator: wait for it like for any outage.
        study = self._until_delivered(lambda: self.client.get_study(self.study_name))
        self._metrics = study.spec.reported_metrics
        heartbeat = threading.Thread(target=self._heartbeat_loop, name="hpo-heartbeat", daemon=True)
        heartbeat.start()
        loops = [
            threading.Thread(
                target=self._slot_loop, args=(study, slot, run_one), name=f"hpo-slot-{index}"
            )
            for index, slot in enumerate(self.slots)
        ]
        for thread in loops:
            thread.start()
        for thread in loops:
            # Short joins keep the main thread responsive to signals.
            while thread.is_alive():
                thread.join(0.5)
        self._finished.set()
        self._beat_now.set()
        heartbeat.join()
        return self.summary

    def _claim_budget(self) -> bool:
        with self._lock:
            if self._budget is not None:
                if self._budget <= 0:
                    return False
                self._budget -= 1
            return True

    def _slot_loop(
        self, study: Study, slot: str | None, run_one: Callable[[_Running], _Outcome]
    ) -> None:
        backoff = Backoff()
        request_id = uuid.uuid4().hex
        while not self._stopping.is_set() and self._claim_budget():
            try:
                # The same request id until an answer arrives: an assignment made for a
                # request whose answer was lost is handed to this worker on the retry.
                trial = study.suggest(cancel=self._stopping, request_id=request_id)
            except RemoteError as error:
                delay = backoff.next_delay()
                log.warning("coordinator unreachable (%s); retrying in %.1fs", error, delay)
                with self._lock:
                    if self._budget is not None:
                        self._budget += 1
                self._stopping.wait(delay)
                continue
            except HpoError as error:
                log.error("cannot get work from study %r: %s", self.study_name, error)
                return
            backoff.reset()
            request_id = uuid.uuid4().hex
            if trial is None:
                return
            state = _Running(trial, slot)
            with self._lock:
                self._active[trial.id] = state
                self.summary.assignments += 1
                if trial.heartbeat_seconds < self._heartbeat_seconds:
                    self._heartbeat_seconds = trial.heartbeat_seconds
                    self._beat_now.set()
            where = f" on GPU {slot}" if slot is not None else ""
            log.info(
                "trial %d: training %g -> %g%s %s",
                trial.number,
                trial.resume_from,
                trial.resource,
                where,
                trial.config,
            )
            try:
                outcome = run_one(state)
            finally:
                with self._lock:
                    self._active.pop(trial.id, None)
            self._settle(state, outcome)

    def _heartbeat_loop(self) -> None:
        while not self._finished.is_set():
            self._beat_now.wait(self._heartbeat_seconds)
            self._beat_now.clear()
            with self._lock:
                trial_ids = list(self._active)
            if not trial_ids:
                continue
            try:
                leases = self.client.heartbeat(trial_ids)
            except HpoError as error:
                log.warning("heartbeat failed: %s", error)
                continue
            for trial_id, active in leases.items():
                with self._lock:
                    state = self._active.get(trial_id)
                if state is not None and not active:
                    self._lose(state, "the coordinator no longer grants this trial's lease")

    # ------------------------------------------------------------ one trial

    def _context(self, trial: Trial) -> TrialContext:
        trial_dir = self.workdir / trial.study / f"trial-{trial.number:05d}"
        trial_dir.mkdir(parents=True, exist_ok=True)
        context = TrialContext(
            study=trial.study,
            trial_id=trial.id,
            number=trial.number,
            config=trial.config,
            resource=trial.resource,
            resume_from=trial.resume_from,
            r_max=trial.r_max,
            trial_dir=trial_dir,
            metrics=self._metrics,
        )
        (trial_dir / "config.json").write_text(context.environment()["HPO_CONFIG"] + "\n")
        return context

    def _run_command(self, command: list[str], state: _Running) -> _Outcome:
        context = self._context(state.trial)
        assert context.trial_dir is not None
        environment = context.environment()
        if state.slot is not None:
            environment["CUDA_VISIBLE_DEVICES"] = state.slot
        try:
            process = TrialProcess(command, environment, context.trial_dir / "output.log")
        except OSError as error:
            return _Outcome(False, f"cannot start {command[0]!r}: {error}")
        with state.lock:
            state.process = process
            lost = state.lost_reason is not None
        if lost:
            self._terminate_later(process, 0.0)
        readers = [
            threading.Thread(target=self._pipe_reports, args=(state, process), daemon=True),
            threading.Thread(target=self._output, args=(state, process), daemon=True),
        ]
        for reader in readers:
            reader.start()
        code = process.wait()
        for reader in readers:
            reader.join(KILL_AFTER_TERM_SECONDS)
        process.close()
        if code == 0:
            return _Outcome(True)
        tail = "\n".join(process.tail)
        return _Outcome(False, f"command exited with status {code}; last output:\n{tail}")

    def _pipe_reports(self, state: _Running, process: TrialProcess) -> None:
        try:
            for resource, value in process.reports():
                decision = self._forward(state, resource, value)
                process.answer(decision)
                if decision.should_stop:
                    # Let the trial save its checkpoint and exit on its own first.
                    self._terminate_later(process, self.grace_seconds)
        except ValueError as error:
            log.error("trial %d: malformed report on the pipe: %s", state.trial.number, error)

    def _output(self, state: _Running, process: TrialProcess) -> None:
        for line in process.output():
            if self.echo:
                print(f"[trial {state.trial.number}] {line}", flush=True)
            try:
                report = parse_stdout_report(line)
            except ValueError as error:
                log.warning(
                    "trial %d: ignored malformed report line %r: %s",
                    state.trial.number,
                    line,
                    error,
                )
                continue
            if report is not None and self._forward(state, *report).should_stop:
                # A command reporting on stdout cannot read decisions: stop it now.
                self._terminate_later(process, 0.0)

    def _run_function(self, function: TrialFunction, state: _Running) -> _Outcome:
        context = self._context(state.trial)
        try:
            with running(context, _ForwardingReporter(self, state)):
                function(context)
        except Exception as error:
            log.error("trial %d raised:\n%s", state.trial.number, traceback.format_exc())
            return _Outcome(False, f"{type(error).__name__}: {error}")
        return _Outcome(True)

    def _forward(self, state: _Running, resource: float, value: ReportValue) -> Decision:
        """Send one report to the coordinator (in order, one at a time per trial), or buffer it
        while the coordinator cannot be reached."""
        report = _BufferedReport(resource, value, uuid.uuid4().hex)
        with state.lock:
            halted = state.told_to_stop
            if halted is not None:
                # Reports a command prints after it was told to stop are not forwarded.
                return halted
            if not state.backlog:
                try:
                    return self._send(state, report)
                except RemoteError as error:
                    log.warning(
                        "trial %d: coordinator unreachable (%s); buffering reports",
                        state.trial.number,
                        error,
                    )
            state.backlog.append(report)
            if state.drained.is_set():
                state.drained.clear()
                threading.Thread(
                    target=self._deliver, args=(state,), name="hpo-deliver", daemon=True
                ).start()
        if resource >= state.trial.resource:
            # The assignment ends here whatever the coordinator decides (pause, stop or
            # complete): stop training instead of running past it unsupervised, and keep the
            # checkpoint, which a pause or a later promotion needs (PAUSE).
            return Decision(
                DecisionAction.PAUSE, None, TrialState.RUNNING, _BUFFERED_AT_TARGET, buffered=True
            )
        return Decision(DecisionAction.CONTINUE, None, TrialState.RUNNING, _BUFFERED, buffered=True)

    def _send(self, state: _Running, report: _BufferedReport) -> Decision:
        """Report to the coordinator (the caller holds ``state.lock``) and act on the answer.
        Raises RemoteError when the coordinator cannot be reached."""
        try:
            # Held: the assignment is released by _settle once the training process exited,
            # so a checkpoint still being written is not handed to another worker.
            decision = state.trial.report(
                report.resource, report.value, report.request_id, hold=True
            )
        except RemoteError:
            raise
        except FailedPreconditionError as error:
            # The trial is no longer this worker's (its lease expired): stop, write nothing.
            state.lost_reason = f"the coordinator refused a report: {error}"
            log.warning("trial %d: %s", state.trial.number, state.lost_reason)
            if state.process is not None:
                self._terminate_later(state.process, 0.0)
            return _lost(state.lost_reason)
        except HpoError as error:
            state.rejected = f"report ({report.resource:g}, {report.value!r}) rejected: {error}"
            log.error("trial %d: %s", state.trial.number, state.rejected)
            return _refused(state.rejected)
        if decision.should_stop:
            state.stop_decision = decision
            log.info(
                "trial %d: %s at %g (%s)",
                state.trial.number,
                decision.state.value,
                report.resource,
                decision.reason,
            )
        return decision

    def _deliver(self, state: _Running) -> None:
        """Deliver a trial's buffered reports in order, backing off while the coordinator is
        away. Reports after one answered with stop are dropped: the coordinator has decided."""
        backoff = Backoff()
        while True:
            stopping = self._stopping.is_set()
            with state.lock:
                if not state.backlog:
                    state.drained.set()
                    return
                try:
                    decision = self._send(state, state.backlog[0])
                except RemoteError:
                    delay = backoff.next_delay()
                else:
                    state.backlog.popleft()
                    backoff.reset()
                    if decision.should_stop and state.backlog:
                        log.info(
                            "trial %d: dropped %d buffered report(s) made after its stop",
                            state.trial.number,
                            len(state.backlog),
                        )
                        state.backlog.clear()
                    if state.stop_decision is not None and state.process is not None:
                        self._terminate_later(state.process, self.grace_seconds)
                    continue
            self._wait_to_retry(delay, stopping)

    def _lose(self, state: _Running, reason: str) -> None:
        """The trial must stop for this worker's own reason; terminate its command."""
        with state.lock:
            if state.lost_reason is None:
                state.lost_reason = reason
            process = state.process
        log.warning("trial %d: %s", state.trial.number, reason)
        if process is not None:
            self._terminate_later(process, 0.0)

    @staticmethod
    def _terminate_later(process: TrialProcess, delay: float) -> None:
        timer = threading.Timer(delay, process.terminate)
        timer.daemon = True
        timer.start()

    def _settle(self, state: _Running, outcome: _Outcome) -> None:
        """Complete or fail the trial, with the reason that matters most, once its buffered
        reports are delivered (a stopping worker waits for them at most its grace period)."""
        while not state.drained.wait(self.grace_seconds if self._stopping.is_set() else 1.0):
            if self._stopping.is_set():
                log.warning(
                    "trial %d: %d report(s) still buffered at shutdown",
                    state.trial.number,
                    len(state.backlog),
                )
                break
        trial = state.trial
        if state.rejected is not None:
            reason: str | None = state.rejected
        elif state.stop_decision is not None:
            reason = None
        elif state.lost_reason is not None:
            reason = state.lost_reason
        else:
            reason = None if outcome.succeeded else outcome.reason
        request_id = uuid.uuid4().hex
        try:
            record = self._until_delivered(
                lambda: (
                    trial.complete(request_id) if reason is None else trial.fail(reason, request_id)
                )
            )
        except HpoError as error:
            log.warning("trial %d: could not settle: %s", trial.number, error)
            with self._lock:
                self.summary.failed += 1
            return
        with self._lock:
            if reason is None:
                self.summary.completed += 1
            else:
                self.summary.failed += 1
        log.info("trial %d: %s", trial.number, record.state.value)

    def _until_delivered(self, call: Callable[[], Result]) -> Result:
        """``call()``, retried with backoff while the coordinator is unreachable; a stopping
        worker gives up after its grace period (the trial's lease then settles it)."""
        backoff = Backoff()
        give_up_at: float | None = None
        while True:
            stopping = self._stopping.is_set()
            try:
                return call()
            except RemoteError as error:
                now = time.monotonic()
                delay = backoff.next_delay()
                if stopping:
                    give_up_at = give_up_at or now + self.grace_seconds
                    if now >= give_up_at:
                        raise
                    delay = min(delay, give_up_at - now)
                log.warning("coordinator unreachable (%s); retrying in %.1fs", error, delay)
                self._wait_to_retry(delay, stopping)

    def _wait_to_retry(self, delay: float, stopping: bool) -> None:
        """Wait ``delay`` seconds before trying the coordinator again. ``stopping`` says whether
        the worker was stopping when the failed try began: if not, a stop (SIGTERM) cuts the
        wait short, so the worker acts on it at once instead of after a backoff of up to 15 s.
        A worker already stopping retries within its grace period, and nothing is left that
        could end those waits early."""
        if stopping:
            time.sleep(delay)
        else:
            self._stopping.wait(delay)


@dataclass(frozen=True)
class _ForwardingReporter:
    """What ``hpo.report`` calls in function mode: the worker's own forwarding."""

    worker: Worker
    state: _Running

    def report(self, resource: float, value: ReportValue) -> Decision:
        return self.worker._forward(self.state, resource, value)
