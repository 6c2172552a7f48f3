"""The ``hpo`` command line: serve, worker, study, db, demo.

Server-side modules (SQLAlchemy, the coordinator) are imported inside the
commands that need them, so ``hpo worker`` runs on a node with the light core.
"""

from __future__ import annotations

import importlib
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.console import Console

from hpo.client import DEFAULT_ADDRESS, Client, seed_for
from hpo.errors import HpoError
from hpo.spec import StudySpec

app = typer.Typer(
    help="hpo: asynchronous Hyperband as a service. See README.md and docs/.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
study_app = typer.Typer(help="Create and inspect studies.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the trial store.", no_args_is_help=True)
app.add_typer(study_app, name="study")
app.add_typer(db_app, name="db")

console = Console()
errors = Console(stderr=True)

Coordinator = Annotated[
    str,
    typer.Option(
        "--coordinator", "-c", envvar="HPO_COORDINATOR", help="Coordinator address, HOST:PORT."
    ),
]
Database = Annotated[
    str,
    typer.Option(
        "--db", envvar="HPO_DB", help="Trial store: a SQLAlchemy URL or a SQLite file path."
    ),
]


def _configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _on_signals(handler: Any) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)


# ---------------------------------------------------------------- serve


@app.command()
def serve(
    db: Database = "hpo.db",
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 50051,
    lease_seconds: Annotated[
        float, typer.Option(help="A running trial's lease; workers heartbeat at a third of it.")
    ] = 60.0,
    migrate: Annotated[
        bool, typer.Option(help="Upgrade the store's schema before serving.")
    ] = True,
    threads: Annotated[int, typer.Option(help="Threads serving calls.")] = 16,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING...")] = "INFO",
) -> None:
    """Run the coordinator until SIGTERM or Ctrl-C, then finish in-flight calls and exit."""
    from hpo.coordinator.server import start_coordinator

    _configure_logging(log_level)
    coordinator = start_coordinator(
        db, host, port, lease_seconds=lease_seconds, migrate=migrate, threads=threads
    )
    stop = threading.Event()
    _on_signals(lambda signum, frame: stop.set())
    # The first line is the contract with scripts (and tests) that started us on port 0.
    print(f"hpo coordinator listening on {coordinator.address} (store: {coordinator.store.url})")
    sys.stdout.flush()
    while not stop.wait(1.0):
        pass
    coordinator.stop()
    print("hpo coordinator stopped", flush=True)


# ---------------------------------------------------------------- worker


def _load_function(reference: str) -> Any:
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise typer.BadParameter("use MODULE:FUNCTION", param_hint="--function")
    return getattr(importlib.import_module(module_name), attribute)


@app.command(context_settings={"allow_interspersed_args": False})
def worker(
    study: Annotated[str, typer.Option(help="The study to work for.")],
    command: Annotated[
        list[str] | None, typer.Argument(help="The training command, after --.")
    ] = None,
    coordinator: Coordinator = DEFAULT_ADDRESS,
    gpus: Annotated[
        str | None,
        typer.Option(help="GPU ids, e.g. 0,1: one trial per GPU, pinned by CUDA_VISIBLE_DEVICES."),
    ] = None,
    slots: Annotated[int, typer.Option(help="Trials run at once without --gpus.")] = 1,
    workdir: Annotated[
        Path, typer.Option(help="Where trial directories (checkpoints, logs) go.")
    ] = Path("hpo-trials"),
    grace: Annotated[
        float, typer.Option(help="Seconds a stopped trial may take to exit before SIGTERM.")
    ] = 30.0,
    max_trials: Annotated[
        int | None, typer.Option(help="Leave after this many assignments.")
    ] = None,
    function: Annotated[
        str | None, typer.Option(help="MODULE:FUNCTION to run in-process instead of a command.")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="Do not echo the trials' output.")] = False,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING...")] = "INFO",
) -> None:
    """Run trials of a study: `hpo worker --study NAME -- python train.py`."""
    from hpo.workers import Worker

    if bool(command) == bool(function):
        raise typer.BadParameter("give either a command after -- or --function MODULE:FUNCTION")
    _configure_logging(log_level)
    gpu_slots: list[str | None] = (
        [gpu.strip() for gpu in gpus.split(",")] if gpus else [None] * slots
    )
    client = Client(coordinator, wait_for_ready=True)
    daemon = Worker(
        client,
        study,
        slots=gpu_slots,
        workdir=workdir,
        grace_seconds=grace,
        max_assignments=max_trials,
        echo=not quiet,
    )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logging.getLogger("hpo.worker").warning(
            "%s: stopping; running trials are terminated and failed", signal.Signals(signum).name
        )
        daemon.stop()

    _on_signals(on_signal)
    try:
        summary = (
            daemon.run_function(_load_function(function))
            if function
            else daemon.run_command(command or [])
        )
    finally:
        client.close()
    console.print(
        f"worker done: {summary.assignments} assignments, "
        f"{summary.completed} completed, {summary.failed} failed"
    )


# ---------------------------------------------------------------- study


