"""The JSON-lines protocol between the simulator and a peer's runner; standard library only.

The simulator side (:mod:`benchmarks.quality.peers.policy`, in the main virtual
environment) starts a runner script with the peer's own interpreter and writes
one JSON object per line to its stdin; the runner answers every request with
one JSON object on one line of its stdout, in order:

=====================================================  ===========================================
request                                                answer
=====================================================  ===========================================
``{"op": "init", "method", "space", "resource",        ``{"ok": true, "library", "version"}``
"seed", "workers"}``
``{"op": "suggest", "worker"}``                        ``{"ok": true, "job": {"id", "config",
                                                       "start", "target"} or null, "finished"}``
``{"op": "report", "id", "resource", "value"}``        ``{"ok": true, "continue": bool}``
``{"op": "finish", "id"}``                             ``{"ok": true}``
``{"op": "close"}``                                    ``{"ok": true}``, then the runner exits
=====================================================  ===========================================

A failed request is answered ``{"ok": false, "error": "<traceback>"}``; the runner
keeps serving (the simulator side raises). End of input ends the runner too.

* ``space``: a list of parameters in the space's order, each
  ``{"name", "kind": "float" | "int", "low", "high", "log"}`` or
  ``{"name", "kind": "categorical", "choices": [...]}``.
* ``resource``: ``{"r_min", "r_max", "eta"}``; values are minimised.
* ``workers``: the number of simulated workers, or null when the simulator side does
  not know it (no peer needs it: every one is asked and told, never run by its own
  worker pool).
* A job trains ``config`` from resource ``start`` (0 for a fresh trial, the level it
  paused at for a resumed one) to at most ``target``; ``id`` is a string unique among
  the runner's jobs. The worker reports at every rung level it crosses and at
  ``target``; ``"continue": false`` stops it there. ``finish`` follows the last report
  of every job. ``"job": null`` means "wait"; ``"finished": true`` with it, that no job
  will ever come again.
* Config values: a float for a float parameter, an int for an int one, and for a
  categorical one the *index* of the choice in ``choices``, so that the choice's exact
  value and type (``1`` against ``True`` against ``"1"``) never depend on how a library
  stores categories: the simulator side maps it back.

Runners print their libraries' chatter to stderr: :func:`claim_stdout`, called before
the library is imported, points file descriptor 1 at stderr and keeps a private
duplicate of it for the protocol.
"""

from __future__ import annotations

import json
import math
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, Protocol, TextIO

FLOAT = "float"
INT = "int"
CATEGORICAL = "categorical"


class Optimizer(Protocol):
    """What a runner implements, one instance per ``init``."""

    library: str
    version: str

    def suggest(self, worker: int) -> tuple[dict[str, Any] | None, bool]:
        """``(job, finished)``: a job as in the protocol, or None to wait."""
        ...

    def report(self, job_id: str, resource: float, value: float) -> bool: ...

    def finish(self, job_id: str) -> None: ...


def choice_labels(choices: list[Any]) -> list[str]:
    """String labels for a categorical's choices, for libraries that want strings: the
    choices' own text where that is unambiguous, else their positions."""
    labels = [str(choice) for choice in choices]
    if len(set(labels)) == len(labels):
        return labels
    return [f"choice{index}" for index in range(len(choices))]


def wire_config(
    space: list[dict[str, Any]], labels: dict[str, list[str]], config: Any
) -> dict[str, Any]:
    """A library's configuration (anything indexable by name) as the protocol sends it: floats,
    ints, and each categorical as the index of its label in ``labels``."""
    values: dict[str, Any] = {}
    for parameter in space:
        name, kind = parameter["name"], parameter["kind"]
        if kind == FLOAT:
            values[name] = float(config[name])
        elif kind == INT:
            values[name] = int(config[name])
        else:
            values[name] = labels[name].index(str(config[name]))
    return values


def integer_levels(resource: dict[str, Any]) -> tuple[int, int, float]:
    """``(r_min, r_max, eta)`` for a library that counts resource in whole units: every rung
    level must be a whole number."""
    levels = rung_levels(resource)
    if any(level != round(level) for level in levels):
        raise ValueError(f"this peer needs whole rung levels, got {levels}")
    return round(levels[0]), round(levels[-1]), float(resource["eta"])


def rung_levels(resource: dict[str, Any]) -> list[float]:
    """The rung levels ``r_min * eta**k`` below ``r_max``, and ``r_max``, as the simulator's."""
    r_min, r_max, eta = (float(resource[key]) for key in ("r_min", "r_max", "eta"))
    levels = []
    level = r_min
    while level < r_max * (1 - 1e-9):
        levels.append(level)
        level *= eta
    return [*levels, r_max]


def finite(value: float) -> float:
    """A reported value for a library that cannot take inf or NaN (none is expected)."""
    number = float(value)
    return number if math.isfinite(number) else sys.float_info.max


_channel: TextIO | None = None


def claim_stdout() -> TextIO:
    """Keep stdout for the protocol and send everything else printed there to stderr.

    A runner calls this before it imports its library: some print on import."""
    global _channel
    if _channel is None:
        sys.stdout.flush()
        _channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # file descriptor 1 is stderr now
        sys.stdout = sys.stderr
    return _channel


def serve(create: Callable[[dict[str, Any]], Optimizer]) -> None:
    """Answer requests from stdin until ``close`` or end of input."""
    channel = claim_stdout()
    optimizer: Optimizer | None = None
    for line in sys.stdin:
        if not line.strip():
            continue
        op = None
        try:
            request = json.loads(line)
            op = request["op"]
            answer: dict[str, Any] = {"ok": True}
            if op == "init":
                optimizer = create(request)
                answer.update(library=optimizer.library, version=optimizer.version)
            elif op == "close":
                pass
            elif optimizer is None:
                raise RuntimeError(f"{op!r} before init")
            elif op == "suggest":
                job, finished = optimizer.suggest(int(request["worker"]))
                answer.update(job=job, finished=finished)
            elif op == "report":
                keep = optimizer.report(
                    str(request["id"]), float(request["resource"]), float(request["value"])
                )
                answer["continue"] = bool(keep)
            elif op == "finish":
                optimizer.finish(str(request["id"]))
            else:
                raise ValueError(f"unknown request {op!r}")
        except Exception:  # noqa: BLE001 - every failure goes back to the simulator side
            answer = {"ok": False, "error": traceback.format_exc()}
        channel.write(json.dumps(answer) + "\n")
        channel.flush()
        if op == "close":
            break
