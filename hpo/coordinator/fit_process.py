"""Background model fits: the GP studies' surrogates are fitted in a separate process.

On the coordinator's machine a BoTorch fit and its candidate search take a
second or more and hold the GIL in Python loops, so they run in one spawned
process with one torch thread, and the RPC threads never wait for them
(docs/architecture.md §2, "Never block the hot path on a model fit"). After each committed
change to a GP study the service calls :meth:`ModelManager.observe`; when a fit
is due (the schedule of :class:`hpo.samplers.gp.ModelSlot`) and none is running
for that study, a snapshot of the study goes to the process, and the candidate
pool that comes back serves the next suggestions. A failed fit, or a model
process that died, costs a log line: the study samples at random until the next
fit succeeds, and a new process is started when needed.

A study with ``deterministic`` set is fitted the other way round: ``pool``
waits for the due fit, so one worker's sequence of suggestions is the same on
every run.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from hpo.samplers.gp import CandidatePool, Fit, FitResult, ModelSlot
from hpo.samplers.model_input import ModelInput
from hpo.state import StudyState

log = logging.getLogger(__name__)

# The longest a deterministic study's suggest waits for its fit before it samples at random.
DETERMINISTIC_WAIT_SECONDS = 300.0


def _initialise_model_process() -> None:
    """Initialise the model process: die with the coordinator, and one thread for torch and
    the BLAS libraries."""
    _exit_with_parent()
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = "1"
    import torch

    torch.set_num_threads(1)


def _exit_with_parent() -> None:
    """Exit as soon as the coordinator is gone, however it went.

    A coordinator that exits cleanly shuts the pool down, but one killed with SIGKILL leaves
    its worker blocked on the call queue forever (about 390 MB, plus the resource tracker,
    reparented to init), and every crash and restart added one (issue 15). The parent's
    sentinel is a pipe the parent holds open: it becomes readable when the parent dies."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="hpo-exit-with-parent", daemon=True).start()


def _fit_in_process(data: ModelInput, warm: dict[str, Any] | None) -> FitResult:
    from hpo.samplers.gp_fit import fit_and_propose

    return fit_and_propose(data, warm)


def model_process() -> Executor:
    """One spawned process for the fits (spawned: forking a process with gRPC threads is unsafe)."""
    return ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_initialise_model_process,
    )


class ModelManager:
    """Keeps each GP study's candidate pool fresh without blocking the RPC threads."""

    def __init__(
        self,
        *,
        fit: Fit = _fit_in_process,
        executor_factory: Callable[[], Executor] = model_process,
        refit_fraction: float = 0.0,
        on_fit: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        # Told the duration of each fit that succeeds (the coordinator's metrics observe it).
        self._on_fit = on_fit
        self._fit = fit
        self._executor_factory = executor_factory
        self._executor: Executor | None = None
        self.refit_fraction = refit_fraction
        self._slots: dict[str, ModelSlot] = {}
        self._running: dict[str, Future[FitResult]] = {}
        self._lock = threading.Lock()
        # Notified whenever a fit ends, for wait_idle.
        self._fit_ended = threading.Condition(self._lock)
        self._closed = False

    def pool(self, state: StudyState) -> CandidatePool | None:
        name = state.spec.name
        if state.spec.deterministic:
            self._fit_now(state)
        else:
            self.observe(state)
        with self._lock:
            slot = self._slots.get(name)
            return slot.pool if slot is not None else None

    def waits_for_fit(self, state: StudyState) -> bool:
        if not state.spec.deterministic:
            return False  # fitted in the background; pool never waits
        with self._lock:
            slot = self._slots.get(state.spec.name) or ModelSlot()
            return not self._closed and slot.due(state, self.refit_fraction)

    def fit_due(self, state: StudyState) -> None:
        if state.spec.deterministic:
            self._fit_now(state)

    def observe(self, state: StudyState) -> None:
        """Start a fit for this study if one is due and none is running (call under the
        study's lock, after a commit)."""
        if state.spec.deterministic:
            return
        name = state.spec.name
        with self._lock:
            slot = self._slots.setdefault(name, ModelSlot())
            if self._closed or name in self._running or not slot.due(state, self.refit_fraction):
                return
            data = slot.request(state)
            future = self._submit(data, slot.hyperparameters)
            self._running[name] = future
        future.add_done_callback(lambda done: self._install(name, data, done))

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no fit is running; False if one still runs after ``timeout`` seconds."""
        with self._fit_ended:
            return self._fit_ended.wait_for(lambda: not self._running, timeout)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------ internals

    def _submit(self, data: ModelInput, warm: dict[str, Any] | None) -> Future[FitResult]:
        """Send a fit to the model process (under the lock), starting one if needed."""
        if self._executor is None:
            self._executor = self._executor_factory()
        try:
            return self._executor.submit(self._fit, data, warm)
        except BrokenProcessPool:
            log.warning("the model process had died; starting a new one")
            self._executor = self._executor_factory()
            return self._executor.submit(self._fit, data, warm)

    def _install(self, name: str, data: ModelInput, future: Future[FitResult]) -> None:
        with self._lock:
            self._running.pop(name, None)
            self._fit_ended.notify_all()
            slot = self._slots[name]
            try:
                result = future.result()
            except BrokenProcessPool:
                log.warning(
                    "study %s: the model process died during a fit; sampling at random "
                    "until the next fit",
                    name,
                )
                self._executor = None
                slot.fail(data)
            except Exception as error:  # noqa: BLE001 - any fit failure: fall back, never crash
                log.warning(
                    "study %s: model fit failed (%s: %s); sampling at random until the next fit",
                    name,
                    type(error).__name__,
                    error,
                )
                slot.fail(data)
            else:
                slot.install(data, result)
                self._on_fit(result.seconds)
                log.debug(
                    "study %s: fit %d on %d results took %.2f s",
                    name,
                    slot.fits,
                    data.n_results,
                    result.seconds,
                )

    def _fit_now(self, state: StudyState) -> None:
        """A deterministic study: run the due fit and wait for it."""
        name = state.spec.name
        with self._lock:
            slot = self._slots.setdefault(name, ModelSlot())
            if self._closed or not slot.due(state, self.refit_fraction):
                return
            data = slot.request(state)
            future = self._submit(data, slot.hyperparameters)
            self._running[name] = future
        try:
            future.result(timeout=DETERMINISTIC_WAIT_SECONDS)
        except TimeoutError:
            log.warning("study %s: the model fit took too long; sampling at random", name)
            future.cancel()
            with self._lock:
                self._running.pop(name, None)
                self._fit_ended.notify_all()
                slot.fail(data)
            return
        except Exception:  # noqa: BLE001 - _install reports it
            pass
        self._install(name, data, future)
