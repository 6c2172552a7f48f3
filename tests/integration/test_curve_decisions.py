"""Curve decisions over the real coordinator, on SQLite and PostgreSQL (docs/curves.md): reports
that settle a rung are stored with the prediction that ranked them, the reason names it, and a
restarted coordinator ranks and promotes from the stored predictions as the one before it."""

from __future__ import annotations

import math

import pytest
import sqlalchemy as sa

from hpo.client import Client, Study, Trial
from hpo.coordinator.server import Coordinator, start_coordinator
from hpo.space import Float
from tests.local_runs import seed_giving_model

SPACE = {"speed": Float(0.05, 1.0), "floor": Float(0.0, 1.0)}
# The longest a background fit may take here (a loaded 2-core machine).
FIT_SECONDS = 120
# The new trial whose source is checked (the portfolio gives it to the model at any trust).
CHECKED = 12


def loss(config: dict, epoch: float) -> float:
    """Curves that cross: slow learners start high and end lowest."""
    speed, floor = config["speed"], config["floor"]
    return 0.2 + 0.5 * floor * speed + (1 - 0.5 * speed) * math.exp(-speed * epoch)


def run(trial: Trial) -> list[str]:
    """Train one assignment reporting every epoch, as a training loop does; returns the
    reasons of the decisions that settled a rung."""
    reasons = []
    epoch = int(trial.resume_from)
    while epoch < trial.resource:
        epoch += 1
        decision = trial.report(epoch, loss(trial.config, epoch))
        if decision.reason != "between rungs":
            reasons.append(decision.reason)
        if decision.should_stop:
            break
    trial.complete()
    return reasons


def train(study: Study, assignments: int) -> list[str]:
    """One worker training ``assignments`` in turn (:func:`run`)."""
    reasons = []
    for _ in range(assignments):
        trial = study.suggest()
        if trial is None:
            break
        reasons += run(trial)
    return reasons


def test_curve_decisions_are_stored_explained_and_resumed(store_url: str) -> None:
    running = start_coordinator(store_url, "127.0.0.1", 0, lease_seconds=30)
    with Client(running.address, timeout=20) as client:
        study = client.create_study(
            "curved", SPACE, r_min=1, r_max=9, algorithm="asha", decision="curve", seed=3
        )
        assert study.spec.decision.value == "curve"
        reasons = train(study, 30)
        before = {record.number: (record.rung, record.state) for record in study.trials()}
    running.stop(grace=1)
    assert any("its curve predicts" in reason and "(ensemble)" in reason for reason in reasons)

    engine = sa.create_engine(store_url)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT rung, value, predicted, predicted_sd FROM reports")
        ).all()
        logged = (
            connection.execute(sa.text("SELECT reason FROM decisions WHERE kind = 'pause'"))
            .scalars()
            .all()
        )
    engine.dispose()
    settled = [row for row in rows if row.rung is not None and row.rung < 2]
    assert settled and all(row.predicted is not None and row.predicted_sd > 0 for row in settled)
    assert all(row.predicted is None for row in rows if row.rung is None or row.rung == 2)
    assert logged and all("its curve predicts" in reason for reason in logged)

    # A restarted coordinator decides from the stored predictions: the study goes on.
    running = start_coordinator(store_url, "127.0.0.1", 0, lease_seconds=30)
    try:
        with Client(running.address, timeout=20) as client:
            study = client.get_study("curved")
            after = {record.number: (record.rung, record.state) for record in study.trials()}
            assert after == before
            train(study, 20)
            assert max(record.rung for record in study.trials()) == 2
    finally:
        running.stop(grace=1)


def test_the_background_model_fits_a_curve_study(
    coordinator: Coordinator, client: Client, sqlite_url: str
) -> None:
    """gp-hyperband deciding by curves: the coordinator's model process fits each rung's ranking
    key, the predictions where a rung ranks by them (docs/curves.md), and a new trial takes
    its candidate."""
    study = client.create_study(
        "curved-gp",
        SPACE,
        r_min=1,
        r_max=9,
        algorithm="gp-hyperband",
        decision="curve",
        seed=seed_giving_model(CHECKED),
    )
    while len(study.trials()) < CHECKED:
        train(study, 1)
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as connection:
        extrapolated = connection.execute(
            sa.text("SELECT count(*) FROM reports WHERE rung = 1 AND predicted != value")
        ).scalar_one()
    engine.dispose()
    assert extrapolated > 0, "the fit must see at least one extrapolated curve"
    for _ in range(CHECKED):  # promotions come first; the next new trial is number CHECKED
        assert coordinator.models.wait_idle(FIT_SECONDS)
        trial = study.suggest()
        assert trial is not None
        if trial.record.number == CHECKED:
            assert trial.record.source == "model"
            break
        run(trial)
    else:
        pytest.fail(f"trial {CHECKED} was never suggested")
