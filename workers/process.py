"""One run of the user's command for one assignment, with its report and decision pipes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

from hpo.client import ENV_TOKEN, Decision
from hpo.trial_api import (
    ENV_DECISION_FD,
    ENV_REPORT_FD,
    ReportValue,
    decode_report,
    encode_decision,
)

KILL_AFTER_TERM_SECONDS = 10.0
TAIL_LINES = 20


class TrialProcess:
    """The command in its own process group, so stopping it stops everything it started.

    The trial reports through an inherited pipe (``HPO_REPORT_FD``) and reads
    each decision from a second one (``HPO_DECISION_FD``); stdout and stderr
    are merged, echoed and kept in ``output.log`` of the trial directory.
    """

    def __init__(
        self,
        command: Sequence[str],
        environment: Mapping[str, str],
        log_path: Path,
    ) -> None:
        report_read, report_write = os.pipe()
        decision_read, decision_write = os.pipe()
        # The trial talks to the worker through pipes, never to the coordinator: it does not
        # get the worker's bearer token.
        inherited = {name: value for name, value in os.environ.items() if name != ENV_TOKEN}
        env = {
            **inherited,
            **environment,
            ENV_REPORT_FD: str(report_write),
            ENV_DECISION_FD: str(decision_read),
        }
        try:
            self._process = subprocess.Popen(
                list(command),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(report_write, decision_read),
                start_new_session=True,
                text=True,
                bufsize=1,
                errors="replace",
            )
        except OSError:
            os.close(report_read)
            os.close(decision_write)
            raise
        finally:
            # The child holds its own copies; closing ours lets EOF reach the readers.
            os.close(report_write)
            os.close(decision_read)
        self._reports: IO[str] = os.fdopen(report_read, "r")
        self._decisions: IO[str] = os.fdopen(decision_write, "w", buffering=1)
        self._log = log_path.open("a", encoding="utf-8")
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._terminating = threading.Lock()

    @property
    def pid(self) -> int:
        return self._process.pid

    def reports(self) -> Iterator[tuple[float, ReportValue]]:
        """Reports the trial sends through ``hpo.report``, until it closes the pipe or exits."""
        for line in self._reports:
            if line.strip():
                yield decode_report(line)

    def answer(self, decision: Decision) -> None:
        try:
            self._decisions.write(encode_decision(decision))
            self._decisions.flush()
        except (BrokenPipeError, ValueError):
            pass  # The trial exited (or closed its end) before reading the answer.

    def output(self) -> Iterator[str]:
        """Lines the command prints (stdout and stderr), until it closes them."""
        assert self._process.stdout is not None
        for line in self._process.stdout:
            line = line.rstrip("\n")
            self._log.write(line + "\n")
            self._log.flush()
            self.tail.append(line)
            yield line

    def wait(self) -> int:
        """Wait for the command to exit, then kill what it left running in its group, so the
        pipes reach EOF; returns its exit status."""
        code = self._process.wait()
        self._signal(signal.SIGKILL)
        return code

    def close(self) -> None:
        """Release the pipes and the log, once the readers are done."""
        assert self._process.stdout is not None
        for stream in (self._reports, self._decisions, self._log, self._process.stdout):
            with contextlib.suppress(OSError):
                stream.close()

    def terminate(self, grace: float = KILL_AFTER_TERM_SECONDS) -> None:
        """SIGTERM the process group, then SIGKILL it if it is still alive after ``grace``."""
        with self._terminating:
            if self._process.poll() is not None:
                return
            self._signal(signal.SIGTERM)
            try:
                self._process.wait(grace)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, sig)
