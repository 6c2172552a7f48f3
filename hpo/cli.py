"""The ``hpo`` command line: serve, worker, study, token, db, demo.

Server-side modules (SQLAlchemy, the coordinator) are imported inside the
commands that need them, so ``hpo worker`` runs on a node with the light core.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from hpo.auth import Role, generate_secret, is_well_formed
from hpo.client import DEFAULT_ADDRESS, ENV_TLS_CA, ENV_TOKEN, Client, ParetoTrial, seed_for
from hpo.dashboard.export import ExportFormat, ExportTable
from hpo.errors import HpoError, InvalidArgumentError
from hpo.launch.cli import launch_app
from hpo.leases import DEFAULT_LEASE_SECONDS, DEFAULT_MAX_RETRIES
from hpo.spec import StudySpec
from hpo.storage.types import utcnow

if TYPE_CHECKING:
    from rich.table import Table

app = typer.Typer(
    help="hpo: asynchronous Hyperband as a service. See README.md and docs/.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
study_app = typer.Typer(help="Create and inspect studies.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the trial store.", no_args_is_help=True)
token_app = typer.Typer(
    help="Manage bearer tokens (docs/security.md): on a store with --db (how the first admin "
    "token is made), or through a coordinator with an admin token.",
    no_args_is_help=True,
)
app.add_typer(study_app, name="study")
app.add_typer(token_app, name="token")
app.add_typer(db_app, name="db")
app.add_typer(launch_app, name="launch")
scaling_app = typer.Typer(
    help="Scaling laws of a family of studies: how the best hyperparameters move with model "
    "and data scale, and what they propose at a new scale (docs/scaling.md).",
    no_args_is_help=True,
)
app.add_typer(scaling_app, name="scaling")

console = Console()
errors = Console(stderr=True)
# Python's GIL switch interval in `hpo serve` (the default is 5 ms; see serve).
SERVE_SWITCH_INTERVAL_SECONDS = 0.0005

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
# The options of every command that talks to a coordinator (with Coordinator above); build
# its client with _client(). A token is never an option's value: argv is visible in `ps`.
TokenFile = Annotated[
    Path | None,
    typer.Option(
        "--token-file",
        envvar="HPO_TOKEN_FILE",
        exists=True,
        dir_okay=False,
        help=f"File holding the bearer token (default: the {ENV_TOKEN} environment variable).",
    ),
]
TlsCa = Annotated[
    Path | None,
    typer.Option(
        "--tls-ca",
        envvar=ENV_TLS_CA,
        exists=True,
        dir_okay=False,
        help="PEM file of the CA that signed the coordinator's certificate: connect with TLS.",
    ),
]
# A server's TLS identity: `hpo serve` speaks gRPC over TLS with it, `hpo dashboard` HTTPS.
TlsCert = Annotated[
    Path | None,
    typer.Option(
        exists=True, dir_okay=False, help="PEM certificate (chain) to serve TLS (with --tls-key)."
    ),
]
TlsKey = Annotated[
    Path | None,
    typer.Option(exists=True, dir_okay=False, help="PEM private key of --tls-cert."),
]


class LogFormat(str, Enum):
    TEXT = "text"
    JSON = "json"


LogFormatOption = Annotated[
    LogFormat,
    typer.Option(
        help="text: one readable line per record; json: one JSON object per line (time, level, "
        "logger, message and any extra fields), for log collectors (docs/operations.md)."
    ),
]


def _configure_logging(level: str = "INFO", log_format: LogFormat = LogFormat.TEXT) -> None:
    """Log records of ``level`` and above to stderr, as text or as JSON lines."""
    if not isinstance(logging.getLevelName(level.upper()), int):
        raise typer.BadParameter(
            f"{level!r} is not a log level; use DEBUG, INFO, WARNING, ERROR or CRITICAL",
            param_hint="--log-level",
        )
    handler = logging.StreamHandler(sys.stderr)
    if log_format is LogFormat.JSON:
        # Imported here: only JSON logging needs it.
        from pythonjsonlogger.json import JsonFormatter

        formatter: logging.Formatter = JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
        # ISO 8601 in UTC with milliseconds (2026-12-03T21:05:11.123Z), which collectors
        # parse without being told the machine's time zone.
        formatter.converter = time.gmtime
        formatter.default_time_format = "%Y-%m-%dT%H:%M:%S"
        formatter.default_msec_format = "%s.%03dZ"
        # The warnings module writes to stderr itself: route its lines through the records.
        logging.captureWarnings(True)
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(formatter)
    logging.basicConfig(level=level.upper(), handlers=[handler])


def _on_signals(handler: Any) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)


def _read_token_file(path: Path) -> str:
    """The token in ``path`` (surrounding whitespace ignored); warns when others may read it."""
    try:
        token = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as error:
        message = f"cannot read {path}: {error}"
        raise typer.BadParameter(message, param_hint="--token-file") from None
    if not is_well_formed(token):
        raise typer.BadParameter(
            f"{path} does not hold an hpo token (hpo_...)", param_hint="--token-file"
        )
    if path.stat().st_mode & 0o077:
        errors.print(f"[yellow]warning:[/] {path} is readable by others: chmod 600 {path}")
    return token


def _client(
    coordinator: str, token_file: Path | None, tls_ca: Path | None, **options: Any
) -> Client:
    """A client with the connection options (``--token-file``, ``--tls-ca``; without them the
    client falls back on HPO_TOKEN and HPO_TLS_CA)."""
    token = _read_token_file(token_file) if token_file is not None else None
    return Client(coordinator, token=token, tls_ca=tls_ca, **options)


# ---------------------------------------------------------------- serve


@app.command()
def serve(
    db: Database = "hpo.db",
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 50051,
    lease_seconds: Annotated[
        float,
        typer.Option(
            help="A running trial's lease; workers heartbeat every lease/1.5 seconds, and a "
            "trial whose lease runs out goes to another worker."
        ),
    ] = DEFAULT_LEASE_SECONDS,
    max_retries: Annotated[
        int,
        typer.Option(
            min=0, help="How often a trial whose worker's lease expired is retried before it fails."
        ),
    ] = DEFAULT_MAX_RETRIES,
    migrate: Annotated[
        bool, typer.Option(help="Upgrade the store's schema before serving.")
    ] = True,
    threads: Annotated[int, typer.Option(help="Threads serving calls.")] = 16,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    anonymous: Annotated[
        bool | None,
        typer.Option(
            "--anonymous/--no-anonymous",
            help="Serve calls that carry no token as admin. Default: on when --host is a "
            "loopback address, off otherwise; refused on a non-loopback address.",
            show_default=False,
        ),
    ] = None,
    llm_key_env: Annotated[
        list[str] | None,
        typer.Option(
            help="An environment variable that LLM priors may name as their API key "
            "(api_key_env); NAME=URL_PREFIX sends it only to base URLs under that prefix. "
            "Repeatable. Without it, no key is ever sent (docs/security.md).",
            metavar="NAME[=URL_PREFIX]",
        ),
    ] = None,
    llm_base_url: Annotated[
        list[str] | None,
        typer.Option(
            help="A base URL prefix LLM priors may call; repeatable. Without it, any.",
            metavar="URL_PREFIX",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING...")] = "INFO",
    log_format: LogFormatOption = LogFormat.TEXT,
    reflection: Annotated[
        bool,
        typer.Option(
            help="Serve gRPC server reflection (for grpcurl and similar tools), without a token."
        ),
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            help="Serve Prometheus metrics over HTTP at /metrics on this port (0 picks a free "
            "one); off without it.",
        ),
    ] = None,
    metrics_host: Annotated[
        str | None,
        typer.Option(help="Address of the metrics port (default: --host)."),
    ] = None,
) -> None:
    """Run the coordinator until SIGTERM or Ctrl-C, then finish in-flight calls and exit.

    The port also serves the gRPC health service (no token needed); see docs/operations.md."""
    from hpo.coordinator.server import start_coordinator
    from hpo.priors.endpoints import LLMEndpoints
    from hpo.token_checks import resolve_anonymous

    if (tls_cert is None) != (tls_key is None):
        raise typer.BadParameter("give both --tls-cert and --tls-key, or neither")
    try:
        anonymous = resolve_anonymous(host, anonymous)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--anonymous") from None
    try:
        llm_endpoints = LLMEndpoints.from_options(llm_key_env or [], llm_base_url or [])
    except InvalidArgumentError as error:
        raise typer.BadParameter(str(error), param_hint="--llm-key-env") from None
    if metrics_host is not None and metrics_port is None:
        raise typer.BadParameter("needs --metrics-port", param_hint="--metrics-host")
    if metrics_port and metrics_port == port and (metrics_host is None or metrics_host == host):
        raise typer.BadParameter(
            f"{metrics_port} is the gRPC --port too; give the metrics a port of their own",
            param_hint="--metrics-port",
        )
    _configure_logging(log_level, log_format)
    # A call holding its study's turn lost the GIL to the other RPC threads for up to the
    # default 5 ms whenever it released it for SQLite; a shorter interval gives the turn back
    # sooner (docs/benchmarks.md: +15% loops/s at 32 clients, two interleaved pairs).
    sys.setswitchinterval(SERVE_SWITCH_INTERVAL_SECONDS)
    try:
        coordinator = start_coordinator(
            db,
            host,
            port,
            lease_seconds=lease_seconds,
            max_retries=max_retries,
            migrate=migrate,
            threads=threads,
            tls_cert=tls_cert,
            tls_key=tls_key,
            anonymous=anonymous,
            llm_endpoints=llm_endpoints,
            reflection=reflection,
            metrics_port=metrics_port,
            metrics_host=metrics_host,
        )
    except (ValueError, OSError) as error:  # a bad key pair, an address it cannot listen on
        typer.echo(f"hpo serve: {error}", err=True)
        raise typer.Exit(2) from None
    stop = threading.Event()
    _on_signals(lambda signum, frame: stop.set())
    # The first line is the contract with scripts (and tests) that started us on port 0.
    auth = "tokens, anonymous calls as admin" if coordinator.anonymous else "tokens"
    endpoint = coordinator.metrics_endpoint
    metrics = f"; metrics: {endpoint.url}" if endpoint is not None else ""
    print(
        f"hpo coordinator listening on {coordinator.address} (store: {coordinator.store.url}; "
        f"auth: {auth}; TLS: {'on' if coordinator.tls else 'off'}{metrics})"
    )
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
    token_file: TokenFile = None,
    tls_ca: TlsCa = None,
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
    log_format: LogFormatOption = LogFormat.TEXT,
) -> None:
    """Run trials of a study: `hpo worker --study NAME -- python train.py`."""
    from hpo.workers import Worker

    if bool(command) == bool(function):
        raise typer.BadParameter("give either a command after -- or --function MODULE:FUNCTION")
    if gpus and function:
        # CUDA_VISIBLE_DEVICES pins a process; function-mode trials share the worker's.
        raise typer.BadParameter(
            "GPU pinning needs a command after --; with --function, start one worker per GPU "
            "with CUDA_VISIBLE_DEVICES set",
            param_hint="--gpus",
        )
    _configure_logging(log_level, log_format)
    gpu_slots: list[str | None] = (
        [gpu.strip() for gpu in gpus.split(",")] if gpus else [None] * slots
    )
    client = _client(coordinator, token_file, tls_ca)
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
    token_file: TokenFile = None,
    tls_ca: TlsCa = None,
) -> None:
    """Create a study from a spec file."""
    data = json.loads(spec.read_text())
    if name:
        data["name"] = name
    data.setdefault("seed", seed_for(str(data.get("name", ""))))
    with _client(coordinator, token_file, tls_ca) as client:
        study = client.create_study_from_spec(StudySpec.from_json(data), exist_ok=exist_ok)
    console.print(f"study [bold]{study.name}[/] ({study.state}, seed {study.spec.seed})")


@study_app.command("list")
def study_list(
    coordinator: Coordinator = DEFAULT_ADDRESS,
    token_file: TokenFile = None,
    tls_ca: TlsCa = None,
) -> None:
    """List the studies with their trial counts."""
    from hpo.monitor import print_studies

    with _client(coordinator, token_file, tls_ca) as client:
        print_studies(console, client.studies())


@study_app.command("show")
def study_show(
    name: str,
    watch: Annotated[bool, typer.Option(help="Refresh live until the study finishes.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between refreshes.")] = 1.0,
    coordinator: Coordinator = DEFAULT_ADDRESS,
    token_file: TokenFile = None,
    tls_ca: TlsCa = None,
) -> None:
    """Show a study: trial counts, rungs, leading trials."""
    from hpo import monitor

    with _client(coordinator, token_file, tls_ca) as client:
        if watch:
            monitor.watch(client, name, interval=interval, console=console)
        else:
            console.print(monitor.study_view(monitor.Snapshot.fetch(client, name)))


@study_app.command("extend")
def study_extend(
    name: str,
    r_max: Annotated[float, typer.Option("--r-max", help="The new top resource.")],
    coordinator: Coordinator = DEFAULT_ADDRESS,
    token_file: TokenFile = None,
    tls_ca: TlsCa = None,
) -> None:
    """Raise a live study's r_max: results are kept, the best trials continue upward."""
    with _client(coordinator, token_file, tls_ca) as client:
        study = client.get_study(name).extend(r_max)
    resource = study.spec.resource
    console.print(
        f"study [bold]{study.name}[/]: {resource.name} now up to {resource.r_max:g} "
        f"(earlier tops {', '.join(f'{level:g}' for level in resource.earlier_r_max)}); "
        f"{study.counts['paused']} trials paused"
    )


