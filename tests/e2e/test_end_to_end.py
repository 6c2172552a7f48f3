"""Real processes: ``hpo serve``, ``hpo worker`` and the CLI, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from hpo.client import Client
from hpo.space import Float
from hpo.storage.migrate import head_revision
from tests.conftest import HPO

SCRIPTS = Path(__file__).resolve().parent
SPEC = {
    "name": "e2e",
    "description": "a synthetic learning curve",
    "space": {
        "x": {"type": "float", "low": -2, "high": 3},
        "units": {"type": "int", "low": 8, "high": 256, "log": True},
    },
    "objective": {"metric": "loss", "direction": "minimize"},
    "resource": {"name": "epochs", "r_min": 1, "r_max": 9, "eta": 3},
    "max_trials": 18,
    "seed": 5,
}
pytestmark = pytest.mark.e2e


def hpo_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HPO, *args], capture_output=True, text=True, check=check, timeout=120)


def test_four_workers_finish_a_study_and_the_store_holds_what_they_reported(
    store_url: str, serve, start_workers, tmp_path: Path
) -> None:
    server = serve(store_url)
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(SPEC))
    hpo_cli("study", "create", "--spec", str(spec_file), "--coordinator", server.address)

    workers = start_workers(server.address, tmp_path / "trials", 4, "train_quadratic.py", "--quiet")
    outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0, 0], outputs
    assert sum("assignments" in output for output in outputs) == 4

    logged = [
        json.loads(line)
        for path in (tmp_path / "trials").rglob("reports.jsonl")
        for line in path.read_text().splitlines()
    ]
    engine = sa.create_engine(store_url)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT t.number, r.resource, r.value, r.action FROM reports r "
                "JOIN trials t ON t.id = r.trial_id"
            )
        ).all()
        states = dict(
            connection.execute(sa.text("SELECT state, count(*) FROM trials GROUP BY state")).all()
        )
        new_trials = connection.execute(
            sa.text("SELECT count(*) FROM decisions WHERE kind = 'new'")
        ).scalar()
        held = connection.execute(
            sa.text("SELECT count(*) FROM trials WHERE worker_id IS NOT NULL AND state = 'paused'")
        ).scalar()
    engine.dispose()
    # Every acknowledged report is in the store exactly once, and nothing else is.
    stored = sorted((n, float(r), v) for n, r, v, _ in rows)
    assert stored == sorted((e["number"], float(e["resource"]), e["value"]) for e in logged)
    assert len(set(stored)) == len(stored)
    # The answers the workers saw are the decisions the store recorded.
    stops = {(n, float(r)) for n, r, _, action in rows if action != "continue"}
    assert stops == {(e["number"], float(e["resource"])) for e in logged if e["stop"]}
    assert new_trials == SPEC["max_trials"] == sum(states.values())
    assert set(states) <= {"paused", "completed"} and states["completed"] >= 2
    assert held == 0  # every paused trial was released by its worker

    best = json.loads(hpo_cli("study", "best", "e2e", "--json", "-c", server.address).stdout)
    top = max(e["resource"] for e in logged)
    assert best["resource"] == top
    assert best["value"] == min(e["value"] for e in logged if e["resource"] == top)
    listing = hpo_cli("study", "list", "-c", server.address).stdout
    assert "e2e" in listing and "finished" in listing
    shown = hpo_cli("study", "show", "e2e", "-c", server.address).stdout
    assert "leading trials" in shown and "epochs" in shown
    with Client(server.address) as client:
        trials = client.get_study("e2e").trials()
    # The default algorithm: asynchronous Hyperband whose configurations come from the GP
    # once it has data (or at random while no candidate is ready). Whether a background fit
    # ends before these few quick trials do is timing; that new trials do come from the model
    # is asserted where suggest waits for the fit (test_models.py, deterministic: true).
    assert "gp-hyperband" in listing
    sources = {trial.source for trial in trials}
    assert "random" in sources and sources <= {"random", "model"}
    assert len({trial.bracket for trial in trials}) >= 2

    # Raise r_max: the trials that reached 9 pause there, the best of them continue to 27.
    at_top = {t.number for t in trials if t.state.value == "completed" and t.rung == 2}
    hpo_cli("study", "extend", "e2e", "--r-max", "27", "-c", server.address)
    workers = start_workers(server.address, tmp_path / "trials", 2, "train_quadratic.py", "--quiet")
    assert [worker.wait(timeout=300) for worker in workers] == [0, 0]
    with engine.connect() as connection:
        reopened = (
            connection.execute(
                sa.text(
                    "SELECT t.number FROM decisions d JOIN trials t ON t.id = d.trial_id "
                    "WHERE d.kind = 'reopen'"
                )
            )
            .scalars()
            .all()
        )
        deeper = connection.execute(
            sa.text(
                "SELECT t.number, min(r.resource) FROM reports r "
                "JOIN trials t ON t.id = r.trial_id WHERE r.resource > 9 GROUP BY t.number"
            )
        ).all()
        total = connection.execute(sa.text("SELECT count(*) FROM trials")).scalar()
    engine.dispose()
    assert set(reopened) == at_top
    assert total == SPEC["max_trials"], "nothing new started: the budget was spent"
    assert deeper and {number for number, _ in deeper} <= at_top
    assert all(first > 9 for _, first in deeper), "continued from the checkpoint at 9"
    assert server.stop() == 0


def test_a_terminated_worker_fails_its_trial_and_stops_the_command(
    sqlite_url: str, serve, start_workers, tmp_path: Path
) -> None:
    server = serve(sqlite_url)
    with Client(server.address) as client:
        # Stopping type: the first report continues, so the trial is running when stopped.
        client.create_study("e2e", {"x": Float(0, 1)}, r_min=1, r_max=9, asha_mode="stopping")
        (worker,) = start_workers(server.address, tmp_path, 1, "train_blocking.py")
        assert worker.stdout is not None
        seen = []
        for line in worker.stdout:  # the worker echoes the trial's output: wait for it
            seen.append(line)
            if line.strip() == "[trial 0] ready":
                break
        worker.send_signal(signal.SIGTERM)
        rest, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0, "".join(seen) + rest
        (trial,) = client.get_study("e2e").trials()
    assert trial.state.value == "failed"
    assert "worker was stopped" in trial.fail_reason
    pid = int(next(tmp_path.rglob("pid")).read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_worker_needs_a_command_or_a_function() -> None:
    result = hpo_cli("worker", "--study", "x", check=False)
    assert result.returncode != 0
    assert "give either a command after -- or --function" in result.stderr


def test_cli_reports_errors_without_a_traceback(sqlite_url: str, serve, tmp_path: Path) -> None:
    server = serve(sqlite_url)
    missing = hpo_cli("study", "show", "nope", "-c", server.address, check=False)
    assert missing.returncode == 1
    assert "study 'nope' does not exist" in missing.stderr and "Traceback" not in missing.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**SPEC, "resource": {"r_min": 0, "r_max": 9}}))
    invalid = hpo_cli("study", "create", "--spec", str(bad), "-c", server.address, check=False)
    assert invalid.returncode == 1 and "resource.r_min: must be > 0" in invalid.stderr


def test_cli_enqueues_and_shows_the_priors(sqlite_url: str, serve, tmp_path: Path) -> None:
    server = serve(sqlite_url)
    spec_file = tmp_path / "priors.json"
    first = {"x": 0.25, "units": 32}
    prior = {"kind": "point", "config": {"x": 0.5}, "confidence": "high"}
    spec_file.write_text(json.dumps({**SPEC, "name": "p", "enqueue": [first], "priors": [prior]}))
    hpo_cli("study", "create", "--spec", str(spec_file), "-c", server.address)
    queued = hpo_cli(
        "study", "enqueue", "p", "--config", '{"x": 0.75, "units": 64}', "-c", server.address
    )
    assert "queued at position 1" in queued.stdout
    bad = hpo_cli(
        "study",
        "enqueue",
        "p",
        "--config",
        '{"x": 7, "units": 64}',
        "-c",
        server.address,
        check=False,
    )
    assert bad.returncode == 1 and "config.x: 7.0 is outside" in bad.stderr
    shown = hpo_cli("study", "priors", "p", "-c", server.address).stdout
    assert shown.count("user") == 2 and "x=0.75" in shown and "queued" in shown
    with Client(server.address) as client:
        trial = client.get_study("p").suggest()
    assert trial is not None and trial.config == first and trial.record.source == "user"
    stopped = hpo_cli("study", "stop", "p", "--reason", "enough", "-c", server.address)
    assert "study p stopped; 1 trials running" in stopped.stdout
    with Client(server.address) as client:
        assert client.get_study("p").state == "stopped"


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    result = hpo_cli("db", "upgrade", "--db", str(db))
    assert f"schema {head_revision()}" in result.stdout
    engine = sa.create_engine(f"sqlite:///{db}")
    assert set(sa.inspect(engine).get_table_names()) >= {"studies", "trials", "reports", "tokens"}
    engine.dispose()


def test_the_demo_runs_a_study_to_the_end(tmp_path: Path) -> None:
    command = [*HPO, "demo", "--workers", "2", "--trials", "6", "--no-live"]
    command += ["--db", str(tmp_path / "demo.db"), "--workdir", str(tmp_path / "demo")]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "best configuration" in result.stdout
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT state FROM studies")).scalar() == "finished"
        assert connection.execute(sa.text("SELECT count(*) FROM trials")).scalar() == 6
    engine.dispose()
