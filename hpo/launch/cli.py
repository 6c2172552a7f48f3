"""``hpo launch``: start ``hpo worker`` daemons on Ray or Slurm, and register the tokens of a
Kubernetes deployment (docs/clusters.md).

Registered on ``hpo.cli.app``; it imports nothing heavy at import time (Ray inside the
command that needs it), and nothing of ``hpo.cli`` (which imports this module) until a
command runs.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from hpo.client import ENV_TOKEN
from hpo.launch import ray_launcher, slurm
from hpo.launch.common import (
    ENV_COORDINATOR,
    ENV_TOKEN_FILE,
    hpo_command,
    merged_environment,
    worker_arguments,
    worker_environment,
)
from hpo.launch.tokens import SecretFile, register

launch_app = typer.Typer(
    help="Start hpo workers on an engine you already run (Ray, Slurm), or register the "
    "tokens of a Kubernetes deployment (docs/clusters.md).",
    no_args_is_help=True,
)
console = Console()
errors = Console(stderr=True)

Study = Annotated[str, typer.Option(help="The study the workers work for.")]
Workers = Annotated[int, typer.Option(min=1, help="How many workers to start.")]
Command = Annotated[list[str], typer.Argument(help="The training command, after --.")]
# Required: the default loopback address of `hpo worker` is wrong on almost every cluster.
Coordinator = Annotated[
    str,
    typer.Option(
        "--coordinator",
        "-c",
        envvar=ENV_COORDINATOR,
        help="The coordinator's address, HOST:PORT, as the workers' nodes reach it.",
    ),
]
TokenFile = Annotated[
    Path | None,
    typer.Option(
        "--token-file",
        envvar=ENV_TOKEN_FILE,
        exists=True,
        dir_okay=False,
        help=f"File holding the workers' token (default: the {ENV_TOKEN} environment "
        "variable). It is read here and reaches the workers in their environment.",
    ),
]
Workdir = Annotated[
    Path, typer.Option(help="Where the workers put trial directories (checkpoints, logs).")
]


def _token(token_file: Path | None) -> str | None:
    """The token the workers get: from ``--token-file`` (checked as ``hpo worker`` checks
    it), else ``HPO_TOKEN``, else none (a coordinator that takes anonymous calls)."""
    if token_file is not None:
        from hpo.cli import _read_token_file

        return _read_token_file(token_file)
    return os.environ.get(ENV_TOKEN) or None


@launch_app.command("ray", context_settings={"allow_interspersed_args": False})
def launch_ray(
    study: Study,
    workers: Workers,
    gpus_per_worker: Annotated[
        float,
        typer.Option(
            min=0,
            help="GPUs Ray gives each worker (fractions share a GPU); its trials see them "
            "through CUDA_VISIBLE_DEVICES.",
        ),
    ],
    coordinator: Coordinator,
    command: Command,
    cpus_per_worker: Annotated[float, typer.Option(min=0, help="CPUs Ray reserves.")] = 1.0,
    address: Annotated[
        str | None,
        typer.Option(
            help="The Ray cluster (e.g. ray://head:10001 or HOST:6379). Default: RAY_ADDRESS, "
            "else a new Ray instance on this machine."
        ),
    ] = None,
    token_file: TokenFile = None,
    workdir: Workdir = Path("hpo-trials"),
    max_retries: Annotated[
        int,
        typer.Option(
            min=0,
            help="How often Ray starts a worker again whose process or node died (not one "
            "that exited with an error).",
        ),
    ] = ray_launcher.DEFAULT_MAX_RETRIES,
) -> None:
    """Run WORKERS `hpo worker` daemons as Ray tasks; wait for all, exit 1 if any failed.

    `hpo launch ray --study S --workers 4 --gpus-per-worker 1 -c HOST:50051 -- python train.py`
    """
    if importlib.util.find_spec("ray") is None:
        errors.print("[red]error:[/] Ray is not installed here: pip install 'hpo[ray]'")
        raise typer.Exit(2)
    # Resolved here: a relative path would be taken in the Ray worker's directory.
    arguments = worker_arguments(study, workdir.absolute(), command)
    environment = worker_environment(coordinator, _token(token_file))
    try:
        results = ray_launcher.launch(
            workers=workers,
            gpus_per_worker=gpus_per_worker,
            cpus_per_worker=cpus_per_worker,
            address=address,
            arguments=arguments,
            environment=environment,
            max_retries=max_retries,
            on_result=lambda result: console.print(result.describe()),
            on_warning=lambda message: errors.print(f"[yellow]warning:[/] {message}"),
        )
    except KeyboardInterrupt:
        errors.print("interrupted: the remaining workers were cancelled")
        raise typer.Exit(130) from None
    failed = [result for result in results if not result.ok]
    console.print(f"{len(results) - len(failed)} of {len(results)} workers succeeded")
    if failed:
        raise typer.Exit(1)


@launch_app.command("slurm", context_settings={"allow_interspersed_args": False})
def launch_slurm(
    study: Study,
    workers: Workers,
    gpus_per_worker: Annotated[
        int, typer.Option(min=0, help="GPUs per array task (--gres=gpu:G; 0: none).")
    ],
    coordinator: Coordinator,
    command: Command,
    cpus_per_worker: Annotated[
        int | None, typer.Option(min=1, help="--cpus-per-task (default: Slurm's).")
    ] = None,
    partition: Annotated[str | None, typer.Option(help="--partition.")] = None,
    time: Annotated[str | None, typer.Option(help="--time, e.g. 4:00:00.")] = None,
    account: Annotated[str | None, typer.Option(help="--account.")] = None,
    output: Annotated[
        str, typer.Option(help="--output: each task's log (%A: the job id, %a: the index).")
    ] = slurm.DEFAULT_OUTPUT,
    workdir: Workdir = Path("hpo-trials"),
    python: Annotated[
        str,
        typer.Option(help="The Python that runs `-m hpo worker` on the compute nodes."),
    ] = sys.executable,
    token_file: TokenFile = None,
    dry_run: Annotated[
        bool, typer.Option(help="Print the batch script instead of submitting it.")
    ] = False,
) -> None:
    """Submit an sbatch job array of WORKERS `hpo worker` daemons; print the job id.

    `hpo launch slurm --study S --workers 8 --gpus-per-worker 1 -c HOST:50051 -- python train.py`
    """
    job = slurm.ArrayJob(
        study=study,
        workers=workers,
        gpus_per_worker=gpus_per_worker,
        cpus_per_worker=cpus_per_worker,
        partition=partition,
        time=time,
        account=account,
        output=output,
    )
    try:
        script = slurm.render(
            job, [*hpo_command(python), *worker_arguments(study, workdir, command)]
        )
    except slurm.SlurmOptionError as error:
        raise typer.BadParameter(str(error), param_hint=error.option) from None
    if dry_run:
        sys.stdout.write(script)
        return
    # sbatch runs with the worker's variables, and exports them to every array task.
    environment = merged_environment(
        os.environ, worker_environment(coordinator, _token(token_file))
    )
    try:
        job_id = slurm.submit(script, environment)
    except slurm.SubmitError as error:
        errors.print(f"[red]error:[/] {error}")
        raise typer.Exit(1) from None
    print(job_id, flush=True)
    errors.print(
        f"job array {job_id}: {workers} workers for study {study}; logs in "
        f"{output.replace('%A', job_id)} (squeue -j {job_id})"
    )


@launch_app.command("register-tokens")
def register_tokens(
    token: Annotated[
        list[str],
        typer.Option(
            help="NAME:ROLE:FILE: register the secret in FILE as token NAME with ROLE. Repeatable.",
            metavar="NAME:ROLE:FILE",
        ),
    ],
    db: Annotated[
        str,
        typer.Option(
            "--db", envvar="HPO_DB", help="The trial store: a SQLAlchemy URL or a SQLite path."
        ),
    ],
) -> None:
    """Register secrets made elsewhere (a Kubernetes Secret) as tokens, before `hpo serve`.

    Idempotent for the same name, role and secret; migrates the store first.
    """
    try:
        secret_files = [SecretFile.parse(text) for text in token]
        registered = register(db, secret_files)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--token") from None
    for record in registered:
        errors.print(f"token {record.name} ({record.role.value}) registered")
