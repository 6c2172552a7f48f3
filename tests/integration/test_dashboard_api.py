"""The dashboard's JSON API over a real store, filled by a real coordinator.

A coordinator runs in this process on loopback; ``hpo.Client`` drives three studies
through it (a Hyperband study with an enqueued configuration, a failed trial and two
trials still running on two workers; a maximised stopping-type ASHA study with an LLM
prior whose endpoint does not answer, stopped by an admin mid-trial; an empty study).
Every route is then asked, and its answers are checked against the coordinator (counts,
GetBest, trials and reports) and against direct SQL on the store. The same checks of the
main routes run on PostgreSQL. A study whose LLM prior a real model answered (the SmolLM2
server of ``tests.conftest.llm_server``) has a store of its own.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient
from typer.testing import CliRunner

from hpo.auth import Role, generate_secret
from hpo.cli import app as cli
from hpo.client import Client, TrialRecord
from hpo.coordinator.server import Coordinator, start_coordinator
from hpo.dashboard import api as dashboard_api
from hpo.dashboard.app import create_app
from hpo.dashboard.plans import PAGE_CALLS, page_load_plans, scans
from hpo.dashboard.warmup import PAGE_FIGURES
from hpo.schedulers.rungs import top_k
from hpo.space import Categorical, Float, Int
from hpo.storage import Store
from hpo.tokens import TokenService
from tests.conftest import HPO, hpo_dashboard, table_rows
from tests.integration.test_tls import make_pki

SPACE = {
    "lr": Float(1e-4, 1.0, log=True),
    "units": Int(8, 128, log=True),
    "act": Categorical(["relu", "tanh"]),
}
ENQUEUED = {"lr": 0.01, "units": 32, "act": "relu"}
MAIN, MAXIMISED, EMPTY, FALLING = "dash", "dash-max", "dash-empty", "dash-falling"
ETA = 3
LEVELS = [1.0, 3.0, 9.0]  # MAIN's rungs
# Every route of one study, from the app's own table: a new route is covered here at once.
STUDY_ROUTES = tuple(
    route.path.removeprefix("/studies/{name}")
    for route in dashboard_api.routes
    if route.path.startswith("/studies/{name}")
)
runner = CliRunner()


def loss(config: dict[str, Any], resource: float, number: int) -> float:
    """A learning curve: best near lr 0.01 with relu, improving with the resource."""
    noise = ((number * 7919) % 97) / 970
    return (
        (math.log10(config["lr"]) + 2) ** 2 + 0.3 * (config["act"] == "tanh") + 1 / resource + noise
    )


def train(trial: Any, sign: float = 1.0) -> None:
    """Report every epoch from where the trial resumes to its target, stopping when told."""
    epoch = int(trial.resume_from)
    while epoch < trial.resource:
        epoch += 1
        if trial.report(epoch, sign * loss(trial.config, epoch, trial.number)).should_stop:
            return


def drive(address: str, n_main: int = 32) -> None:
    """Fill the store through the coordinator (see the module's docstring)."""
    with (
        Client(address, timeout=10, worker_id="w-a") as a,
        Client(address, timeout=10, worker_id="w-b") as b,
        Client(address, timeout=10, worker_id="w-c") as c,
    ):
        main = a.create_study(
            MAIN,
            SPACE,
            r_min=1,
            r_max=9,
            eta=ETA,
            resource_name="epochs",
            metric="loss",
            algorithm="hyperband",
            max_trials=30,
            seed=3,
            description="MLP on digits, for the dashboard's tests",
        )
        main.enqueue(ENQUEUED)
        for _ in range(n_main):
            trial = main.suggest()
            assert trial is not None
            with trial:
                if trial.number == 4:
                    trial.report(1, 5.0, hold=True)  # held: its failure comes after
                    trial.fail("boom: CUDA out of memory")
                    continue
                train(trial)
        for client in (b, c):
            held = client.get_study(MAIN).suggest()
            assert held is not None
            if held.resume_from + 1 < held.resource:  # a report that settles no rung
                held.report(held.resume_from + 1, 3.0)
        maximised = a.create_study(
            MAXIMISED,
            SPACE,
            r_min=1,
            r_max=9,
            eta=ETA,
            metric="accuracy",
            direction="maximize",
            algorithm="asha",
            asha_mode="stopping",
            max_trials=12,
            seed=4,
            description="the same, maximised",
            priors=[
                {
                    "kind": "llm",
                    "base_url": "http://127.0.0.1:9/v1",
                    "model": "nobody",
                    "retries": 0,
                    "timeout_seconds": 2,
                }
            ],
        )
        for _ in range(11):
            trial = maximised.suggest()
            assert trial is not None
            with trial:
                train(trial, sign=-1.0)
        last = maximised.suggest()
        assert last is not None
        last.report(1, -2.0)
        maximised.stop("enough")
        assert last.report(2, -1.9).should_stop  # the study was stopped: the trial stops
        last.complete()
        a.create_study(EMPTY, SPACE, r_min=1, r_max=27, eta=ETA, algorithm="hyperband")
        # One rung, and every trial better than the last: many improvements to downsample.
        falling = a.create_study(FALLING, SPACE, r_min=1, r_max=1, algorithm="random")
        for value in range(15, 0, -1):
            trial = falling.suggest()
            assert trial is not None
            with trial:
                trial.report(1, value)


@dataclass
class World:
    """A filled store, the coordinator serving it, and the dashboard over it."""

    url: str
    coordinator: Coordinator
    client: Client
    api: TestClient
    engine: sa.Engine

    def get(self, path: str, status: int = 200) -> Any:
        response = self.api.get(f"/api{path}")
        assert response.status_code == status, response.text
        return response.json()

    def sql(self, statement: str, **parameters: Any) -> list[Any]:
        with self.engine.connect() as connection:
            return list(connection.execute(sa.text(statement), parameters))

    def study_id(self, name: str) -> int:
        return int(self.sql("SELECT id FROM studies WHERE name = :name", name=name)[0][0])

    def records(self, name: str) -> list[TrialRecord]:
        return self.client.get_study(name).trials(include_reports=True)


@contextmanager
def world_on(url: str) -> Iterator[World]:
    """Serve ``url`` with a coordinator, fill it, and open the dashboard (anonymous) on it."""
    coordinator = start_coordinator(url, "127.0.0.1", 0, lease_seconds=600)
    try:
        drive(coordinator.address)
        engine = sa.create_engine(url)
        with (
            Client(coordinator.address, timeout=10) as client,
            TestClient(create_app(url, anonymous=True)) as api,
        ):
            yield World(url, coordinator, client, api, engine)
        engine.dispose()
    finally:
        coordinator.stop(grace=1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    url = f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'hpo.db'}"
    with world_on(url) as filled:
        yield filled


# ---------------------------------------------------------------- the checks


def check_studies(world: World) -> None:
    """The list and the study document agree with the coordinator and the store."""
    listed = {study["name"]: study for study in world.get("/studies")["studies"]}
    assert {MAIN, MAXIMISED, EMPTY} <= set(listed)
    for name in (MAIN, MAXIMISED, EMPTY):
        study, records = world.client.get_study(name), world.records(name)
        summary = listed[name]
        assert summary["state"] == study.state
        assert summary["counts"] == study.counts
        assert summary["n_trials"] == len(records)
        best = study.best()
        if best is None:
            assert summary["best"] is None
        else:
            assert summary["best"] == {
                "value": best.value,
                "resource": best.resource,
                "trial": best.trial.number,
            }
        latest = max([record.updated_at for record in records], default=study.created_at)
        assert datetime.fromisoformat(summary["last_activity"]) >= latest
        assert datetime.fromisoformat(summary["created_at"]) == study.created_at
        detail = world.get(f"/studies/{name}")["study"]
        assert {key: detail[key] for key in summary} == summary
        stored_spec, version = world.sql(
            "SELECT spec, version FROM studies WHERE name = :name", name=name
        )[0]
        stored_spec = json.loads(stored_spec) if isinstance(stored_spec, str) else stored_spec
        assert detail["spec"] == stored_spec
        assert detail["version"] == version
        assert detail["description"] == study.spec.description
        assert world.get(f"/studies/{name}/version") == {
            "version": version,
            "last_activity": summary["last_activity"],
        }
    main = listed[MAIN]
    assert main["running_workers"] == 2
    assert main["counts"]["running"] == 2 and main["counts"]["failed"] == 1
    assert main["resource"] == {"name": "epochs", "r_min": 1.0, "r_max": 9.0, "eta": 3.0}
    assert (main["direction"], main["algorithm"], main["metric"]) == (
        "minimize",
        "hyperband",
        "loss",
    )
    assert world.get(f"/studies/{MAIN}")["study"]["levels"] == LEVELS
    assert listed[MAXIMISED]["state"] == "stopped"
    assert listed[MAXIMISED]["counts"]["stopped"] >= 1
    assert listed[MAXIMISED]["direction"] == "maximize"


def check_trials(world: World) -> None:
    """Filters, sorting and paging are the store's, in SQL."""
    records = {record.number: record for record in world.records(MAIN)}
    page = world.get(f"/studies/{MAIN}/trials?limit=1000")
    assert page["total"] == len(records)
    assert [trial["number"] for trial in page["trials"]] == sorted(records)
    first = page["trials"][0]
    record = records[first["number"]]
    assert first["config"] == record.config
    assert (first["state"], first["source"], first["bracket"], first["rung"]) == (
        record.state.value,
        record.source,
        record.bracket,
        record.rung,
    )
    paged = world.get(f"/studies/{MAIN}/trials?limit=5&offset=5")
    assert paged["total"] == len(records)
    assert [trial["number"] for trial in paged["trials"]] == sorted(records)[5:10]

    failed = world.get(f"/studies/{MAIN}/trials?state=failed")
    assert [trial["number"] for trial in failed["trials"]] == [4]
    assert failed["trials"][0]["fail_reason"] == "boom: CUDA out of memory"
    both = world.get(f"/studies/{MAIN}/trials?state=running,failed&limit=1000")
    assert both["total"] == 3
    enqueued = world.get(f"/studies/{MAIN}/trials?source=user")["trials"]
    assert [trial["config"] for trial in enqueued] == [ENQUEUED]

    held = world.get(f"/studies/{MAIN}/trials?q=W-B")["trials"]
    assert [trial["worker_id"] for trial in held] == ["w-b"]
    tanh = world.get(f"/studies/{MAIN}/trials?q=%22tanh%22&limit=1000")
    assert tanh["total"] == sum(record.config["act"] == "tanh" for record in records.values())
    assert world.get(f"/studies/{MAIN}/trials?q=100%25_")["total"] == 0  # LIKE's wildcards

    by_value = world.get(f"/studies/{MAIN}/trials?sort=last_value&order=desc&limit=1000")
    values = [trial["last_value"] for trial in by_value["trials"]]
    reported = [value for value in values if value is not None]
    assert reported == sorted(reported, reverse=True) and values[: len(reported)] == reported
    by_worker = world.get(f"/studies/{MAIN}/trials?sort=worker&limit=1000")["trials"]
    workers = [trial["worker_id"] for trial in by_worker]
    present = [worker for worker in workers if worker is not None]
    assert present == sorted(present) and workers[: len(present)] == present  # empty last


def expected_history(world: World, name: str, sign: float) -> dict[int, list[tuple]]:
    """rung -> the improvements (report id, value, cumulative resource), computed in Python
    from every report."""
    rows = world.sql(
        "SELECT id, trial_id, resource, value, rung FROM reports WHERE study_id = :study "
        "ORDER BY id",
        study=world.study_id(name),
    )
    last: dict[int, float] = {}
    consumed, best = 0.0, {}
    series: dict[int, list[tuple]] = {}
    for report_id, trial_id, resource, value, rung in rows:
        consumed += resource - last.get(trial_id, 0.0)
        last[trial_id] = resource
        if rung is not None and (rung not in best or sign * value < best[rung]):
            best[rung] = sign * value
            series.setdefault(rung, []).append((report_id, value, consumed))
    return series


def check_history(world: World) -> None:
    for name, sign in ((MAIN, 1.0), (MAXIMISED, -1.0)):
        expected = expected_history(world, name, sign)
        series = world.get(f"/studies/{name}/history")["series"]
        assert [entry["rung"] for entry in series] == sorted(expected)
        levels = world.get(f"/studies/{name}")["study"]["levels"]
        for entry in series:
            wanted = expected[entry["rung"]]
            assert entry["resource"] == levels[entry["rung"]]
            assert [point["value"] for point in entry["points"]] == [
                value for _, value, _ in wanted
            ]
            assert [point["cumulative_resource"] for point in entry["points"]] == pytest.approx(
                [total for _, _, total in wanted]
            )
            times = [point["t"] for point in entry["points"]]
            assert times == sorted(times)
    # Downsampled: at most `points` per rung, the first and the last improvement kept.
    improvements = [value for _, value, _ in expected_history(world, FALLING, 1.0)[0]]
    assert improvements == list(range(15, 0, -1))
    evenly = [15, 13, 11, 10, 8, 7, 5, 4, 2, 1]
    for points, kept in ((10, evenly), (14, [15, *range(13, 0, -1)]), (15, improvements)):
        series = world.get(f"/studies/{FALLING}/history?points={points}")["series"]
        assert [point["value"] for point in series[0]["points"]] == kept
    version = world.get(f"/studies/{EMPTY}/version")["version"]
    assert world.get(f"/studies/{EMPTY}/history") == {"version": version, "series": []}


def check_curves(world: World) -> None:
    records = {record.number: record for record in world.records(MAIN)}
    curves = world.get(f"/studies/{MAIN}/curves?limit=4")["curves"]
    ranked = sorted(
        (record for record in records.values() if record.rung >= 0),
        key=lambda record: (
            -record.rung,
            next(r.value for r in record.reports if r.rung == record.rung),
            record.number,
        ),
    )
    assert [curve["number"] for curve in curves[:4]] == [record.number for record in ranked[:4]]
    assert len(curves) == 5  # and the most recently changed trial
    for curve in curves:
        record = records[curve["number"]]
        assert curve["points"] == [[r.resource, r.value] for r in record.reports]
        assert curve["state"] == record.state.value and curve["source"] == record.source
        # Promotion type: it trained beyond its bracket's first rung once sent past it.
        promoted = max(record.rung, LEVELS.index(record.target_resource)) > record.bracket
        assert curve["outcome"] == ("promoted" if promoted else record.state.value)
    everything = world.get(f"/studies/{MAIN}/curves?limit=1000")["curves"]
    assert {curve["number"] for curve in everything} == set(records)
    outcomes = {curve["outcome"] for curve in everything}
    assert {"promoted", "paused", "failed"} <= outcomes
    stopped = world.get(f"/studies/{MAXIMISED}/curves?limit=1000")["curves"]
    assert {"promoted", "stopped"} <= {curve["outcome"] for curve in stopped}


def check_rungs(world: World) -> None:
    for name, sign, stopping in ((MAIN, 1.0, False), (MAXIMISED, -1.0, True)):
        study_id = world.study_id(name)
        rungs = world.get(f"/studies/{name}/rungs")["rungs"]
        levels = world.get(f"/studies/{name}")["study"]["levels"]
        results: dict[tuple[int, int], list[tuple[float, int]]] = {}
        for bracket, rung, value, number in world.sql(
            "SELECT t.bracket, r.rung, r.value, t.number FROM reports r "
            "JOIN trials t ON t.id = r.trial_id WHERE r.study_id = :study AND r.rung IS NOT NULL",
            study=study_id,
        ):
            results.setdefault((bracket, rung), []).append((sign * value, number))
        running = world.sql(
            "SELECT count(*) FROM trials WHERE study_id = :study AND state = 'running'",
            study=study_id,
        )[0][0]
        assert sum(entry["running_towards"] for entry in rungs) == running
        for entry in rungs:
            key = (entry["bracket"], entry["rung"])
            found = sorted(results.get(key, []))
            assert entry["resource"] == levels[entry["rung"]]
            assert entry["reached"] == len(found), key  # the direct count of results
            above = len(results.get((entry["bracket"], entry["rung"] + 1), []))
            assert entry["promoted"] >= above
            k = max(1, top_k(len(found) + 1, ETA)) if stopping and found else top_k(len(found), ETA)
            if entry["rung"] == len(levels) - 1 or k == 0:
                assert entry["threshold"] is None, key
            else:
                assert entry["threshold"] == sign * found[k - 1][0], key
    assert any(
        entry["threshold"] is not None for entry in world.get(f"/studies/{MAIN}/rungs")["rungs"]
    )
    empty = world.get(f"/studies/{EMPTY}/rungs")["rungs"]
    assert [(entry["bracket"], entry["rung"]) for entry in empty] == [
        (0, 0),
        (0, 1),
        (0, 2),
        (0, 3),
    ]
    assert all(entry["reached"] == 0 and entry["threshold"] is None for entry in empty)


def check_params_and_importance(world: World) -> None:
    params = world.get(f"/studies/{MAIN}/params")
    described = {
        "lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True, "choices": None},
        "units": {"type": "int", "low": 8, "high": 128, "log": True, "choices": None},
        "act": {
            "type": "categorical",
            "low": None,
            "high": None,
            "log": None,
            "choices": ["relu", "tanh"],
        },
    }
    # In the space's order as the store keeps it (PostgreSQL's JSONB orders the keys).
    order = list(world.client.get_study(MAIN).spec.space)
    assert params["parameters"] == [{"name": name, **described[name]} for name in order]
    study_id = world.study_id(MAIN)
    per_rung = dict(
        world.sql(
            "SELECT rung, count(*) FROM reports WHERE study_id = :study AND rung IS NOT NULL "
            "GROUP BY rung",
            study=study_id,
        )
    )
    observed = world.sql(
        "SELECT count(*) FROM trials WHERE study_id = :study AND rung >= 0", study=study_id
    )[0][0]
    assert params["rung"] == max(r for r, n in per_rung.items() if n >= min(10, observed))
    values = {
        number: value
        for number, value in world.sql(
            "SELECT t.number, r.value FROM reports r JOIN trials t ON t.id = r.trial_id "
            "WHERE r.study_id = :study AND r.rung = :rung",
            study=study_id,
            rung=params["rung"],
        )
    }
    assert {trial["number"]: trial["value"] for trial in params["trials"]} == values
    shown = [trial["value"] for trial in params["trials"]]
    assert shown == sorted(shown)  # best first
    assert len(world.get(f"/studies/{MAIN}/params?limit=10")["trials"]) == min(10, len(values))

    importance = world.get(f"/studies/{MAIN}/importance")
    assert importance["rung"] == params["rung"]
    assert importance["n_trials"] == len(values)
    shares = [entry["importance"] for entry in importance["importance"]]
    assert sorted(entry["name"] for entry in importance["importance"]) == ["act", "lr", "units"]
    assert shares == sorted(shares, reverse=True)
    assert sum(shares) == pytest.approx(1.0)
    assert importance["importance"][0]["name"] == "lr"  # the loss is mostly lr's
    assert world.get(f"/studies/{MAIN}/importance") == importance  # cached per version
    empty = world.get(f"/studies/{EMPTY}/importance")
    assert empty["rung"] is None and empty["importance"] == [] and empty["n_trials"] == 0
    assert "too few results" in empty["reason"]
    assert world.get(f"/studies/{EMPTY}/params")["trials"] == []


def check_priors(world: World) -> None:
    priors = world.get(f"/studies/{MAIN}/priors")
    enqueued = [record.number for record in world.records(MAIN) if record.source == "user"]
    assert priors["proposals"] == [
        {
            "position": 0,
            "source": "user",
            "config": ENQUEUED,
            "run_first": True,
            "trial_number": enqueued[0],
        }
    ]
    assert priors["exchanges"] == []
    exchanges = world.get(f"/studies/{MAXIMISED}/priors")["exchanges"]
    assert len(exchanges) == 1
    exchange = exchanges[0]
    assert (exchange["model"], exchange["base_url"]) == ("nobody", "http://127.0.0.1:9/v1")
    assert exchange["error"] and exchange["accepted"] == [] and exchange["raw_answer"] is None
    assert len(exchange["prompt_hash"]) == 64 and exchange["messages"][0]["role"] == "system"
    datetime.fromisoformat(exchange["created_at"])


def check_exports(world: World) -> None:
    """Both formats of both tables round-trip to what the coordinator says."""
    records = world.records(MAIN)
    response = world.api.get(f"/api/studies/{MAIN}/export?format=csv&table=trials")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == f'attachment; filename="{MAIN}-trials.csv"'
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(row["number"]) for row in rows] == [record.number for record in records]
    for row, record in zip(rows, records, strict=True):
        assert row["state"] == record.state.value and row["source"] == record.source
        assert float(row["config.lr"]) == record.config["lr"]
        assert int(row["config.units"]) == record.config["units"]
        assert row["config.act"] == record.config["act"]
        assert row["worker_id"] == record.worker_id
        assert (float(row["last_value"]) if row["last_value"] else None) == record.last_value

    response = world.api.get(f"/api/studies/{MAIN}/export?format=json&table=reports")
    assert response.headers["content-disposition"].endswith(f'filename="{MAIN}-reports.json"')
    reports = response.json()
    assert reports == [
        {
            "trial": record.number,
            "resource": report.resource,
            "value": report.value,
            "rung": report.rung,
            "created_at": report.created_at.isoformat(),
        }
        for record in records
        for report in record.reports
    ]
    trials = world.api.get(f"/api/studies/{MAIN}/export?format=json").json()
    assert [trial["config"] for trial in trials] == [record.config for record in records]
    reports_csv = world.api.get(f"/api/studies/{MAIN}/export?table=reports").text
    assert len(list(csv.DictReader(io.StringIO(reports_csv)))) == len(reports)