@study_app.command("stop")
def study_stop(
    name: str,
    reason: Annotated[str, typer.Option(help="Why, recorded in the decisions log.")] = "",
    coordinator: Coordinator = DEFAULT_ADDRESS,
    token_file: TokenFile = None,
    tls_ca: TlsCa = None,
) -> None:
    """Stop a study for good (admin): no new work; running trials stop at their next report."""
    with _client(coordinator, token_file, tls_ca) as client:
        study = client.get_study(name).stop(reason)
    console.print(f"study [bold]{study.name}[/] stopped; {study.counts['running']} trials running")


@study_app.command("enqueue")
def study_enqueue(
    name: str,
    config: Annotated[str, typer.Option(help="The configuration, JSON: '{\"lr\": 0.01}'.")],
    coordinator: Coordinator = DEFAULT_ADDRESS,
    token_file: TokenFile = None,
    tls_ca: TlsCa = None,
) -> None:
    """Run a configuration before any other new one, at the bottom rung."""
    try:
        values = json.loads(config)
    except json.JSONDecodeError as error:
        errors.print(f"[red]error:[/] --config is not JSON: {error}")
        raise typer.Exit(2) from None
    with _client(coordinator, token_file, tls_ca) as client:
        proposal = client.get_study(name).enqueue(values)
    console.print(f"study [bold]{name}[/]: queued at position {proposal.position}")


