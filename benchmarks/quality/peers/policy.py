"""The simulator's side of a peer: a :class:`~benchmarks.quality.simulator.Policy` that talks to
a runner script in the peer library's own environment (protocol: see protocol.py).

The runner starts when the policy is made and ends when it is closed: by :meth:`PeerPolicy.close`,
at the end of a ``with`` block, or when the policy is garbage-collected (the simulator keeps
no reference after a run) or the interpreter exits. A runner that dies or fails a request
raises :class:`PeerError` naming the peer and the method, with the tail of its stderr.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import tempfile
import weakref
from pathlib import Path
from typing import IO, Any

from benchmarks.quality.peers.envs import Peer, peer_of
from benchmarks.quality.problems import Problem
from benchmarks.quality.simulator import Job
from hpo.schedulers.rungs import rung_levels
from hpo.space import Categorical, Config, Float, Int, Parameter, Space

STDERR_TAIL = 4000  # characters of a failed runner's stderr shown in the error
CLOSE_SECONDS = 10
# Single-threaded numerics, like the benchmark's own processes.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class PeerError(RuntimeError):
    """A peer's runner died, answered nonsense or failed a request."""


def space_to_json(space: Space) -> list[dict[str, Any]]:
    """The space as the protocol sends it: a list of parameters in order."""
    parameters: list[dict[str, Any]] = []
    for name, parameter in space.items():
        if isinstance(parameter, (Float, Int)):
            kind = "float" if isinstance(parameter, Float) else "int"
            parameters.append(
                {
                    "name": name,
                    "kind": kind,
                    "low": parameter.low,
                    "high": parameter.high,
                    "log": parameter.log,
                }
            )
        else:
            assert isinstance(parameter, Categorical)
            parameters.append(
                {"name": name, "kind": "categorical", "choices": list(parameter.choices)}
            )
    return parameters


def _value(name: str, parameter: Parameter, value: Any) -> Any:
    if isinstance(parameter, Float):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{name}: the peer gave {value!r}")
        # A library's log/exp round trip may land an ulp outside the bounds.
        return min(max(number, float(parameter.low)), float(parameter.high))
    if isinstance(parameter, Int):
        if isinstance(value, bool) or float(value) != round(float(value)):
            raise ValueError(f"{name}: the peer gave {value!r} for an int parameter")
        return min(max(int(round(float(value))), parameter.low), parameter.high)
    assert isinstance(parameter, Categorical)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}: the peer gave {value!r}, not a choice index")
    if not 0 <= value < len(parameter.choices):
        raise ValueError(f"{name}: the peer gave choice {value} of {len(parameter.choices)}")
    return parameter.choices[value]


def config_from_json(space: Space, values: dict[str, Any]) -> Config:
    """A runner's config as hpo's: floats as float, ints as int, categoricals as the exact
    choice (the runner sends its index)."""
    if set(values) != set(space):
        raise ValueError(f"the peer's config has parameters {sorted(values)}, not {sorted(space)}")
    config = {name: _value(name, parameter, values[name]) for name, parameter in space.items()}
    return space.validate(config)


def _shutdown(process: subprocess.Popen, stderr: IO[bytes], directory: Any) -> None:
    """End a runner (a ``close`` request, then a kill) and drop its files."""
    try:
        if process.poll() is None:
            try:
                assert process.stdin is not None
                process.stdin.write(json.dumps({"op": "close"}) + "\n")
                process.stdin.flush()
                process.wait(timeout=CLOSE_SECONDS)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                process.kill()
                process.wait()
    finally:
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):  # a dead runner's broken pipe
                    stream.close()
        stderr.close()
        directory.cleanup()


