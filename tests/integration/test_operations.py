"""Operator plumbing against real coordinators (docs/operations.md): the gRPC health service,
server reflection, the Prometheus metrics and JSON logs, over real SQLite and PostgreSQL stores.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import psycopg
import pytest
import sqlalchemy as sa
from click.testing import Result
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from typer.testing import CliRunner

from hpo.auth import METHOD_ROLES
from hpo.cli import app
from hpo.client import Client
from hpo.coordinator.server import Coordinator, start_coordinator
from hpo.errors import NotFoundError, RemoteError
from hpo.samplers.model_input import MIN_RESULTS
from hpo.space import Float
from hpo.v1 import hpo_pb2 as pb
from hpo.v1 import hpo_pb2_grpc
from hpo.vocabulary import TrialState
from tests.conftest import _admin_conninfo, free_port

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
COORDINATOR = "hpo.v1.Coordinator"
HEALTH = "grpc.health.v1.Health"
REFLECTION = "grpc.reflection.v1alpha.ServerReflection"
SPACE = {"x": Float(-2, 2)}
# Every metric docs/operations.md names (the text format's family names: a counter's family
# is its name without _total), with its type.
DOCUMENTED = {
    "hpo_rpcs_handled": "counter",
    "hpo_rpc_duration_seconds": "histogram",
    "hpo_trials": "gauge",
    "hpo_model_fit_duration_seconds": "histogram",
    "hpo_lease_expiries": "counter",
    "hpo_store_errors": "counter",
}
# Long enough for a loaded two-core machine; each wait ends as soon as its event happens.
DEADLINE_SECONDS = 60
FIT_SECONDS = 120
runner = CliRunner()


# ---------------------------------------------------------------- helpers


def await_status(channel: grpc.Channel, service: str, wanted: int) -> None:
    """Watch ``service``'s health until it reports ``wanted``; fail after DEADLINE_SECONDS."""
    stream = health_pb2_grpc.HealthStub(channel).Watch(
        health_pb2.HealthCheckRequest(service=service), timeout=DEADLINE_SECONDS
    )
    seen = []
    try:
        for response in stream:
            seen.append(response.status)
            if response.status == wanted:
                return
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED:  # type: ignore[attr-defined]
            raise
    finally:
        stream.cancel()
    pytest.fail(f"health of {service!r} was {seen}, never {wanted}, within {DEADLINE_SECONDS} s")


def check(channel: grpc.Channel, service: str) -> int:
    response = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=10, wait_for_ready=True
    )
    return int(response.status)


def scrape(url: str) -> dict[str, Any]:
    """The metric families at ``url``, parsed as Prometheus does (by family name)."""
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def samples(families: dict[str, Any], name: str, **labels: str) -> list[Sample]:
    """The samples called ``name`` whose labels include ``labels``."""
    family = families[re.sub(r"_(total|bucket|count|sum)$", "", name)]
    return [
        sample
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    ]


def value(families: dict[str, Any], name: str, **labels: str) -> float:
    """The one sample called ``name`` with these labels."""
    found = samples(families, name, **labels)
    assert len(found) == 1, f"{name}{labels}: {found}"
    return float(found[0].value)


def said(result: Result) -> str:
    """What a command printed, with the line breaks and borders of rich's panels removed."""
    return " ".join(result.output.replace("│", " ").split())


@pytest.fixture
def secure(sqlite_url: str) -> Iterator[Coordinator]:
    """A coordinator that refuses calls without a token, with reflection and metrics on."""
    running = start_coordinator(
        sqlite_url, "127.0.0.1", 0, anonymous=False, reflection=True, metrics_port=0
    )
    yield running
    running.stop(grace=1)


@pytest.fixture
def channel(secure: Coordinator) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(secure.address) as opened:
        yield opened


# ---------------------------------------------------------------- health


def test_health_answers_without_a_token_while_the_coordinator_still_wants_one(
    secure: Coordinator, channel: grpc.Channel
) -> None:
    assert check(channel, "") == SERVING
    assert check(channel, COORDINATOR) == SERVING
    with pytest.raises(grpc.RpcError) as unknown:
        check(channel, "no.such.Service")
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    with pytest.raises(grpc.RpcError) as refused:
        hpo_pb2_grpc.CoordinatorStub(channel).ListStudies(pb.ListStudiesRequest(), timeout=10)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
    # The health checks and the refusal are counted with the code each ended with.
    assert secure.metrics_endpoint is not None
    families = scrape(secure.metrics_endpoint.url)
    health = {"service": HEALTH, "method": "Check"}
    assert value(families, "hpo_rpcs_handled_total", **health, code="OK") == 2
    assert value(families, "hpo_rpcs_handled_total", **health, code="NOT_FOUND") == 1
    listing = {"service": COORDINATOR, "method": "ListStudies", "code": "UNAUTHENTICATED"}
    assert value(families, "hpo_rpcs_handled_total", **listing) == 1