@study_app.command("priors")
def study_priors(
    name: str,
    coordinator: Coordinator = DEFAULT_ADDRESS,
    token_file: TokenFile = None,
    tls_ca: TlsCa = None,
) -> None:
    """Show a study's proposals (queued, run, prior-only) and its LLM exchanges."""
    from hpo.monitor import priors_view

    with _client(coordinator, token_file, tls_ca) as client:
        console.print(priors_view(name, client.get_study(name).priors()))


MaxCost = Annotated[
    float | None,
    typer.Option(
        help="Only results that cost at most this much (the study's cost metric: as the "
        "workers report it, wall_time in seconds, or the resource trained).",
    ),
]


def _no_result(name: str, max_cost: float | None) -> typer.Exit:
    """Say that the study has nothing to show yet (within the budget); the exit to raise."""
    within = "" if max_cost is None else f" within --max-cost {max_cost:g}"
    errors.print(f"study {name!r} has no result at any rung{within} yet")
    return typer.Exit(1)


@study_app.command("best")
def study_best(
    name: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    max_cost: MaxCost = None,
    coordinator: Coordinator = DEFAULT_ADDRESS,
    token_file: TokenFile = None,
    tls_ca: TlsCa = None,
) -> None:
    """Print the best configuration found so far (with several objectives: the Pareto set's
    best in the first; `hpo study front` prints the whole set)."""
    with _client(coordinator, token_file, tls_ca) as client:
        best = client.get_study(name).best(max_cost)
    if best is None:
        raise _no_result(name, max_cost)
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