def check_cli_export(world: World, tmp_path: Path) -> None:
    """``hpo study export`` through the coordinator writes what the page downloads."""
    address = ["--coordinator", world.coordinator.address]
    for export_format in ("csv", "json"):
        for table in ("trials", "reports"):
            result = runner.invoke(
                cli,
                ["study", "export", MAIN, "--format", export_format, "--table", table, *address],
            )
            assert result.exit_code == 0, result.output
            page = world.api.get(f"/api/studies/{MAIN}/export?format={export_format}&table={table}")
            assert result.stdout == page.text, (export_format, table)
    target = tmp_path / "trials.csv"
    result = runner.invoke(cli, ["study", "export", MAIN, "-o", str(target), *address])
    assert result.exit_code == 0, result.output
    assert target.read_text() == world.api.get(f"/api/studies/{MAIN}/export").text


# ---------------------------------------------------------------- SQLite


def test_studies_and_their_documents(world: World) -> None:
    check_studies(world)


def test_trials_are_filtered_sorted_and_paged(world: World) -> None:
    check_trials(world)


def test_history_is_the_best_so_far_over_time_and_resource(world: World) -> None:
    check_history(world)


def test_curves_are_the_leading_and_the_recent_trials(world: World) -> None:
    check_curves(world)


def test_rungs_count_results_and_give_the_promotion_thresholds(world: World) -> None:
    check_rungs(world)


