"""Several objectives and an outcome constraint, end to end: real ``hpo serve`` and
``hpo worker`` processes on SQLite and on PostgreSQL, the store read back with SQL, and bad
input over gRPC refused by field with nothing written.

The study: minimise ``loss`` and ``latency_ms``, subject to ``memory_gb <= 40``
(tests/e2e/train_metrics.py: more units lower the loss and raise latency and memory).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlalchemy as sa

from hpo.client import Client, Trial
from hpo.spec import StudySpec
from hpo.storage.tables import Decision, Report
from hpo.storage.tables import Trial as TrialRow
from hpo.v1 import hpo_pb2 as pb
from hpo.v1 import hpo_pb2_grpc
from hpo.wire import spec_to_proto
from tests.conftest import HPO, ServeProcess, table_rows

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
pytestmark = pytest.mark.e2e

OBJECTIVES = ("loss", "latency_ms")
MEMORY_BOUND = 40.0
SPEC: dict[str, Any] = {
    "name": "mo-e2e",
    "description": "loss against latency, within a memory budget",
    "space": {
        "x": {"type": "float", "low": -2, "high": 3},
        "units": {"type": "int", "low": 8, "high": 256, "log": True},
    },
    "objectives": [
        {"metric": "loss", "direction": "minimize"},
        {"metric": "latency_ms", "direction": "minimize"},
    ],
    "metrics": ["memory_gb"],
    "constraints": [{"metric": "memory_gb", "op": "<=", "bound": MEMORY_BOUND}],
    "resource": {"name": "epochs", "r_min": 1, "r_max": 9, "eta": 3},
    "max_trials": 18,
    "seed": 5,
}
Metrics = Mapping[str, float]


def hpo_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HPO, *args], capture_output=True, text=True, check=check, timeout=120)


def create_from_file(spec: Mapping[str, Any], path: Path, address: str) -> str:
    """``hpo study create --spec`` on ``spec`` written to ``path``; the CLI's stderr."""
    path.write_text(json.dumps(spec))
    result = hpo_cli("study", "create", "--spec", str(path), "-c", address, check=False)
    return result.stderr if result.returncode else ""


def feasible(metrics: Metrics) -> bool:
    return metrics["memory_gb"] <= MEMORY_BOUND


def dominates(a: Metrics, b: Metrics) -> bool:
    """``a`` is no worse than ``b`` in both objectives (both minimised) and better in one."""
    no_worse = all(a[name] <= b[name] for name in OBJECTIVES)
    return no_worse and any(a[name] < b[name] for name in OBJECTIVES)


def non_dominated(results: Mapping[int, Metrics]) -> set[int]:
    return {
        number
        for number, metrics in results.items()
        if not any(dominates(other, metrics) for other in results.values())
    }


# ---------------------------------------------------------------- four workers


def stored(engine: sa.Engine) -> list[tuple[int, float, float, Metrics, int | None, str]]:
    """Every report: (trial number, resource, value, metrics, rung, action)."""
    query = sa.select(
        TrialRow.number, Report.resource, Report.value, Report.metrics, Report.rung, Report.action
    ).join(TrialRow, TrialRow.id == Report.trial_id)
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]  # type: ignore[misc]


def decision_log(engine: sa.Engine) -> list[tuple[str, int | None, int]]:
    """The trial decisions in the order they were made: (kind, rung, trial number)."""
    query = (
        sa.select(Decision.kind, Decision.rung, TrialRow.number)
        .join(TrialRow, TrialRow.id == Decision.trial_id)
        .order_by(Decision.id)
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]  # type: ignore[misc]


def check_promotions(
    log: list[tuple[str, int | None, int]], results: Mapping[int, Mapping[int, Metrics]]
) -> int:
    """Replay the decision log: when a trial is promoted from a rung, no trial that waited
    there to be promoted (paused there, released by its worker, not promoted yet) is feasible
    and dominates it, nor feasible while it is not (MO-ASHA ranks feasible results first, by
    non-dominated front). Returns how many promotions were checked.

    Only released trials count: one that reached the rung but is still held by its worker
    (whose process may still be writing the checkpoint) cannot be promoted yet, so a trial
    it dominates may rightly be promoted first."""
    paused_at: dict[int, int] = {}
    waiting: dict[int, set[int]] = defaultdict(set)
    checked = 0
    for kind, rung, number in log:
        if kind == "pause":
            assert rung is not None
            paused_at[number] = rung
        elif kind == "release":
            waiting[paused_at[number]].add(number)
        elif kind == "promote":
            assert rung is not None
            source = rung - 1  # promotion-type ASHA promotes to the next rung
            assert number in waiting[source], (number, source, waiting[source])
            waiting[source].discard(number)
            promoted = results[source][number]
            for other in waiting[source]:
                rival = results[source][other]
                if feasible(rival):
                    assert feasible(promoted) and not dominates(rival, promoted), (
                        f"trial {number} {promoted} was promoted from rung {source} "
                        f"while trial {other} {rival} waited there"
                    )
            checked += 1
    return checked


