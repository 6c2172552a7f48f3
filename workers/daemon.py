"""The worker daemon: claim trials from a coordinator, run them, forward reports, heartbeat.

A worker runs one loop per *slot* (one per GPU with ``--gpus``, pinned through
``CUDA_VISIBLE_DEVICES``). Each loop asks for an assignment, runs it (a command
in its own process group, or a Python function in-process), forwards every
report and hands the decision back, and finally completes or fails the trial.
A heartbeat thread extends the leases of the running trials; a trial whose
lease is lost is stopped.

Stopping the worker (``stop()``, SIGTERM/SIGINT in ``hpo worker``) takes no new
trials, terminates running commands (SIGTERM, SIGKILL after a grace period)
and fails their trials with the reason, so no trial is silently lost.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hpo.client import Client, Decision, Study, Trial
from hpo.errors import HpoError, RemoteError
from hpo.state import TrialState
from hpo.trial_api import TrialContext, parse_stdout_report, running
from hpo.workers.process import KILL_AFTER_TERM_SECONDS, TrialProcess

log = logging.getLogger("hpo.worker")

DEFAULT_GRACE_SECONDS = 30.0
DEFAULT_HEARTBEAT_SECONDS = 10.0
RETRY_SECONDS = 2.0

TrialFunction = Callable[[TrialContext], object]


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
    # The coordinator answered a report with stop (pause, prune or r_max).
    stop_decided: bool = False
    # A report the coordinator refused (e.g. a NaN value): the trial fails with it.
    rejected: str | None = None


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
        study = self.client.get_study(self.study_name)
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
        while not self._stopping.is_set() and self._claim_budget():
            try:
                trial = study.suggest(cancel=self._stopping)
            except RemoteError as error:
                log.warning("coordinator unreachable (%s); retrying in %gs", error, RETRY_SECONDS)
                with self._lock:
                    if self._budget is not None:
                        self._budget += 1
                self._stopping.wait(RETRY_SECONDS)
                continue
            except HpoError as error:
                log.error("cannot get work from study %r: %s", self.study_name, error)
                return
            if trial is None:
                return
            state = _Running(trial, slot)
            with self._lock:
                self._active[trial.id] = state
                self.summary.assignments += 1
                self._heartbeat_seconds = min(self._heartbeat_seconds, trial.heartbeat_seconds)
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
        while not self._finished.wait(self._heartbeat_seconds):
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
            except ValueError:
                log.warning("trial %d: ignored malformed report line %r", state.trial.number, line)
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

    def _forward(self, state: _Running, resource: float, value: float) -> Decision:
        """Send one report to the coordinator (in order, one at a time per trial)."""
        with state.lock:
            if state.stop_decided or state.lost_reason or state.rejected:
                # Reports a command prints after it was told to stop are not forwarded.
                reason = state.lost_reason or state.rejected or "already told to stop"
                return Decision(True, None, TrialState.RUNNING, reason)
            try:
                decision = state.trial.report(resource, value)
            except HpoError as error:
                state.rejected = f"report ({resource:g}, {value!r}) rejected: {error}"
                log.error("trial %d: %s", state.trial.number, state.rejected)
                return Decision(True, None, TrialState.RUNNING, state.rejected)
            if decision.should_stop:
                state.stop_decided = True
                log.info(
                    "trial %d: %s at %g (%s)",
                    state.trial.number,
                    decision.state.value,
                    resource,
                    decision.reason,
                )
            return decision

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
        """Complete or fail the trial, with the reason that matters most."""
        trial = state.trial
        if state.rejected is not None:
            reason: str | None = state.rejected
        elif state.stop_decided:
            reason = None
        elif state.lost_reason is not None:
            reason = state.lost_reason
        else:
            reason = None if outcome.succeeded else outcome.reason
        try:
            record = trial.complete() if reason is None else trial.fail(reason)
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


@dataclass(frozen=True)
class _ForwardingReporter:
    """What ``hpo.report`` calls in function mode: the worker's own forwarding."""

    worker: Worker
    state: _Running

    def report(self, resource: float, value: float) -> Decision:
        return self.worker._forward(self.state, resource, value)