def test_params_and_importance(world: World) -> None:
    check_params_and_importance(world)


def test_priors_show_proposals_and_llm_exchanges(world: World) -> None:
    check_priors(world)


def test_priors_give_an_answered_llm_exchange_verbatim(llm_server: str, tmp_path: Path) -> None:
    """A study whose LLM prior the test server's model (SmolLM2) answered, on its own store:
    the route gives back the exchange the coordinator recorded, the prompt messages as sent,
    the raw answer as received and the configurations accepted from it (the proposals)."""
    url = f"sqlite:///{tmp_path / 'llm.db'}"
    coordinator = start_coordinator(url, "127.0.0.1", 0, lease_seconds=600)
    try:
        with Client(coordinator.address, timeout=30) as client:
            study = client.create_study(
                "dash-llm",
                SPACE,
                r_min=1,
                r_max=9,
                eta=ETA,
                algorithm="hyperband",
                description="An MLP classifying handwritten digits.",
                priors=[
                    {
                        "kind": "llm",
                        "base_url": llm_server,
                        "model": "smollm2",
                        "n_configs": 2,
                        "timeout_seconds": 180,
                        "retries": 1,
                    }
                ],
            )
            first = study.suggest()  # waits for the model's answer, then runs its first pick
            assert first is not None
            recorded = study.priors()
        with TestClient(create_app(url, anonymous=True, warm_up_studies=0)) as api:
            response = api.get("/api/studies/dash-llm/priors")
    finally:
        coordinator.stop(grace=1)
    assert response.status_code == 200, response.text
    priors = response.json()
    (expected,) = recorded.exchanges
    (exchange,) = priors["exchanges"]
    assert (exchange["id"], exchange["model"], exchange["base_url"]) == (
        expected.id,
        "smollm2",
        llm_server,
    )
    assert exchange["error"] is None and exchange["replayed_from"] is None
    assert exchange["prompt_hash"] == expected.prompt_hash
    messages = exchange["messages"]
    assert messages == expected.messages and [m["role"] for m in messages] == ["system", "user"]
    assert "handwritten digits" in messages[1]["content"]
    assert exchange["raw_answer"] and exchange["raw_answer"] == expected.raw_answer
    accepted = [p.config for p in recorded.proposals if p.source == "llm"]
    assert accepted and exchange["accepted"] == accepted and expected.accepted == len(accepted)
    assert len(exchange["rejected"]) == expected.rejected
    assert [(p["source"], p["config"]) for p in priors["proposals"]] == [
        ("llm", config) for config in accepted
    ]
    assert priors["proposals"][0]["trial_number"] == first.number