def test_four_workers_run_a_two_objective_study_with_a_constraint(
    store_url: str, serve: Callable[..., ServeProcess], start_workers: Any, tmp_path: Path
) -> None:
    server = serve(store_url)
    assert create_from_file(SPEC, tmp_path / "spec.json", server.address) == ""
    workers = start_workers(
        server.address, tmp_path / "trials", 4, "train_metrics.py", "--quiet", study="mo-e2e"
    )
    outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0, 0], outputs

    logged = [
        json.loads(line)
        for path in (tmp_path / "trials").rglob("reports.jsonl")
        for line in path.read_text().splitlines()
    ]
    engine = sa.create_engine(store_url)
    rows = stored(engine)
    log = decision_log(engine)
    with engine.connect() as connection:
        last_metrics = dict(
            connection.execute(sa.select(TrialRow.number, TrialRow.last_metrics)).all()
        )
        trials = connection.execute(sa.select(sa.func.count()).select_from(TrialRow)).scalar()
    engine.dispose()

    # Every acknowledged report is stored once, with all its metrics, and nothing else is;
    # the value column holds the primary objective.
    as_stored = sorted((n, r, json.dumps(m, sort_keys=True)) for n, r, _, m, _, _ in rows)
    assert as_stored == sorted(
        (e["number"], float(e["resource"]), json.dumps(e["metrics"], sort_keys=True))
        for e in logged
    )
    assert len(set(as_stored)) == len(as_stored) == len(rows)
    assert all(value == metrics["loss"] for _, _, value, metrics, _, _ in rows)
    stops = {(n, r) for n, r, _, _, _, action in rows if action != "continue"}
    assert stops == {(e["number"], float(e["resource"])) for e in logged if e["stop"]}
    latest = {n: m for n, r, _, m, _, _ in sorted(rows, key=lambda row: row[:2])}
    assert last_metrics == latest
    assert trials == SPEC["max_trials"]

    results: dict[int, dict[int, Metrics]] = defaultdict(dict)
    for number, _, _, metrics, rung, _ in rows:
        if rung is not None:
            results[rung][number] = metrics
    assert check_promotions(log, results) >= 2

    with Client(server.address) as client:
        study = client.get_study("mo-e2e")
        front = study.pareto_front()
        best = study.best()
    assert study.state == "finished"
    # The front: the feasible non-dominated results at the highest rung with a feasible one.
    top = max(rung for rung, at in results.items() if any(map(feasible, at.values())))
    candidates = {n: m for n, m in results[top].items() if feasible(m)}
    assert {entry.trial.number for entry in front} == non_dominated(candidates)
    assert all(entry.feasible and feasible(entry.metrics) for entry in front)
    assert all(entry.metrics == results[top][entry.trial.number] for entry in front)
    assert len({entry.resource for entry in front}) == 1
    assert not any(dominates(a.metrics, b.metrics) for a in front for b in front)
    assert best is not None
    assert best.value == min(entry.metrics["loss"] for entry in front)
    assert server.stop() == 0


# ---------------------------------------------------------------- bad input over gRPC