@pytest.mark.postgres
def test_not_serving_and_no_calls_until_the_schema_is_migrated(postgres_url: str) -> None:
    # An open transaction creates the table the migration creates first, so the migration
    # waits for it (migrations set no lock timeout) while the port is already open, as behind
    # another coordinator's upgrade; the rollback lets it go on over an empty database.
    conninfo = sa.engine.make_url(postgres_url).set(drivername="postgresql")
    holder = psycopg.connect(conninfo.render_as_string(hide_password=False))
    holder.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
    port = free_port()
    started: list[Coordinator] = []
    starting = threading.Thread(
        target=lambda: started.append(start_coordinator(postgres_url, "127.0.0.1", port))
    )
    starting.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert check(channel, "") == NOT_SERVING
            assert check(channel, COORDINATOR) == NOT_SERVING
            with pytest.raises(grpc.RpcError) as refused:
                hpo_pb2_grpc.CoordinatorStub(channel).ListStudies(
                    pb.ListStudiesRequest(), timeout=10
                )
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
            assert "migrating" in refused.value.details()  # type: ignore[attr-defined]
            holder.rollback()
            await_status(channel, COORDINATOR, SERVING)
            assert check(channel, "") == SERVING
            listed = hpo_pb2_grpc.CoordinatorStub(channel).ListStudies(
                pb.ListStudiesRequest(), timeout=10
            )
            assert list(listed.studies) == []
    finally:
        holder.close()
        starting.join(DEADLINE_SECONDS)
        for coordinator in started:
            coordinator.stop(grace=1)
    assert started, "start_coordinator did not return once the migration could go on"


@pytest.mark.postgres
def test_not_serving_while_the_database_refuses_connections(postgres_url: str) -> None:
    """No call at all: the periodic check alone sees the store go and come back."""
    database = sa.engine.make_url(postgres_url).database
    coordinator = start_coordinator(postgres_url, "127.0.0.1", 0, health_check_seconds=1)
    try:
        with (
            psycopg.connect(_admin_conninfo(), autocommit=True) as admin,
            grpc.insecure_channel(coordinator.address) as channel,
        ):
            assert check(channel, "") == SERVING
            try:
                _refuse_connections(admin, database)
                await_status(channel, "", NOT_SERVING)
                assert check(channel, COORDINATOR) == NOT_SERVING
            finally:
                admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
            await_status(channel, "", SERVING)
            assert check(channel, COORDINATOR) == SERVING
    finally:
        coordinator.stop(grace=1)


@pytest.mark.postgres
def test_a_call_that_finds_the_store_down_turns_health_at_once_and_is_counted(
    postgres_url: str,
) -> None:
    """A periodic check too far off to matter: the failed call itself makes health look."""
    database = sa.engine.make_url(postgres_url).database
    coordinator = start_coordinator(
        postgres_url, "127.0.0.1", 0, health_check_seconds=3600, metrics_port=0
    )
    assert coordinator.metrics_endpoint is not None
    url = coordinator.metrics_endpoint.url
    try:
        with (
            psycopg.connect(_admin_conninfo(), autocommit=True) as admin,
            grpc.insecure_channel(coordinator.address) as channel,
            Client(coordinator.address, timeout=30) as client,
        ):
            client.create_study("up", SPACE, r_min=1, r_max=1)
            assert value(scrape(url), "hpo_trials", study="up", state="pending") == 0
            try:
                _refuse_connections(admin, database)
                assert check(channel, "") == SERVING  # nothing has looked yet
                with pytest.raises(RemoteError) as unavailable:
                    client.studies()
                assert unavailable.value.code == grpc.StatusCode.UNAVAILABLE
                await_status(channel, COORDINATOR, NOT_SERVING)
                families = scrape(url)
            finally:
                admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
    finally:
        coordinator.stop(grace=1)
    # The client retried UNAVAILABLE: every attempt is one store error and one UNAVAILABLE.
    errors = value(families, "hpo_store_errors_total", method="ListStudies")
    assert errors >= 1
    listing = {"service": COORDINATOR, "method": "ListStudies", "code": "UNAVAILABLE"}
    assert value(families, "hpo_rpcs_handled_total", **listing) == errors
    assert samples(families, "hpo_trials") == []  # the store could not be counted


def _refuse_connections(admin: psycopg.Connection[Any], database: str | None) -> None:
    """Make ``database`` refuse new connections and end its open ones: to the coordinator the
    store is down, as when its server goes away."""
    admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
    admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,)
    )