def test_exports_round_trip(world: World) -> None:
    check_exports(world)


def test_study_export_command_writes_the_download(world: World, tmp_path: Path) -> None:
    check_cli_export(world, tmp_path)


@pytest.mark.parametrize("route", STUDY_ROUTES)
def test_every_study_route_answers_404_for_an_unknown_study(world: World, route: str) -> None:
    assert world.get(f"/studies/nope{route}", status=404) == {
        "error": "study 'nope' does not exist"
    }


BAD_PARAMETERS = [
    ("/studies", "limit=3", "limit"),
    ("/studies/dash", "x=1", "x"),
    ("/studies/dash/version", "since=1", "since"),
    ("/studies/dash/trials", "limit=0", "limit"),
    ("/studies/dash/trials", "limit=1001", "limit"),
    ("/studies/dash/trials", "limit=ten", "limit"),
    ("/studies/dash/trials", "offset=-1", "offset"),
    ("/studies/dash/trials", "sort=config", "sort"),
    ("/studies/dash/trials", "order=up", "order"),
    ("/studies/dash/trials", "state=running,dead", "state"),
    ("/studies/dash/trials", "source=oracle", "source"),
    ("/studies/dash/trials", "q=" + "x" * 201, "q"),
    ("/studies/dash/trials", "limit=5&limit=6", "limit"),
    ("/studies/dash/history", "points=9", "points"),
    ("/studies/dash/history", "points=5001", "points"),
    ("/studies/dash/curves", "limit=0", "limit"),
    ("/studies/dash/curves", "limit=1001", "limit"),
    ("/studies/dash/rungs", "bracket=0", "bracket"),
    ("/studies/dash/params", "limit=9", "limit"),
    ("/studies/dash/params", "limit=5001", "limit"),
    ("/studies/dash/importance", "rung=1", "rung"),
    ("/studies/dash/history", "stale=-1", "stale"),
    ("/studies/dash/rungs", "stale=601", "stale"),
    ("/studies/dash/importance", "stale=soon", "stale"),
    ("/studies/dash/priors", "all=1", "all"),
    ("/studies/dash/export", "format=xlsx", "format"),
    ("/studies/dash/export", "table=decisions", "table"),
]


