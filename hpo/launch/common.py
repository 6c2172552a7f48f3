"""What every launcher shares: the worker's command line and the environment that carries
the coordinator's address and the token to it.

The token never goes on a command line (argv is visible in ``ps`` on every node): a
launcher reads it once (``--token-file`` or ``HPO_TOKEN``) and hands it to the engine
through an environment variable, which ``hpo worker`` reads (docs/security.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from hpo.client import ENV_TOKEN

ENV_COORDINATOR = "HPO_COORDINATOR"
# hpo worker prefers a token file to HPO_TOKEN: one inherited from the launching shell
# could name a file the engine's nodes do not have, so the launchers drop it.
ENV_TOKEN_FILE = "HPO_TOKEN_FILE"


def worker_arguments(
    study: str, workdir: Path | str, command: Sequence[str], *, quiet: bool = False
) -> list[str]:
    """The arguments of ``hpo worker`` after ``hpo``: the study, the trial directories and
    the training command. The coordinator and the token travel in the environment
    (:func:`worker_environment`), never here."""
    options = ["worker", "--study", study, "--workdir", str(workdir)]
    if quiet:
        options.append("--quiet")
    return [*options, "--", *command]


def hpo_command(python: str) -> list[str]:
    """How to start hpo with ``python``: ``python -m hpo`` needs no console script on PATH."""
    return [python, "-m", "hpo"]


def worker_environment(coordinator: str, token: str | None) -> dict[str, str]:
    """The variables a worker needs: its coordinator, and the token when there is one (a
    loopback coordinator in anonymous mode needs none)."""
    environment = {ENV_COORDINATOR: coordinator}
    if token is not None:
        environment[ENV_TOKEN] = token
    return environment


def merged_environment(base: Mapping[str, str], worker: Mapping[str, str]) -> dict[str, str]:
    """``base`` (the engine's environment of the task) with the worker's variables set and a
    token that is not the launcher's removed, so the worker uses exactly what it was given."""
    environment = {
        name: value for name, value in base.items() if name not in (ENV_TOKEN, ENV_TOKEN_FILE)
    }
    environment.update(worker)
    return environment