class PeerPolicy:
    """One of a peer library's methods, run by its runner in the peer's environment.

    ``interpreter`` and ``runner`` replace the peer environment's python and runner script
    (tests use them to run a stand-in runner)."""

    def __init__(
        self,
        problem: Problem,
        method: str,
        seed: int,
        workers: int | None = None,
        *,
        peer: Peer | None = None,
        interpreter: Path | None = None,
        runner: Path | None = None,
    ) -> None:
        self.problem = problem
        self.method = method
        self.peer = peer or peer_of(method)
        self.name = self.peer.name
        if interpreter is None:
            problem_with_env = self.peer.problem()
            if problem_with_env is not None:
                raise PeerError(f"{self.name} environment {problem_with_env}")
            interpreter = self.peer.python
        runner = runner or self.peer.runner_path
        self._levels = rung_levels(problem.resource)
        self._finished = False
        # Closed by the finalizer with the runner, not by a with block.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self._directory = tempfile.TemporaryDirectory(prefix=f"hpo-peer-{self.name}-")
        environment = dict(os.environ)
        environment.update({variable: "1" for variable in THREAD_VARIABLES})
        # -E: no PYTHONPATH that could lead the runner to hpo; -s: no user site-packages.
        self._process = subprocess.Popen(
            [str(interpreter), "-E", "-s", str(runner)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=self._directory.name,
            env=environment,
            text=True,
            encoding="utf-8",
        )
        self._finalizer = weakref.finalize(
            self, _shutdown, self._process, self._stderr, self._directory
        )
        resource = problem.resource
        answer = self._call(
            "init",
            method=method,
            space=space_to_json(problem.space),
            resource={"r_min": resource.r_min, "r_max": resource.r_max, "eta": resource.eta},
            seed=int(seed),
            workers=workers,
        )
        self.library_version = f"{answer.get('library')} {answer.get('version')}"

    # --- the Policy protocol ---------------------------------------------------------------

    def suggest(self, worker: int) -> Job | None:
        answer = self._call("suggest", worker=worker)
        job = answer.get("job")
        if job is None:
            self._finished = bool(answer.get("finished"))
            return None
        try:
            config = config_from_json(self.problem.space, job["config"])
            start, target = self._level(job["start"]), self._level(job["target"])
        except (KeyError, TypeError, ValueError) as error:
            raise self._error(f"gave an unusable job {job!r}: {error}") from None
        if not (0 <= start < target <= self.problem.resource.r_max):
            raise self._error(f"gave a job from {start} to {target}")
        return Job(str(job["id"]), config, start, target)

    def report(self, job: Job, resource: float, value: float) -> bool:
        return bool(self._call("report", id=job.key, resource=resource, value=value)["continue"])

    def finish(self, job: Job) -> None:
        self._call("finish", id=job.key)

    def finished(self) -> bool:
        return self._finished

    def details(self) -> dict[str, Any]:
        """Stored with the run (benchmarks.quality.runs): which library ran it."""
        return {"library": self.library_version}

    # --- the runner ---------------------------------------------------------------------------

    def close(self) -> None:
        """End the runner (also done when the policy is garbage-collected)."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    @property
    def exit_code(self) -> int | None:
        """The runner's exit status, None while it runs."""
        return self._process.poll()

    def __enter__(self) -> PeerPolicy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _level(self, value: Any) -> float:
        """A resource from the runner, snapped onto a rung level it misses by rounding only
        (SMAC and DEHB compute theirs as ``r_max * eta**-k``)."""
        number = float(value)
        if number == 0:
            return 0.0
        for level in self._levels:
            if abs(number - level) <= 1e-9 * level:
                return level
        return number

    def _call(self, op: str, **fields: Any) -> dict[str, Any]:
        if self.closed:
            raise PeerError(f"{self.name} runner for {self.method} is closed")
        process = self._process
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
            process.stdin.flush()
            line = process.stdout.readline()
        except (BrokenPipeError, OSError):
            line = ""
        if not line:
            try:
                code = process.wait(timeout=CLOSE_SECONDS)
            except subprocess.TimeoutExpired:
                code = None
            raise self._error(f"died (exit code {code}) on {op!r}")
        try:
            answer = json.loads(line)
        except json.JSONDecodeError:
            raise self._error(f"answered {op!r} with {line[:200]!r}, not JSON") from None
        if not answer.get("ok"):
            raise self._error(f"failed on {op!r}:\n{answer.get('error', answer)}")
        return answer

    def _error(self, what: str) -> PeerError:
        error = PeerError(
            f"{self.name} runner for {self.method} {what}\n"
            f"--- stderr of {self.name}'s runner (tail) ---\n{self._stderr_tail()}"
        )
        self.close()
        return error

    def _stderr_tail(self) -> str:
        try:
            self._stderr.flush()
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - 4 * STDERR_TAIL))
            text = self._stderr.read().decode("utf-8", errors="replace")
        except (OSError, ValueError):
            return "(unreadable)"
        return text[-STDERR_TAIL:].strip() or "(empty)"
