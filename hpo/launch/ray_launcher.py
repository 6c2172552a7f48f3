"""``hpo launch ray``: N ``hpo worker`` daemons, each a Ray task that holds its GPUs.

Each task asks Ray for ``num_gpus`` and ``num_cpus`` and runs ``python -m hpo worker`` as a
child process until it exits. A child rather than the worker loop inside the task, because
then the worker handles signals, process groups and its trials' output exactly as it does
anywhere else, and the trial sees the GPUs Ray granted: Ray sets ``CUDA_VISIBLE_DEVICES`` in
the task's environment, the worker inherits it and passes it on to each trial unchanged (it
only overrides it with ``--gpus``, which the launcher never gives). So one worker runs one
trial at a time on all of its ``--gpus-per-worker`` GPUs; for one trial per GPU, launch one
worker per GPU. A task granted no GPU shows its worker none (``CUDA_VISIBLE_DEVICES=""``).

The child inherits the task's standard output and error, which Ray writes to the worker
log files of its node (``/tmp/ray/session_*/logs/worker-*.out|.err``) and streams to the
driver, where each line carries the task's name and pid.

Ray is imported inside the functions: this module is imported on nodes with the light core
(the task's code is looked up by module name on the Ray node).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hpo.launch.common import hpo_command, merged_environment

# Ray's default for tasks: a worker whose process or node died is started again this often.
DEFAULT_MAX_RETRIES = 3
# How long a cancelled task, or the interrupted launcher, may take to notice it (see
# run_worker and launch).
CANCEL_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class WorkerExit:
    """What one task saw: where it ran, the GPUs its worker was shown and its exit status."""

    node: str
    cuda_visible_devices: str | None
    code: int


@dataclass(frozen=True)
class WorkerResult:
    """One worker's end as the launcher saw it: an exit status, or Ray's error."""

    index: int
    exit: WorkerExit | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit is not None and self.exit.code == 0

    def describe(self) -> str:
        if self.exit is None:
            return f"worker {self.index}: {self.error}"
        gpus = self.exit.cuda_visible_devices
        return (
            f"worker {self.index} on {self.exit.node} "
            f"(CUDA_VISIBLE_DEVICES={'unset' if gpus is None else repr(gpus)}): "
            f"exit status {self.exit.code}"
        )


def _wait_interruptibly(process: subprocess.Popen[bytes]) -> int:
    """The process's exit status. Ray cancels a task by raising KeyboardInterrupt between two
    bytecodes, which a blocking waitpid never reaches: wait in steps it can break into."""
    while True:
        try:
            return process.wait(timeout=CANCEL_CHECK_SECONDS)
        except subprocess.TimeoutExpired:
            pass


def run_worker(arguments: Sequence[str], environment: dict[str, str]) -> WorkerExit:
    """The body of one Ray task: ``hpo worker ARGUMENTS`` with ``environment`` added to the
    task's, until it exits.

    ``ray.cancel`` interrupts the task with KeyboardInterrupt; the worker then gets SIGTERM,
    which makes it fail its running trials with the reason and exit, so no trial waits for
    its lease to lapse.
    """
    import ray

    if threading.current_thread() is threading.main_thread():
        # ray.cancel interrupts the task with _thread.interrupt_main(), which does nothing
        # while SIGINT is ignored, as it is in every process started from a shell's background
        # job (nohup CMD &, a CI runner), Ray's workers included: the task then never ended.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    child = merged_environment(os.environ, environment)
    if not ray.get_gpu_ids():
        # Ray leaves CUDA_VISIBLE_DEVICES alone for a task without GPUs (2.60 does), which
        # would let its trials use every GPU of the node, held by other tasks.
        child["CUDA_VISIBLE_DEVICES"] = ""
    process = subprocess.Popen([*hpo_command(sys.executable), *arguments], env=child)
    try:
        code = _wait_interruptibly(process)
    except KeyboardInterrupt:
        process.terminate()
        process.wait()
        raise
    return WorkerExit(
        node=ray.util.get_node_ip_address(),
        cuda_visible_devices=child.get("CUDA_VISIBLE_DEVICES"),
        code=code,
    )


def launch(
    *,
    workers: int,
    gpus_per_worker: float,
    cpus_per_worker: float,
    address: str | None,
    arguments: Sequence[str],
    environment: dict[str, str],
    max_retries: int = DEFAULT_MAX_RETRIES,
    on_result: Callable[[WorkerResult], None] = lambda result: None,
    on_warning: Callable[[str], None] = lambda message: None,
) -> list[WorkerResult]:
    """Run ``workers`` tasks of :func:`run_worker` on the Ray cluster at ``address`` (None:
    ``RAY_ADDRESS``, else a new local Ray) and wait for all of them.

    ``on_result`` is called as each worker ends. SIGINT or SIGTERM cancels the remaining
    tasks (their workers get SIGTERM) and re-raises KeyboardInterrupt once they ended.
    """
    import ray
    from ray.exceptions import RayError

    ray.init(address=address)
    # Both interrupt the launcher (and cancel the workers), also where the launcher was
    # started with SIGINT ignored (from a background job).
    previous = {
        signum: signal.signal(signum, signal.default_int_handler)
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        available = ray.cluster_resources().get("GPU", 0.0)
        if gpus_per_worker > available:
            # Not an error: an autoscaling cluster adds GPU nodes for pending tasks.
            on_warning(
                f"the Ray cluster has {available:g} GPUs now; each worker asks for "
                f"{gpus_per_worker:g}, so they wait until nodes with GPUs join"
            )
        task = ray.remote(run_worker)
        indices: dict[ray.ObjectRef, int] = {
            task.options(
                num_gpus=gpus_per_worker,
                num_cpus=cpus_per_worker,
                max_retries=max_retries,
                name=f"hpo-worker-{index}",
            ).remote(list(arguments), environment): index
            for index in range(workers)
        }

        def result(ref: ray.ObjectRef) -> WorkerResult:
            try:
                return WorkerResult(indices[ref], ray.get(ref))
            except RayError as error:
                lines = str(error).strip().splitlines()
                detail = f"{type(error).__name__}: {lines[0] if lines else ''}"
                return WorkerResult(indices[ref], None, detail)

        results: list[WorkerResult] = []
        pending = list(indices)
        try:
            while pending:
                # With a timeout: a wait without one can block in Ray's C++ core until a task
                # ends, and Python runs the SIGINT/SIGTERM handler only between bytecodes, so
                # an interrupt waited for a worker that might never end (seen in a CI run).
                done, pending = ray.wait(pending, num_returns=1, timeout=CANCEL_CHECK_SECONDS)
                for ref in done:
                    results.append(result(ref))
                    on_result(results[-1])
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref)
            for ref in pending:
                results.append(result(ref))
                on_result(results[-1])
            raise
        return sorted(results, key=lambda outcome: outcome.index)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        ray.shutdown()
