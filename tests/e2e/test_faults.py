"""Fault injection with real processes: workers and coordinators killed with SIGKILL, a
coordinator away for 10 s, two coordinators on one PostgreSQL store.

Each test checks the finished study against what the training code logged
(tests/e2e/train_faults.py): every acknowledged report is stored exactly once, nothing is
stored that no trial reported, the decisions log never hands a trial to two workers at
once nor repeats a trial number or a promotion, and replayed in order it is the schedule
the pure scheduler makes (every promotion legal when it was made). The killed-worker,
killed-coordinator and outage tests run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from hpo.algorithms import make_scheduler
from hpo.client import Client
from hpo.leases import HEARTBEATS_PER_LEASE
from hpo.schedulers import NewTrial, Promote, Resume
from hpo.space import Float
from hpo.spec import StudySpec
from hpo.state import StudyState, TrialSnapshot
from hpo.storage import tables
from hpo.vocabulary import TrialState
from tests.conftest import free_port

pytestmark = pytest.mark.e2e
STUDY = "e2e"  # the study the start_workers fixture works on
FUNCTION = "tests.e2e.train_faults:train"
# Decisions that hand a trial to a worker, and those after which no worker holds it.
ASSIGNED = {"new", "promote", "resume"}
LET_GO = {"release", "complete", "fail", "stop", "requeue"}
# The state a trial is left in by a decision of that kind (a report's at a rung, or the worker's).
STATE_AFTER = {
    "pause": TrialState.PAUSED,
    "stop": TrialState.STOPPED,
    "complete": TrialState.COMPLETED,
    "fail": TrialState.FAILED,
}


def create_study(
    address: str, max_trials: int, asha_mode: str = "promotion", r_max: float = 9
) -> None:
    with Client(address) as client:
        client.create_study(
            STUDY,
            {"x": Float(-2, 3)},
            r_min=1,
            r_max=r_max,
            eta=3,
            algorithm="hyperband",
            asha_mode=asha_mode,
            max_trials=max_trials,
            seed=11,
        )


def wait_for(
    condition: Callable[[], bool],
    what: str,
    workers: list[subprocess.Popen[str]],
    timeout: float = 120,
) -> None:
    """Poll the store (which has no event to wait on) until ``condition`` holds, failing at
    once if a worker exits meanwhile."""
    deadline = time.monotonic() + timeout
    while not condition():
        exited = [worker for worker in workers if worker.poll() is not None]
        assert not exited, f"a worker exited early: {exited[0].communicate()[0]}"
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def count(url: str, sql: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text(sql)).scalar_one())
    finally:
        engine.dispose()


def finish(workers: list[subprocess.Popen[str]]) -> list[str]:
    outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0] * len(workers), outputs
    return outputs


def logged_reports(workdir: Path, log: str = "reports.jsonl") -> list[dict[str, Any]]:
    """What the training code logged: every report with its answer (``reports.jsonl``), or
    every report it began to send (``made.jsonl``)."""
    return [
        json.loads(line) for path in workdir.rglob(log) for line in path.read_text().splitlines()
    ]


def store_rows(url: str) -> dict[str, list[Any]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:

            def rows(sql: str) -> list[Any]:
                return list(connection.execute(sa.text(sql)).all())

            return {
                "reports": rows(
                    "SELECT t.number, r.resource, r.value, r.action, r.request_id "
                    "FROM reports r JOIN trials t ON t.id = r.trial_id"
                ),
                "decisions": rows(
                    "SELECT d.id, t.number, d.kind, d.rung, d.worker_id, d.created_at "
                    "FROM decisions d JOIN trials t ON t.id = d.trial_id ORDER BY d.id"
                ),
                "trials": rows("SELECT number, state, retries FROM trials ORDER BY number"),
                "studies": rows("SELECT name, state FROM studies"),
            }
    finally:
        engine.dispose()


def assert_consistent(url: str, workdir: Path) -> dict[str, list[Any]]:
    """The checks every fault test ends with; returns the rows for more specific ones."""
    rows = store_rows(url)
    logged = logged_reports(workdir)
    stored = {
        (number, float(resource)): (value, action)
        for number, resource, value, action, _ in rows["reports"]
    }
    # No report stored twice: not under one request id, not for one (trial, resource).
    assert len(stored) == len(rows["reports"])
    assert len({request_id for *_, request_id in rows["reports"]}) == len(rows["reports"])
    # Nothing stored that no trial began to report (a killed trial may not have logged the
    # answer), and values as reported.
    made = {
        (entry["number"], float(entry["resource"]))
        for entry in logged_reports(workdir, "made.jsonl")
    }
    assert set(stored) <= made
    reported = {(entry["number"], float(entry["resource"])): entry["value"] for entry in logged}
    assert all(stored[key][0] == value for key, value in reported.items() if key in stored)
    # Every acknowledged report is stored; one the coordinator never saw is missing only when it
    # had already stopped or paused the trial at a lower resource (the worker dropped it).
    for entry in logged:
        key = (entry["number"], float(entry["resource"]))
        if key in stored:
            continue
        # Not acknowledged: buffered, or answered stop by the worker itself because the
        # coordinator had already stopped the trial.
        assert entry["buffered"] or entry["stop"], f"acknowledged report {entry} is missing"
        assert any(
            number == entry["number"] and resource < key[1] and action != "continue"
            for (number, resource), (_, action) in stored.items()
        ), f"report {entry} was lost"
    # Trial numbers are 0..n-1, each created once; no promotion repeated.
    numbers = [number for number, _, _ in rows["trials"]]
    assert numbers == list(range(len(numbers)))
    kinds = defaultdict(list)
    for _, number, kind, rung, _, _ in rows["decisions"]:
        kinds[(number, kind)].append(rung)
    assert all(len(kinds[(number, "new")]) == 1 for number in numbers)
    for (number, kind), rungs in kinds.items():
        if kind == "promote":
            assert len(rungs) == len(set(rungs)), f"trial {number} promoted twice: {rungs}"
    # A trial is handed out again only after its previous worker let go of it.
    held: dict[int, bool] = {}
    for _, number, kind, _, worker, _ in rows["decisions"]:
        if kind in ASSIGNED:
            assert not held.get(number), f"trial {number} handed to {worker} while held"
            held[number] = True
        elif kind in LET_GO:
            held[number] = False
    assert rows["studies"] == [(STUDY, "finished")]
    assert not [t for t in rows["trials"] if t[1] in ("running", "pending")]
    assert_schedule_replays(url)
    return rows


def assert_schedule_replays(url: str) -> None:
    """A correct schedule: the decisions log, replayed in order on a fresh StudyState, is what
    the pure scheduler makes of it. Each hand-out (new, promote, resume) must be
    ``Asha.next_job`` of the state as of that decision, so a promotion was the best released
    trial of the highest rung that had one and ranked in the top 1/eta of its rung's results
    then; each rung a report reached must get ``Asha.on_report``'s answer. Decision ids follow
    commit order, since decisions on a study are serialised by its row lock. (These studies
    queue no proposals, which start in bracket 0 whatever bracket the scheduler drew.)"""
    engine = sa.create_engine(url)
    try:
        with Session(engine) as session:
            spec = StudySpec.from_json(session.scalars(sa.select(tables.Study.spec)).one())
            trials = {
                number: (config, bracket)
                for number, config, bracket in session.execute(
                    sa.select(tables.Trial.number, tables.Trial.config, tables.Trial.bracket)
                )
            }
            rung_reports = session.execute(
                sa.select(tables.Trial.number, tables.Report.rung, tables.Report.resource)
                .add_columns(tables.Report.value)
                .join(tables.Trial, tables.Report.trial_id == tables.Trial.id)
                .where(tables.Report.rung.is_not(None))
            )
            results = {(number, rung): (r, value) for number, rung, r, value in rung_reports}
            log = session.execute(
                sa.select(tables.Trial.number, tables.Decision.kind, tables.Decision.rung)
                .add_columns(tables.Decision.worker_id)
                .join(tables.Trial, tables.Decision.trial_id == tables.Trial.id)
                .order_by(tables.Decision.id)
            ).all()
    finally:
        engine.dispose()
    state, scheduler = StudyState(spec), make_scheduler(spec)
    for index, (number, kind, rung, worker) in enumerate(log):
        where = f"decision {index}: {kind} trial {number} rung {rung}"
        config, bracket = trials[number]
        if kind in ASSIGNED:
            job = {"new": NewTrial(bracket), "promote": Promote(number, rung)}.get(kind)
            assert scheduler.next_job(state) == (job or Resume(number, rung)), where
            if kind == "new":
                assert number == state.next_number, where
                snapshot = TrialSnapshot(number, config, TrialState.RUNNING, bracket=bracket)
                state.add_trial(snapshot)
            state.assign(number, worker, rung)
        elif kind == "release":
            state.release(number)
        elif kind == "requeue":
            state.requeue(number)
        elif rung is not None:  # a report reached a rung: continue, pause, stop or complete
            resource, value = results[(number, rung)]
            decision = scheduler.on_report(state, number, resource, value)
            assert (decision.action.value, decision.rung) == (kind, rung), where
            state.record_rung(number, rung, value)
            if kind in STATE_AFTER:
                state.set_state(number, STATE_AFTER[kind])
        else:  # the worker's Complete or Fail, or a trial that spent its retries
            assert kind in STATE_AFTER, where
            state.set_state(number, STATE_AFTER[kind])


# ---------------------------------------------------------------- workers die


def test_a_killed_workers_trial_goes_to_another_worker_within_two_heartbeats(
    store_url: str, serve, start_workers, tmp_path: Path
) -> None:
    lease = 6.0
    heartbeat = lease / HEARTBEATS_PER_LEASE
    server = serve(store_url, "--lease-seconds", str(lease))
    # Stopping-type ASHA: the first trial runs on past its first rung toward r_max.
    create_study(server.address, max_trials=4, asha_mode="stopping")
    workdir = tmp_path / "trials"
    (victim,) = start_workers(
        server.address,
        workdir,
        1,
        "train_faults.py",
        env={"HPO_TEST_STEP_SECONDS": "0.5"},
    )
    wait_for(
        lambda: count(store_url, "SELECT count(*) FROM reports") >= 1, "a first report", [victim]
    )
    # The machine dies: the worker and its training process, with no goodbye.
    trial_pid = int((workdir / STUDY / "trial-00000" / "pid").read_text())
    victim.kill()
    os.kill(trial_pid, signal.SIGKILL)
    killed_at = datetime.now(timezone.utc)
    victim.communicate(timeout=30)

    (rescuer,) = start_workers(
        server.address,
        workdir,
        1,
        "train_faults.py",
        "--quiet",
        env={"HPO_TEST_STEP_SECONDS": "0.01"},
    )
    finish([rescuer])
    rows = assert_consistent(store_url, workdir)
    requeued = [d for d in rows["decisions"] if d[1] == 0 and d[2] == "requeue"]
    assert len(requeued) == 1
    requeued_at = requeued[0][5]
    if isinstance(requeued_at, str):  # SQLite returns the text it stores
        requeued_at = datetime.fromisoformat(requeued_at).replace(tzinfo=timezone.utc)
    assert (requeued_at - killed_at).total_seconds() <= 2 * heartbeat
    resumed = [d for d in rows["decisions"] if d[1] == 0 and d[2] == "resume"]
    assert len(resumed) == 1 and resumed[0][4] != requeued[0][4]
    assert rows["trials"][0][2] == 1  # one retry
    # The report the dead worker made is kept; its successor resumed above it.
    resources = sorted(float(r) for n, r, *_ in rows["reports"] if n == 0)
    assert resources[0] == 1.0 and len(resources) == len(set(resources)) > 1


# ---------------------------------------------------------------- coordinators die


def test_a_coordinator_killed_mid_study_resumes_from_the_store(
    store_url: str, serve, start_workers, tmp_path: Path
) -> None:
    port = free_port()
    server = serve(store_url, port=port)
    create_study(server.address, max_trials=30)
    workdir = tmp_path / "trials"
    workers = start_workers(server.address, workdir, 8, FUNCTION, "--quiet")
    wait_for(lambda: count(store_url, "SELECT count(*) FROM reports") >= 20, "20 reports", workers)
    server.kill()
    assert count(store_url, "SELECT count(*) FROM trials") < 30  # it died mid-study
    serve(store_url, port=port)
    finish(workers)
    rows = assert_consistent(store_url, workdir)
    assert any(kind == "promote" for _, _, kind, *_ in rows["decisions"])


def test_buffered_reports_land_exactly_once_after_a_10s_outage(
    store_url: str, serve, start_workers, tmp_path: Path
) -> None:
    port = free_port()
    server = serve(store_url, port=port)
    # Stopping-type ASHA up to 27: trials train long enough to be running when it goes away.
    create_study(server.address, max_trials=12, asha_mode="stopping", r_max=27)
    workdir = tmp_path / "trials"
    workers = start_workers(
        server.address,
        workdir,
        4,
        FUNCTION,
        "--quiet",
        env={"HPO_TEST_STEP_SECONDS": "0.1"},
    )
    wait_for(lambda: count(store_url, "SELECT count(*) FROM reports") >= 8, "8 reports", workers)
    server.stop()
    time.sleep(10)  # the outage itself: workers keep training and buffer their reports
    serve(store_url, port=port)
    finish(workers)
    rows = assert_consistent(store_url, workdir)
    buffered = {
        (entry["number"], float(entry["resource"]))
        for entry in logged_reports(workdir)
        if entry["buffered"]
    }
    assert buffered, "no report was buffered during the outage"
    landed = buffered & {(number, float(resource)) for number, resource, *_ in rows["reports"]}
    assert landed, "no buffered report reached the store"


@pytest.mark.postgres
def test_two_coordinators_on_one_postgres_store_never_hand_out_twice(
    postgres_url: str, serve, start_workers, tmp_path: Path
) -> None:
    first, second = serve(postgres_url), serve(postgres_url)
    create_study(first.address, max_trials=40)
    workdir = tmp_path / "trials"
    workers = [
        *start_workers(first.address, workdir, 8, FUNCTION, "--quiet"),
        *start_workers(second.address, workdir, 8, FUNCTION, "--quiet"),
    ]
    finish(workers)
    rows = assert_consistent(postgres_url, workdir)
    assert len(rows["trials"]) == 40
    assert any(kind == "promote" for _, _, kind, *_ in rows["decisions"])
    assert count(postgres_url, "SELECT count(*) FROM workers") == 16