class FrontFormat(str, Enum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


@study_app.command("front")
def study_front(
    name: str,
    max_cost: MaxCost = None,
    output_format: Annotated[
        FrontFormat, typer.Option("--format", help="table, json (a list) or csv.")
    ] = FrontFormat.TABLE,
    coordinator: Coordinator = DEFAULT_ADDRESS,
    token_file: TokenFile = None,
    tls_ca: TlsCa = None,
) -> None:
    """Print the Pareto set: the non-dominated trials at the highest rung with a feasible
    result, best-ranked first, with every metric there (docs/dashboard.md)."""
    from hpo.dashboard.metrics import metric_names

    with _client(coordinator, token_file, tls_ca) as client:
        study = client.get_study(name)
        front = study.pareto_front(max_cost)
    if not front:
        raise _no_result(name, max_cost)
    spec = study.spec
    metrics = metric_names(spec) or (spec.objective.metric,)
    rows = [_front_row(entry, metrics, list(spec.space)) for entry in front]
    if output_format is FrontFormat.JSON:
        print(json.dumps(rows, allow_nan=False))
    elif output_format is FrontFormat.CSV:
        sys.stdout.write(_front_csv(rows, metrics, list(spec.space)))
    else:
        console.print(_front_table(name, rows, metrics, spec.resource.name))


def _front_row(
    entry: ParetoTrial, metrics: Sequence[str], parameters: Sequence[str]
) -> dict[str, Any]:
    """A trial of the front as one JSON object: metrics in the study's order and the
    configuration in the space's, as the exports write them."""
    return {
        "trial": entry.trial.number,
        "state": entry.trial.state.value,
        "resource": entry.resource,
        "metrics": {metric: entry.metrics.get(metric) for metric in metrics},
        "feasible": entry.feasible,
        "config": {parameter: entry.config[parameter] for parameter in parameters},
    }


def _front_csv(
    rows: Sequence[dict[str, Any]], metrics: Sequence[str], parameters: Sequence[str]
) -> str:
    """The front as CSV, one column per metric and per parameter (named as the exports name
    them: ``metrics.<metric>``, ``config.<parameter>``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "trial",
            "state",
            "resource",
            *(f"metrics.{metric}" for metric in metrics),
            "feasible",
            *(f"config.{parameter}" for parameter in parameters),
        ]
    )
    for row in rows:
        writer.writerow(
            [
                row["trial"],
                row["state"],
                row["resource"],
                *row["metrics"].values(),
                row["feasible"],
                *row["config"].values(),
            ]
        )
    return buffer.getvalue()


def _front_table(
    name: str, rows: Sequence[dict[str, Any]], metrics: Sequence[str], resource: str
) -> Table:
    """The front as a table for people: numbers to 6 significant digits."""
    from rich.table import Table

    table = Table(title=f"Pareto front of {name}")
    for column in ("#", "state", resource, *metrics, "feasible", "config"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["trial"]),
            row["state"],
            f"{row['resource']:g}",
            *(f"{value:.6g}" for value in row["metrics"].values()),
            "yes" if row["feasible"] else "no",
            ", ".join(
                f"{parameter}={value:.4g}" if isinstance(value, float) else f"{parameter}={value}"
                for parameter, value in row["config"].items()
            ),
        )
    return table


# ---------------------------------------------------------------- token

TokenStore = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Work directly on this trial store (a SQLAlchemy URL or a SQLite file path), "
        "migrating it first: how the first admin token is made. Without it, the command "
        "goes through --coordinator with an admin token.",
    ),
]


@dataclass(frozen=True)
class _TokenOps:
    """The token operations, on a store (hpo.tokens.TokenService) or over gRPC (Client)."""

    create: Callable[..., Any]  # (name, role, secret, expires_at=...)
    list: Callable[[], list[Any]]
    revoke: Callable[[str], Any]


_DURATION = re.compile(r"\s*(\d+)\s*([smhdw])\s*")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def _duration(text: str, option: str) -> timedelta:
    """``30d``, ``12h``, ``90m``...: a positive whole number and one unit."""
    match = _DURATION.fullmatch(text)
    if match is None or int(match[1]) == 0:
        raise typer.BadParameter(
            f"{text!r} is not a duration such as 30d, 12h or 90m", param_hint=option
        )
    return timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])


@contextmanager
def _token_ops(
    ctx: typer.Context,
    db: str | None,
    coordinator: str,
    token_file: Path | None,
    tls_ca: Path | None,
) -> Iterator[_TokenOps]:
    if db is None:
        with _client(coordinator, token_file, tls_ca) as client:
            yield _TokenOps(client.create_token, client.list_tokens, client.revoke_token)
        return
    source = ctx.get_parameter_source("coordinator")
    # Compared by name: typer ships its own copy of click, whose enum is not click's.
    if source is not None and source.name == "COMMANDLINE":
        raise typer.BadParameter("give --db or --coordinator, not both", param_hint="--db")
    from hpo.storage import Store
    from hpo.storage.migrate import upgrade
    from hpo.tokens import TokenService

    store = Store(db)
    try:
        upgrade(store.engine)
        service = TokenService(store)
        yield _TokenOps(service.create, service.list_tokens, service.revoke)
    finally:
        store.dispose()


def _write_secret(path: Path, secret: str) -> None:
    """Write ``secret`` to a new file only its owner can read (never over an existing file)."""
    try:
        with open(path, "x", opener=lambda name, flags: os.open(name, flags, 0o600)) as out:
            out.write(secret + "\n")
    except OSError as error:
        raise typer.BadParameter(f"cannot create {path}: {error}", param_hint="--output") from None


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Unique name, e.g. gpu-node-17 or alice.")],
    role: Annotated[
        Role,
        typer.Option(help="reader: queries; worker: also runs trials; admin: everything."),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write the secret to this new file (mode 600) instead of printing it.",
        ),
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option(
            help="Refuse the token after this long: a number and a unit, s m h d or w "
            "(e.g. 30d, 12h). Default: it never expires.",
            metavar="DURATION",
        ),
    ] = None,
    db: TokenStore = None,
    coordinator: Coordinator = DEFAULT_ADDRESS,
    token_file: TokenFile = None,
    tls_ca: TlsCa = None,
) -> None:
    """Create a token; its secret is generated here and shown once (stdout, or --output)."""
    expires_at = None if expires is None else utcnow() + _duration(expires, "--expires")
    secret = generate_secret()
    if output is not None:
        _write_secret(output, secret)
    try:
        with _token_ops(ctx, db, coordinator, token_file, tls_ca) as tokens:
            token = tokens.create(name, role, secret, expires_at=expires_at)
    except BaseException:
        if output is not None:
            output.unlink()  # the secret of a token that does not exist
        raise
    if output is not None:
        errors.print(
            f"token [bold]{token.name}[/] ({token.role.value}) created; its secret is in "
            f"{output} and cannot be shown again."
        )
        return
    # The secret alone on stdout (so `> file` captures it), the explanation on stderr.
    print(secret, flush=True)
    errors.print(
        f"token [bold]{token.name}[/] ({token.role.value}) created. Its secret, on standard "
        "output, is shown this once: only its hash is stored. Keep it in a file only you can "
        f"read (for --token-file) or in {ENV_TOKEN}."
    )


@token_app.command("list")
def token_list(
    ctx: typer.Context,
    db: TokenStore = None,
    coordinator: Coordinator = DEFAULT_ADDRESS,
    token_file: TokenFile = None,
    tls_ca: TlsCa = None,
) -> None:
    """List the tokens (names, roles, dates; never secrets), revoked ones included."""
    from rich.table import Table

    with _token_ops(ctx, db, coordinator, token_file, tls_ca) as tokens:
        listed = tokens.list()
    table = Table("name", "role", "created", "revoked", "expires")
    for token in listed:
        table.add_row(
            token.name,
            token.role.value,
            token.created_at.isoformat(timespec="seconds"),
            token.revoked_at.isoformat(timespec="seconds") if token.revoked_at else "",
            token.expires_at.isoformat(timespec="seconds") if token.expires_at else "never",
        )
    console.print(table)


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The token to revoke.")],
    db: TokenStore = None,
    coordinator: Coordinator = DEFAULT_ADDRESS,
    token_file: TokenFile = None,
    tls_ca: TlsCa = None,
) -> None:
    """Revoke a token for good. Coordinators accept it for at most their token cache TTL."""
    with _token_ops(ctx, db, coordinator, token_file, tls_ca) as tokens:
        token = tokens.revoke(name)
    assert token.revoked_at is not None
    console.print(
        f"token [bold]{token.name}[/] revoked at {token.revoked_at.isoformat(timespec='seconds')}"
    )


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


# ---------------------------------------------------------------- scaling


class LawFormat(str, Enum):
    TABLE = "table"
    JSON = "json"


Family = Annotated[str, typer.Option("--family", help="The family of studies (spec.family).")]
LawFormatOption = Annotated[
    LawFormat, typer.Option("--format", help="table, or json (docs/scaling.md's form).")
]


@scaling_app.command("fit")
def scaling_fit(
    family: Family,
    output_format: LawFormatOption = LawFormat.TABLE,
    coordinator: Coordinator = DEFAULT_ADDRESS,
    token_file: TokenFile = None,
    tls_ca: TlsCa = None,
) -> None:
    """Fit power laws of the optimal hyperparameters against scale, over the family's studies,
    with confidence intervals of their exponents."""
    with _client(coordinator, token_file, tls_ca) as client:
        laws = client.fit_scaling(family)
    if output_format is LawFormat.JSON:
        print(json.dumps(laws.fit))
        return
    console.print(_laws_table(family, laws.fit))
    for note in laws.fit["notes"]:
        console.print(f"note: {note}")


@scaling_app.command(
    "propose", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def scaling_propose(
    context: typer.Context,
    family: Family,
    scale: Annotated[
        list[str] | None,
        typer.Option(
            help="A scale variable as NAME=VALUE (repeat it); --n-params 1e9 works too and "
            "means n_params=1e9."
        ),
    ] = None,
    output_format: LawFormatOption = LawFormat.TABLE,
    coordinator: Coordinator = DEFAULT_ADDRESS,
    token_file: TokenFile = None,
    tls_ca: TlsCa = None,
) -> None:
    """The configuration the family's laws propose at a scale, with prediction intervals."""
    wanted = _scale_arguments([*(scale or []), *context.args])
    with _client(coordinator, token_file, tls_ca) as client:
        laws = client.fit_scaling(family, wanted)
    proposal = laws.proposal or {}
    if output_format is LawFormat.JSON:
        print(json.dumps(proposal))
        return
    from rich.table import Table

    table = Table(title=f"family {family}: proposal at {_scale_text(wanted)}")
    for column in ("parameter", "value", f"{proposal['level']:.0%} interval", ""):
        table.add_column(column)
    for name, value in proposal["config"].items():
        interval = proposal["intervals"].get(name)
        shown = "" if interval is None else f"[{interval[0]:.4g}, {interval[1]:.4g}]"
        note = "clipped to the space" if name in proposal["clipped"] else ""
        table.add_row(name, f"{value:.4g}" if isinstance(value, float) else str(value), shown, note)
    console.print(table)
    far = {name: decades for name, decades in proposal["extrapolation"].items() if decades > 0}
    if far:
        outside = ", ".join(f"{name} {decades:.1f} decades" for name, decades in far.items())
        console.print(f"extrapolated beyond the fitted scales: {outside}")


def _scale_arguments(arguments: Sequence[str]) -> dict[str, float]:
    """``NAME=VALUE`` items and ``--name-with-dashes VALUE`` pairs as scale variables."""
    pairs: list[tuple[str, str]] = []
    items = list(arguments)
    while items:
        item = items.pop(0)
        if item.startswith("--"):
            name, _, value = item[2:].partition("=")
            if not value:
                if not items:
                    raise typer.BadParameter(f"{item} needs a value", param_hint=item)
                value = items.pop(0)
            pairs.append((name.replace("-", "_"), value))
        elif "=" in item:
            name, _, value = item.partition("=")
            pairs.append((name, value))
        else:
            raise typer.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--scale")
    try:
        return {name: float(value) for name, value in pairs}
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--scale") from None


def _scale_text(scale: dict[str, float]) -> str:
    return ", ".join(f"{name}={value:g}" for name, value in scale.items())


def _laws_table(family: str, fit: dict[str, Any]) -> Table:
    """One row per law: the exponent of each scale variable with its interval."""
    from rich.table import Table

    variables = fit["variables"]
    level = fit["level"]
    table = Table(
        title=f"family {family}: {len(fit['points'])} scale points ({level:.0%} intervals)"
    )
    table.add_column("parameter")
    for variable in variables:
        table.add_column(f"exponent of {variable}")
    table.add_column("residual sd")
    for name, law in fit["laws"].items():
        cells = []
        for variable in variables:
            if variable not in law["exponents"]:
                cells.append("-")
                continue
            low, high = law["intervals"][variable]
            cells.append(f"{law['exponents'][variable]:+.3f} [{low:+.3f}, {high:+.3f}]")
        table.add_row(
            name + ("" if law["log"] else " (linear)"), *cells, f"{law['residual_sd']:.3g}"
        )
    for name, choice in fit["choices"].items():
        table.add_row(name, *([str(choice)] + [""] * (len(variables) - 1)), "")
    return table


def main() -> None:
    try:
        app()
    except HpoError as error:
        errors.print(f"[red]error:[/] {error}")
        sys.exit(1)


# ---------------------------------------------------------------- dashboard


@app.command()
def dashboard(
    db: Database = "hpo.db",
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 8080,
    anonymous: Annotated[
        bool | None,
        typer.Option(
            "--anonymous/--no-anonymous",
            help="Answer API requests that carry no token. Default: on when --host is a "
            "loopback address, off otherwise; refused on a non-loopback address.",
            show_default=False,
        ),
    ] = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    warm_up: Annotated[
        int,
        typer.Option(
            min=0,
            help="Prepare the figures of this many of the most recently active studies when "
            "starting, so that their pages open fast from the first visit (0: none).",
        ),
    ] = 4,  # hpo.dashboard.warmup.DEFAULT_STUDIES, not imported here: the CLI starts light
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING...")] = "WARNING",
) -> None:
    """Serve the read-only web dashboard and its JSON API over a trial store, until SIGTERM or
    Ctrl-C (docs/dashboard.md). API requests need a reader token (or anonymous mode)."""
    import gc
    import socket

    import uvicorn

    from hpo.dashboard.app import create_app
    from hpo.token_checks import resolve_anonymous

    if (tls_cert is None) != (tls_key is None):
        raise typer.BadParameter("give both --tls-cert and --tls-key, or neither")
    try:
        anonymous = resolve_anonymous(host, anonymous)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--anonymous") from None
    _configure_logging(log_level)
    web = create_app(db, anonymous, host=host, warm_up_studies=warm_up)
    ipv6 = ":" in host
    try:
        # Bound (and listening) before the first line is printed, so a script that read the
        # address can connect at once.
        listener = socket.create_server(
            (host, port), family=socket.AF_INET6 if ipv6 else socket.AF_INET
        )
        # Inherited by the accepted connections. asyncio sets it itself only on sockets it
        # created: without it, a response's header and body writes meet the client's delayed
        # ACK and every request on a kept-alive connection waits about 40 ms.
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as error:
        raise typer.BadParameter(f"cannot listen on {host}:{port}: {error}") from None
    shown = f"[{host}]" if ipv6 else host
    auth = "reader tokens, anonymous requests allowed" if anonymous else "reader tokens"
    # The first line is the contract with scripts (and tests) that started us on port 0.
    scheme = "http" if tls_cert is None else "https"
    print(
        f"hpo dashboard on {scheme}://{shown}:{listener.getsockname()[1]} "
        f"(store: {web.state.store_url}; auth: {auth})",
        flush=True,
    )
    config = uvicorn.Config(
        web, log_level=log_level.lower(), ssl_certfile=tls_cert, ssl_keyfile=tls_key
    )
    # The modules loaded by now (scikit-learn, SQLAlchemy...) are some 160,000 objects that
    # live as long as the process: frozen, the collector stops rescanning them, which
    # otherwise stalls a request that allocates a lot (the curves' 20,000 points) for 0.15 s.
    gc.freeze()
    # Uvicorn finishes the requests in flight on SIGTERM or Ctrl-C, then re-raises the signal.
    uvicorn.Server(config).run(sockets=[listener])


@study_app.command("export")
def study_export(
    name: str,
    export_format: Annotated[
        ExportFormat, typer.Option("--format", help="csv or json.")
    ] = ExportFormat.CSV,
    table: Annotated[
        ExportTable,
        typer.Option(help="trials (one row per trial) or reports (one row per report)."),
    ] = ExportTable.TRIALS,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", dir_okay=False, help="Write here, not to stdout."),
    ] = None,
    coordinator: Coordinator = DEFAULT_ADDRESS,
    token_file: TokenFile = None,
    tls_ca: TlsCa = None,
) -> None:
    """Export a study's trials or reports as CSV or JSON (the dashboard's download format)."""
    from hpo.dashboard.export import render, rows_from_records
    from hpo.dashboard.metrics import metric_names

    with _client(coordinator, token_file, tls_ca) as client:
        study = client.get_study(name)
        records = study.trials(include_reports=table is ExportTable.REPORTS)
    metrics = metric_names(study.spec)
    rows = rows_from_records(table, records, metrics)
    text = render(table, rows, export_format, list(study.spec.space), metrics)
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text)
    errors.print(f"study {name}: {len(rows)} {table.value} written to {output}")