@pytest.mark.parametrize(("route", "query", "field"), BAD_PARAMETERS)
def test_bad_parameters_are_400_naming_the_field(
    world: World, route: str, query: str, field: str
) -> None:
    answer = world.get(f"{route}?{query}", status=400)
    assert answer["field"] == field
    assert answer["error"].startswith(f"{field}: ")


def test_unknown_api_routes_and_methods_answer_json(world: World) -> None:
    assert "error" in world.get("/nothing", status=404)
    response = world.api.post("/api/studies")
    assert response.status_code == 405 and "error" in response.json()


def test_pages_and_every_script_they_load_are_served(world: World) -> None:
    """Offline: each page's scripts and styles, the modules they import and the charting
    libraries come from the dashboard itself, none from another host."""
    scripts: set[str] = set()
    for page in ("/", f"/studies/{MAIN}"):
        response = world.api.get(page)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        links = re.findall(r'(?:src|href)="([^"]+)"', response.text)
        assert all(link.startswith("/") or link.startswith("data:") for link in links), links
        scripts.update(link for link in links if link.endswith(".js"))
    assert "/static/vendor/chart.umd.min.js" in scripts
    pending = sorted(scripts)
    while pending:  # follow the modules' relative imports
        path = pending.pop()
        response = world.api.get(path)
        assert response.status_code == 200, path
        assert "javascript" in response.headers["content-type"], path
        for imported in re.findall(r'from "\./([^"]+)"', response.text):
            module = f"/static/{imported}"
            if module not in scripts:
                scripts.add(module)
                pending.append(module)
    assert {"/static/charts.js", "/static/params.js", "/static/parcoords.js"} <= scripts