@pytest.fixture(scope="module")
def server(
    module_store_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServeProcess]:
    process = ServeProcess(module_store_url, tmp_path_factory.mktemp("serve") / "serve.log")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def engine(module_store_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(module_store_url)
    yield engine
    engine.dispose()


@pytest.fixture
def stub(server: ServeProcess) -> Iterator[hpo_pb2_grpc.CoordinatorStub]:
    """The raw stub: requests the client would refuse to build reach the coordinator."""
    with grpc.insecure_channel(server.address) as channel:
        yield hpo_pb2_grpc.CoordinatorStub(channel)


def refused_without_writes(engine: sa.Engine, call: Callable[[], object], field: str) -> str:
    """Run ``call``: it must fail with INVALID_ARGUMENT naming ``field`` first, and leave every
    table as it was. Returns the error's message."""
    before = table_rows(engine)
    with pytest.raises(grpc.RpcError) as raised:
        call()
    error: Any = raised.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert error.details().startswith(f"{field}: "), error.details()
    assert table_rows(engine) == before
    return str(error.details())


def held_trial(client: Client) -> Trial:
    """A running trial of a fresh study with the spec's metrics."""
    name = f"bad-{uuid.uuid4().hex[:8]}"
    study = client.create_study_from_spec(StudySpec.from_json({**SPEC, "name": name}))
    trial = study.suggest()
    assert trial is not None
    return trial


def report_request(trial: Trial, client: Client, metrics: Metrics) -> pb.ReportRequest:
    return pb.ReportRequest(
        trial_id=trial.id,
        resource=1.0,
        metrics=metrics,
        request_id=uuid.uuid4().hex,
        worker_id=client.worker_id,
    )


@pytest.mark.parametrize(
    ("metrics", "field", "message"),
    [
        (
            {"loss": 0.5, "latency_ms": 12, "memory_gb": 30, "accuracy": 0.9},
            "metrics.accuracy",
            "is not a metric of this study",
        ),
        ({"loss": 0.5, "latency_ms": 12}, "metrics.memory_gb", "is missing from the report"),
        ({"loss": math.nan, "latency_ms": 12, "memory_gb": 30}, "metrics.loss", "must be finite"),
        (
            {"loss": 0.5, "latency_ms": math.inf, "memory_gb": 30},
            "metrics.latency_ms",
            "must be finite",
        ),
    ],
)
def test_a_bad_report_is_refused_by_field_and_stores_nothing(
    server: ServeProcess,
    engine: sa.Engine,
    stub: hpo_pb2_grpc.CoordinatorStub,
    metrics: Metrics,
    field: str,
    message: str,
) -> None:
    with Client(server.address) as client:
        trial = held_trial(client)
        request = report_request(trial, client, metrics)
        details = refused_without_writes(engine, lambda: stub.Report(request), field)
        assert message in details
        # The refusal left the trial as it was: it takes a good report at the same resource.
        decision = trial.report(1, {"loss": 0.5, "latency_ms": 12.0, "memory_gb": 30.0})
        assert decision.state.value in ("running", "paused")


def test_a_one_number_report_to_a_study_of_several_metrics_is_refused(
    server: ServeProcess, engine: sa.Engine, stub: hpo_pb2_grpc.CoordinatorStub
) -> None:
    with Client(server.address) as client:
        trial = held_trial(client)
        request = report_request(trial, client, {})
        request.value = 0.5
        refused_without_writes(engine, lambda: stub.Report(request), "metrics.latency_ms")


def bad_spec(edit: Callable[[pb.StudySpec], None]) -> pb.CreateStudyRequest:
    """A CreateStudy request for the spec with ``edit`` applied to its proto."""
    message = spec_to_proto(StudySpec.from_json({**SPEC, "name": f"bad-{uuid.uuid4().hex[:8]}"}))
    edit(message)
    return pb.CreateStudyRequest(spec=message, request_id=uuid.uuid4().hex)


def constrain_undeclared(spec: pb.StudySpec) -> None:
    spec.constraints[0].metric = "vram_gb"


def unknown_direction(spec: pb.StudySpec) -> None:
    spec.objectives[1].direction = 7  # type: ignore[assignment]


def unknown_constraint_op(spec: pb.StudySpec) -> None:
    spec.constraints[0].op = pb.CONSTRAINT_OP_UNSPECIFIED


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (constrain_undeclared, "constraints[0].metric"),
        (unknown_direction, "objectives[1].direction"),
        (unknown_constraint_op, "constraints[0].op"),
    ],
)
def test_a_bad_spec_over_grpc_is_refused_by_field_and_creates_nothing(
    engine: sa.Engine,
    stub: hpo_pb2_grpc.CoordinatorStub,
    edit: Callable[[pb.StudySpec], None],
    field: str,
) -> None:
    request = bad_spec(edit)
    refused_without_writes(engine, lambda: stub.CreateStudy(request), field)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        ({"objectives": [SPEC["objectives"][0], {"metric": "latency_ms", "direction": "fastest"}]},
         "objectives[1].direction"),
        ({"constraints": [{"metric": "vram_gb", "op": "<=", "bound": 40}]},
         "constraints[0].metric"),
    ],
)  # fmt: skip
def test_a_bad_spec_file_is_refused_by_the_cli_by_field(
    server: ServeProcess, engine: sa.Engine, tmp_path: Path, edit: dict[str, Any], field: str
) -> None:
    before = table_rows(engine)
    spec = {**SPEC, "name": f"bad-{uuid.uuid4().hex[:8]}", **edit}
    stderr = create_from_file(spec, tmp_path / "bad.json", server.address)
    assert f"{field}: " in stderr and "Traceback" not in stderr, stderr
    assert table_rows(engine) == before


# ---------------------------------------------------------------- the example


def test_the_multi_objective_example_prints_its_pareto_front(server: ServeProcess) -> None:
    command = [sys.executable, str(EXAMPLES / "multi_objective.py"), server.address]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Pareto front at ") and len(lines) >= 2
    with Client(server.address) as client:
        study = client.get_study("multi-objective-example")
        front = study.pareto_front()
    assert study.state == "finished"
    assert len(lines) == len(front) + 1
    assert all(f"trial {entry.trial.number}:" in "\n".join(lines) for entry in front)
