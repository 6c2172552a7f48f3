"""``hpo launch slurm``: N ``hpo worker`` daemons as the tasks of one ``sbatch`` job array.

The batch script comes from a template, with every value that reaches the shell quoted by
:func:`shlex.join`, and is handed to ``sbatch`` on its standard input (Slurm keeps its own
copy; nothing is left on disk). The coordinator's address and the token are not in it: they
are in the environment ``sbatch`` runs with, and ``--export=ALL,HPO_COORDINATOR,HPO_TOKEN``
names them, so Slurm carries them to every array task even where a site sets
``SBATCH_EXPORT=NONE``. Slurm keeps a job's environment in its controller's state, readable by
the Slurm administrators, never on the command line of a process.

Slurm sets ``CUDA_VISIBLE_DEVICES`` for the GPUs of ``--gres=gpu:G`` in each task; the worker
passes it on to its trials, so the script never gives ``hpo worker --gpus``.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from string import Template

from hpo.client import ENV_TOKEN
from hpo.launch.common import ENV_COORDINATOR

DEFAULT_OUTPUT = "slurm-%A_%a.out"


class _Script(Template):
    # `@name`, not `$name`: the script's own shell variables keep their `$`.
    delimiter = "@"


_TEMPLATE = _Script(
    """\
#!/bin/bash
#SBATCH --job-name=@job_name
#SBATCH --array=0-@last_index
#SBATCH --output=@output
@directives
# hpo worker for study @study, one per array task (written by `hpo launch slurm`).
# HPO_COORDINATOR and HPO_TOKEN come from the environment sbatch exported, never from here.
set -euo pipefail
echo "hpo worker ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} (job ${SLURM_JOB_ID}) on \
$(hostname), CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-unset}"
exec @worker
"""
)
# A value that would end its #SBATCH line early or start another line.
_UNSAFE = re.compile(r"[\s#]")


@dataclass(frozen=True)
class ArrayJob:
    """What the job array asks Slurm for."""

    study: str
    workers: int
    gpus_per_worker: int
    cpus_per_worker: int | None = None
    partition: str | None = None
    time: str | None = None
    account: str | None = None
    output: str = DEFAULT_OUTPUT

    def directives(self) -> list[str]:
        """The ``#SBATCH`` lines beyond the array's own, each value checked."""
        options = {
            "--gres": f"gpu:{self.gpus_per_worker}" if self.gpus_per_worker > 0 else None,
            "--cpus-per-task": None if self.cpus_per_worker is None else str(self.cpus_per_worker),
            "--partition": self.partition,
            "--time": self.time,
            "--account": self.account,
        }
        return [f"#SBATCH {name}={value}" for name, value in options.items() if value is not None]


class SlurmOptionError(ValueError):
    """An option Slurm would misread; ``option`` names it for the command line's error."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option


def _check(option: str, value: str | None) -> None:
    if value is not None and (not value or _UNSAFE.search(value)):
        raise SlurmOptionError(
            option, f"{value!r} is not a valid value: no spaces, line breaks or '#'"
        )


def render(job: ArrayJob, worker_command: Sequence[str]) -> str:
    """The batch script that runs ``worker_command`` in each of the array's tasks."""
    if job.workers < 1:
        raise SlurmOptionError("--workers", f"must be at least 1, got {job.workers}")
    if job.gpus_per_worker < 0:
        raise SlurmOptionError("--gpus-per-worker", f"must be 0 or more, got {job.gpus_per_worker}")
    for option, value in (
        ("--partition", job.partition),
        ("--time", job.time),
        ("--account", job.account),
        ("--output", job.output),
        ("--study", job.study),
    ):
        _check(option, value)
    return _TEMPLATE.substitute(
        job_name=f"hpo-{job.study}",
        last_index=job.workers - 1,
        output=job.output,
        directives="\n".join(job.directives()),
        study=job.study,
        worker=shlex.join(worker_command),
    )


class SubmitError(RuntimeError):
    """sbatch is missing or refused the job."""


def submit(script: str, environment: Mapping[str, str], sbatch: str = "sbatch") -> str:
    """Submit ``script`` with ``sbatch`` running in ``environment``; the job id.

    ``environment`` holds HPO_COORDINATOR and, when there is one, HPO_TOKEN: exported by
    name only, so their values are never on sbatch's command line.
    """
    exported = ",".join(
        ["ALL", ENV_COORDINATOR, *([ENV_TOKEN] if ENV_TOKEN in environment else [])]
    )
    try:
        done = subprocess.run(
            [sbatch, "--parsable", f"--export={exported}"],
            input=script,
            env=dict(environment),
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise SubmitError(f"{sbatch} not found: run this on a Slurm submit host") from None
    if done.returncode != 0:
        raise SubmitError(f"sbatch refused the job (exit {done.returncode}): {done.stderr.strip()}")
    # --parsable prints "JOBID" or "JOBID;CLUSTER".
    return done.stdout.strip().split(";", 1)[0]