@study_app.command("create")
def study_create(
    spec: Annotated[Path, typer.Option(help="The study spec, JSON (see docs/study-spec.md).")],
    name: Annotated[str | None, typer.Option(help="Override the spec's name.")] = None,
    exist_ok: Annotated[bool, typer.Option(help="Reuse an identical existing study.")] = False,
    coordinator: Coordinator = DEFAULT_ADDRESS,
) -> None:
    """Create a study from a spec file."""
    data = json.loads(spec.read_text())
    if name:
        data["name"] = name
    data.setdefault("seed", seed_for(str(data.get("name", ""))))
    with Client(coordinator) as client:
        study = client.create_study_from_spec(StudySpec.from_json(data), exist_ok=exist_ok)
    console.print(f"study [bold]{study.name}[/] ({study.state}, seed {study.spec.seed})")


@study_app.command("list")
def study_list(coordinator: Coordinator = DEFAULT_ADDRESS) -> None:
    """List the studies with their trial counts."""
    from hpo.monitor import print_studies

    with Client(coordinator) as client:
        print_studies(console, client.studies())


@study_app.command("show")
def study_show(
    name: str,
    watch: Annotated[bool, typer.Option(help="Refresh live until the study finishes.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between refreshes.")] = 1.0,
    coordinator: Coordinator = DEFAULT_ADDRESS,
) -> None:
    """Show a study: trial counts, rungs, leading trials."""
    from hpo import monitor

    with Client(coordinator) as client:
        if watch:
            monitor.watch(client, name, interval=interval, console=console)
        else:
            console.print(monitor.study_view(monitor.Snapshot.fetch(client, name)))


@study_app.command("extend")
def study_extend(
    name: str,
    r_max: Annotated[float, typer.Option("--r-max", help="The new top resource.")],
    coordinator: Coordinator = DEFAULT_ADDRESS,
) -> None:
    """Raise a live study's r_max: results are kept, the best trials continue upward."""
    with Client(coordinator) as client:
        study = client.get_study(name).extend(r_max)
    resource = study.spec.resource
    console.print(
        f"study [bold]{study.name}[/]: {resource.name} now up to {resource.r_max:g} "
        f"(earlier tops {', '.join(f'{level:g}' for level in resource.earlier_r_max)}); "
        f"{study.counts['paused']} trials paused"
    )


@study_app.command("enqueue")
def study_enqueue(
    name: str,
    config: Annotated[str, typer.Option(help="The configuration, JSON: '{\"lr\": 0.01}'.")],
    coordinator: Coordinator = DEFAULT_ADDRESS,
) -> None:
    """Run a configuration before any other new one, at the bottom rung."""
    try:
        values = json.loads(config)
    except json.JSONDecodeError as error:
        errors.print(f"[red]error:[/] --config is not JSON: {error}")
        raise typer.Exit(2) from None
    with Client(coordinator) as client:
        proposal = client.get_study(name).enqueue(values)
    console.print(f"study [bold]{name}[/]: queued at position {proposal.position}")


@study_app.command("priors")
def study_priors(
    name: str,
    coordinator: Coordinator = DEFAULT_ADDRESS,
) -> None:
    """Show a study's proposals (queued, run, prior-only) and its LLM exchanges."""
    from hpo.monitor import priors_view

    with Client(coordinator) as client:
        console.print(priors_view(name, client.get_study(name).priors()))


@study_app.command("best")
def study_best(
    name: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    coordinator: Coordinator = DEFAULT_ADDRESS,
) -> None:
    """Print the best configuration found so far."""
    with Client(coordinator) as client:
        best = client.get_study(name).best()
    if best is None:
        errors.print(f"study {name!r} has no result at any rung yet")
        raise typer.Exit(1)
    result = {
        "trial": best.trial.number,
        "value": best.value,
        "resource": best.resource,
        "config": best.config,
    }
    if as_json:
        print(json.dumps(result))
    else:
        console.print_json(data=result)


# ---------------------------------------------------------------- db


@db_app.command("upgrade")
def db_upgrade(db: Database = "hpo.db") -> None:
    """Create or migrate the trial store's tables to the current schema."""
    from hpo.storage import create_engine
    from hpo.storage.migrate import current_revision, upgrade

    engine = create_engine(db)
    try:
        upgrade(engine)
        console.print(
            f"{engine.url.render_as_string(hide_password=True)}: schema {current_revision(engine)}"
        )
    finally:
        engine.dispose()


# ---------------------------------------------------------------- demo


@app.command()
def demo(
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 4,
    trials: Annotated[int, typer.Option(help="New configurations to try.")] = 60,
    db: Annotated[Path, typer.Option(help="SQLite file of the demo's trial store.")] = Path(
        "hpo-demo.db"
    ),
    workdir: Annotated[
        Path, typer.Option(help="Where the trials' checkpoints and the logs go.")
    ] = Path("hpo-demo"),
    live: Annotated[
        bool, typer.Option(help="Draw the live view (off: plain progress lines).")
    ] = True,
) -> None:
    """Tune an MLP on scikit-learn's digits with a coordinator and worker processes."""
    from hpo.demo import run_demo

    raise typer.Exit(run_demo(workers=workers, trials=trials, db=db, workdir=workdir, live=live))


def main() -> None:
    try:
        app()
    except HpoError as error:
        errors.print(f"[red]error:[/] {error}")
        sys.exit(1)