# ---------------------------------------------------------------- reflection


def test_reflection_describes_the_services_without_a_token(channel: grpc.Channel) -> None:
    database = ProtoReflectionDescriptorDatabase(channel)
    assert set(database.get_services()) == {COORDINATOR, HEALTH, REFLECTION}
    pool = DescriptorPool(database)
    coordinator = pool.FindServiceByName(COORDINATOR)
    assert set(coordinator.methods_by_name) == set(METHOD_ROLES)
    suggest = coordinator.methods_by_name["Suggest"]
    assert suggest.input_type.full_name == "hpo.v1.SuggestRequest"
    assert "request_id" in suggest.input_type.fields_by_name


def test_reflection_is_off_by_default(coordinator: Coordinator) -> None:
    with grpc.insecure_channel(coordinator.address) as channel:
        with pytest.raises(grpc.RpcError) as missing:
            ProtoReflectionDescriptorDatabase(channel).get_services()
        assert missing.value.code() == grpc.StatusCode.UNIMPLEMENTED  # type: ignore[attr-defined]
        assert check(channel, "") == SERVING  # health is always on


# ---------------------------------------------------------------- metrics


def test_metrics_after_a_study_runs(sqlite_url: str) -> None:
    coordinator = start_coordinator(sqlite_url, "127.0.0.1", 0, lease_seconds=3, metrics_port=0)
    assert coordinator.metrics_endpoint is not None
    url = coordinator.metrics_endpoint.url
    try:
        with Client(coordinator.address, timeout=30) as client:
            study = client.create_study("ops", SPACE, r_min=1, r_max=1)
            for _ in range(MIN_RESULTS):
                with study.suggest() as trial:
                    trial.report(1, (trial.config["x"] - 0.5) ** 2)
            # MIN_RESULTS results make the GP study's first fit due, in the model process.
            assert coordinator.models.wait_idle(FIT_SECONDS)
            with pytest.raises(NotFoundError):
                client.get_study("missing")
            abandoned = study.suggest()  # never heartbeated: its lease runs out in 3 s
            assert abandoned is not None
            families = _await_lease_expiry(url)
    finally:
        coordinator.stop(grace=1)

    for name, kind in DOCUMENTED.items():
        assert families[name].type == kind, name

    calls = "hpo_rpcs_handled_total"
    ok = {"service": COORDINATOR, "code": "OK"}
    assert value(families, calls, **ok, method="CreateStudy") == 1
    assert value(families, calls, **ok, method="Report") == MIN_RESULTS
    assert value(families, calls, **ok, method="Complete") == MIN_RESULTS
    assert value(families, calls, **ok, method="Suggest") == MIN_RESULTS + 1
    assert value(families, calls, service=COORDINATOR, method="GetStudy", code="NOT_FOUND") == 1

    latency = "hpo_rpc_duration_seconds"
    reports = {"service": COORDINATOR, "method": "Report", "code": "OK"}
    assert value(families, f"{latency}_count", **reports) == MIN_RESULTS
    assert value(families, f"{latency}_bucket", **reports, le="+Inf") == MIN_RESULTS
    assert 0 < value(families, f"{latency}_sum", **reports) < 60
    buckets = [s.value for s in samples(families, f"{latency}_bucket", **reports)]
    assert buckets == sorted(buckets)  # cumulative

    counts = {sample.labels["state"]: sample.value for sample in samples(families, "hpo_trials")}
    assert {sample.labels["study"] for sample in samples(families, "hpo_trials")} == {"ops"}
    assert set(counts) == {state.value for state in TrialState}
    assert counts["completed"] == MIN_RESULTS
    # The abandoned trial went back to the schedule: requeued, never completed.
    assert sum(counts.values()) == MIN_RESULTS + 1

    fits = value(families, "hpo_model_fit_duration_seconds_count")
    assert fits >= 1
    assert 0 < value(families, "hpo_model_fit_duration_seconds_sum") < FIT_SECONDS * fits

    assert value(families, "hpo_lease_expiries_total") == 1
    # No store error happened; the family is declared with no series (see the PostgreSQL test).
    assert samples(families, "hpo_store_errors_total") == []