def test_the_dashboard_writes_nothing(world: World) -> None:
    before = table_rows(world.engine)
    for route in STUDY_ROUTES:
        world.api.get(f"/api/studies/{MAIN}{route}")
    world.api.get("/api/studies")
    assert table_rows(world.engine) == before
    # and a SQLite store it opened itself refuses writes outright
    with world.api.app.state.engine.connect() as connection, pytest.raises(sa.exc.OperationalError):
        connection.exec_driver_sql("DELETE FROM trials")


def test_live_changes_move_the_version_and_last_activity(world: World) -> None:
    before = world.get(f"/studies/{EMPTY}/version")
    with Client(world.coordinator.address, timeout=10, worker_id="w-live") as client:
        trial = client.get_study(EMPTY).suggest()
        assert trial is not None
        trial.report(1, 0.5)
    after = world.get(f"/studies/{EMPTY}/version")
    assert after["version"] > before["version"]
    assert after["last_activity"] > before["last_activity"]
    listed = {study["name"]: study for study in world.get("/studies")["studies"]}
    assert listed[EMPTY]["running_workers"] == 1


def test_a_slow_figure_is_answered_stale_while_its_current_version_is_prepared(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``stale``, a figure whose last computation was slow is answered at once with
    the newest one computed (its ``version`` says which), and the study's current figures
    are prepared in the background; without ``stale`` the answer is always current. Every
    figure counts as slow here (this study's take milliseconds)."""
    monkeypatch.setattr("hpo.dashboard.api.SLOW_FIGURE_SECONDS", 0.0)
    name = "dash-stale"
    study = world.client.create_study(name, SPACE, r_min=1, r_max=1, algorithm="random")
    study_id = world.study_id(name)

    def report() -> int:
        trial = study.suggest()
        assert trial is not None
        with trial:
            trial.report(1, 0.5)
        return int(world.get(f"/studies/{name}/version")["version"])

    first = report()
    assert world.get(f"/studies/{name}/rungs?stale=60")["version"] == first
    second = report()
    stale = world.get(f"/studies/{name}/rungs?stale=60")
    assert stale["version"] == first and stale["rungs"][0]["reached"] == 1
    # Answered stale, the study's current figures are prepared in the background: the
    # history was never asked for at this version, so only the preparer can have made it.
    cache = world.api.app.state.cache
    prepared = ((study_id, "history", *PAGE_FIGURES[0][1:]), second)
    deadline = time.monotonic() + 30
    while prepared not in cache:  # no event to await: the preparer's thread fills the cache
        assert time.monotonic() < deadline, "the current figures were not prepared"
        time.sleep(0.02)
    current = world.get(f"/studies/{name}/rungs?stale=60")
    assert current["version"] == second and current["rungs"][0]["reached"] == 2
    # Without stale, the figure of the study's current version, whatever is cached.
    third = report()
    assert world.get(f"/studies/{name}/rungs")["version"] == third


def test_the_latest_studies_figures_are_prepared_at_start(world: World) -> None:
    """The warm-up computes, as the app starts, the figures the study page asks for (the
    API's default sizes), for the most recently active studies only."""
    with TestClient(create_app(world.url, anonymous=True, warm_up_studies=1)) as api:
        assert api.app.state.preparer.done.wait(60)
        cache = api.app.state.cache
        listed = world.get("/studies")["studies"]
        latest = max(listed, key=lambda study: study["last_activity"])
        version = world.get(f"/studies/{latest['name']}")["study"]["version"]
        study_id = world.study_id(latest["name"])
        for name, *arguments in PAGE_FIGURES:
            assert ((study_id, name, *arguments), version) in cache, name
        assert len(cache) == len(PAGE_FIGURES)  # one study: no other study's figures
        # The page's requests (no sizes given) are those figures: served from the cache.
        history = api.get(f"/api/studies/{latest['name']}/history")
        assert history.status_code == 200 and len(cache) == len(PAGE_FIGURES)


def test_a_page_load_reads_the_big_tables_through_indexes(world: World) -> None:
    """SQLite's plan of every statement the study page's calls run (the helper behind
    ``benchmarks/dashboard.py --explain``): reports, trials and LLM exchanges are searched
    through an index, never scanned, although the store holds other studies' rows."""
    store = Store(world.url)
    try:
        plans = page_load_plans(store, MAIN)
    finally:
        store.dispose()
    assert {plan.call for plan in plans} == set(PAGE_CALLS)
    tables = ("reports", "trials", "llm_exchanges")
    steps = [line for plan in plans for line in plan.plan]
    for table in tables:  # each table is read, so the check below is not vacuous
        assert any(line.startswith(f"SEARCH {table} USING ") for line in steps), table
    assert scans(plans, tables) == []


# ---------------------------------------------------------------- tokens


@pytest.fixture(scope="module")
def secured(world: World) -> Iterator[tuple[TestClient, Callable[[Role], str]]]:
    """The dashboard without anonymous access, and ``issue(role)`` making tokens."""
    tokens = TokenService(world.coordinator.store.sql)

    def issue(role: Role) -> str:
        secret = generate_secret()
        tokens.create(f"dash-{role.value}-{secret[-6:]}", role, secret)
        return secret

    with TestClient(create_app(world.url, anonymous=False, token_cache_seconds=0)) as api:
        yield api, issue


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_the_api_needs_a_token_when_anonymous_access_is_off(secured: Any) -> None:
    api, issue = secured
    for path in ("/api/studies", f"/api/studies/{MAIN}/trials", "/api/studies/nope"):
        response = api.get(path)
        assert response.status_code == 401
        assert "missing bearer token" in response.json()["error"]
        assert response.headers["www-authenticate"].startswith("Bearer")
    unknown = api.get("/api/studies", headers=bearer(generate_secret()))
    assert unknown.status_code == 401 and unknown.json() == {"error": "unknown token"}
    malformed = api.get("/api/studies", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert malformed.status_code == 401
    # The pages and their scripts hold no data: they load without a token.
    assert api.get("/").status_code == 200
    assert api.get("/static/vendor/chart.umd.min.js").status_code == 200


@pytest.mark.parametrize("role", list(Role))
def test_every_role_may_read(secured: Any, role: Role) -> None:
    api, issue = secured
    headers = bearer(issue(role))
    assert api.get("/api/studies", headers=headers).status_code == 200
    assert api.get(f"/api/studies/{MAIN}/rungs", headers=headers).status_code == 200
    assert api.get("/api/studies/nope", headers=headers).status_code == 404


def test_a_revoked_token_is_refused(secured: Any, world: World) -> None:
    api, issue = secured
    secret = issue(Role.READER)
    assert api.get("/api/studies", headers=bearer(secret)).status_code == 200
    tokens = TokenService(world.coordinator.store.sql)
    name = next(token.name for token in tokens.list_tokens() if token.name.endswith(secret[-6:]))
    tokens.revoke(name)
    refused = api.get("/api/studies", headers=bearer(secret))
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]


def test_anonymous_access_follows_the_coordinators_rule(world: World) -> None:
    with pytest.raises(ValueError, match="loopback"):
        create_app(world.url, anonymous=True, host="0.0.0.0")
    with TestClient(create_app(world.url, host="0.0.0.0")) as api:
        assert api.get("/api/studies").status_code == 401
    with TestClient(create_app(world.url, host="::1")) as api:
        assert api.get("/api/studies").status_code == 200


# ---------------------------------------------------------------- the command


def test_hpo_dashboard_serves_the_store(world: World, tmp_path: Path) -> None:
    """It prints its address first and serves it; with --no-anonymous it wants a token."""
    for options, status in (((), 200), (("--no-anonymous",), 401)):
        with hpo_dashboard(world.url, tmp_path / "dashboard.log", *options) as base:
            assert base.startswith("http://127.0.0.1:")
            response = httpx.get(f"{base}/api/studies", timeout=30)
            assert response.status_code == status, response.text


def test_hpo_dashboard_serves_https(world: World, tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    tls = ("--tls-cert", str(pki.cert), "--tls-key", str(pki.key))
    with hpo_dashboard(world.url, tmp_path / "dashboard.log", *tls) as base:
        assert base.startswith("https://127.0.0.1:")
        trusted = ssl.create_default_context(cafile=str(pki.ca))
        response = httpx.get(f"{base}/api/studies", timeout=30, verify=trusted)
        assert response.status_code == 200
        with pytest.raises(httpx.HTTPError):
            httpx.get(base.replace("https:", "http:") + "/api/studies", timeout=30)


def test_hpo_dashboard_refuses_a_missing_store_and_anonymous_on_all_interfaces(
    tmp_path: Path,
) -> None:
    missing = subprocess.run(
        [*HPO, "dashboard", "--db", str(tmp_path / "nothing.db"), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode != 0 and "does not exist" in missing.stderr
    assert not (tmp_path / "nothing.db").exists()
    exposed = subprocess.run(
        [*HPO, "dashboard", "--db", str(tmp_path / "x.db"), "--host", "0.0.0.0", "--anonymous"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert exposed.returncode != 0 and "loopback" in exposed.stderr


# ---------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_the_main_routes_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    with world_on(postgres_url) as on_postgres:
        check_studies(on_postgres)
        check_trials(on_postgres)
        check_history(on_postgres)
        check_curves(on_postgres)
        check_rungs(on_postgres)
        check_params_and_importance(on_postgres)
        check_priors(on_postgres)
        check_exports(on_postgres)
        check_cli_export(on_postgres, tmp_path)
        assert on_postgres.get("/studies/nope/rungs", status=404)["error"]
        with (
            on_postgres.api.app.state.engine.connect() as connection,
            pytest.raises(sa.exc.InternalError, match="read-only transaction"),
        ):
            connection.exec_driver_sql("DELETE FROM trials")