def _await_lease_expiry(url: str) -> dict[str, Any]:
    """Scrape until the lease sweeper has counted an expiry; fail after DEADLINE_SECONDS.

    The expiry happens in the coordinator's own thread and nothing outside can wait on it, so
    this polls the very metric under test (the sweeper wakes at the lease's end)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        families = scrape(url)
        if value(families, "hpo_lease_expiries_total") >= 1:
            return families
        time.sleep(0.1)
    pytest.fail(f"no lease expiry counted within {DEADLINE_SECONDS} s")


# ---------------------------------------------------------------- backups


def test_an_online_sqlite_backup_taken_while_serving_restores_the_studies(tmp_path: Path) -> None:
    path, copy = tmp_path / "hpo.db", tmp_path / "backup.db"
    coordinator = start_coordinator(f"sqlite:///{path}", "127.0.0.1", 0)
    try:
        with Client(coordinator.address, timeout=30) as client:
            study = client.create_study("kept", SPACE, r_min=1, r_max=1)
            with study.suggest() as trial:
                trial.report(1, 0.25)
            # SQLite's online backup API (what `sqlite3 hpo.db ".backup FILE"` uses), while the
            # coordinator holds the file open and its commits may sit in the WAL.
            source, target = sqlite3.connect(path), sqlite3.connect(copy)
            try:
                source.backup(target)
            finally:
                source.close()
                target.close()
            client.create_study("after-the-backup", SPACE, r_min=1, r_max=1)
    finally:
        coordinator.stop(grace=1)
    restored = start_coordinator(f"sqlite:///{copy}", "127.0.0.1", 0)
    try:
        with Client(restored.address, timeout=30) as client:
            assert [study.name for study in client.studies()] == ["kept"]
            trials = client.get_study("kept").trials()
            assert [(trial.state, trial.last_value) for trial in trials] == [
                (TrialState.COMPLETED, 0.25)
            ]
    finally:
        restored.stop(grace=1)


# ---------------------------------------------------------------- hpo serve


def test_hpo_serve_with_json_logs_reflection_and_metrics(
    sqlite_url: str, serve: Any, tmp_path: Path
) -> None:
    metrics_port = free_port()
    process = serve(
        sqlite_url, "--log-format", "json", "--reflection", "--metrics-port", str(metrics_port)
    )
    with grpc.insecure_channel(process.address) as channel:
        assert check(channel, "") == SERVING
        services = ProtoReflectionDescriptorDatabase(channel).get_services()
        assert set(services) == {COORDINATOR, HEALTH, REFLECTION}
    with Client(process.address, timeout=30) as client:
        client.create_study("served", SPACE, r_min=1, r_max=1)
    families = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
    assert set(DOCUMENTED) <= set(families)
    create = {"service": COORDINATOR, "method": "CreateStudy", "code": "OK"}
    assert value(families, "hpo_rpcs_handled_total", **create) == 1
    assert value(families, "hpo_trials", study="served", state="pending") == 0
    assert process.stop() == 0

    lines = (tmp_path / "serve-0.log").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line of stderr is one JSON object
    assert records
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record), record
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"]), record
    listening = [r for r in records if r["message"].startswith("coordinator listening on")]
    assert len(listening) == 1
    assert listening[0]["level"] == "INFO"
    assert listening[0]["logger"] == "hpo.coordinator.server"
    assert f"metrics: http://127.0.0.1:{metrics_port}/metrics" in listening[0]["message"]
    assert "reflection: on" in listening[0]["message"]


def test_hpo_worker_with_json_logs(
    sqlite_url: str, serve: Any, start_workers: Any, tmp_path: Path
) -> None:
    """The worker's log lines are JSON objects too. With --quiet it echoes no training output;
    its stdout then holds only the closing summary, which is not a log record."""
    process = serve(sqlite_url)
    with Client(process.address, timeout=30) as client:
        space = {"x": Float(-2, 3), "units": Float(8, 256)}
        client.create_study("e2e", space, r_min=1, r_max=1, max_trials=2, algorithm="random")
    (worker,) = start_workers(
        process.address,
        tmp_path / "trials",
        1,
        "train_quadratic.py",
        "--quiet",
        "--log-format",
        "json",
    )
    output, _ = worker.communicate(timeout=120)
    assert worker.returncode == 0, output
    *logged, summary = output.splitlines()
    assert summary.startswith("worker done: 2 assignments, 2 completed")
    records = [json.loads(line) for line in logged]
    assert records
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record), record
    assert any(record["message"] == "trial 1: completed" for record in records), records


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--log-format", "xml"], "--log-format"),
        (["--log-level", "LOUD"], "--log-level"),
        (["--metrics-port", "70000"], "--metrics-port"),
        (["--port", "50999", "--metrics-port", "50999"], "--metrics-port"),
        (["--metrics-host", "127.0.0.1"], "--metrics-host"),
    ],
)
def test_bad_operations_options_are_refused_naming_the_option(
    options: list[str], named: str, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["serve", "--db", str(tmp_path / "never.db"), *options])
    assert result.exit_code == 2, result.output
    assert named in said(result)
    assert not (tmp_path / "never.db").exists()
