"""A fit never runs inside a write transaction (issue 15, defect 5).

A deterministic GP study fitted its model inside the study's write transaction; on SQLite that
is a lock on the whole store, so another study's Suggest and Report stalled for the whole fit
(11.7 s with 4,096 dimensions), and a fit over 30 s made other writers fail with "database is
locked". The fit now runs before the transaction, under the study's own lock only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from hpo.samplers.gp import FitResult, InlineModels
from hpo.samplers.gp_fit import fit_and_propose
from hpo.samplers.model_input import MIN_RESULTS, ModelInput
from hpo.service import Assignment, StudyService
from hpo.space import Float, Space
from hpo.spec import Resource, StudySpec
from hpo.storage.migrate import upgrade
from hpo.storage.sql_store import SqlStudyStore

SPACE = Space({"x": Float(0, 1), "y": Float(0, 1)})
WAIT_SECONDS = 60


class GatedFit:
    """A real fit that first signals it started and waits until the test lets it go on."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.go_on = threading.Event()

    def __call__(self, data: ModelInput, warm: dict[str, Any] | None) -> FitResult:
        self.started.set()
        assert self.go_on.wait(WAIT_SECONDS)
        return fit_and_propose(data, warm)


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStudyStore]:
    store = SqlStudyStore(store_url)
    upgrade(store.engine)
    yield store
    store.close()


def run_trial(service: StudyService, study: str, worker: str) -> None:
    assignment = service.suggest(study, worker, f"{study}-{worker}-suggest")
    assert isinstance(assignment, Assignment)
    trial = assignment.trial.id
    service.report(trial, 1, 0.5, f"{study}-{worker}-{trial}-report", worker)
    service.complete(trial, worker)


def test_a_fit_does_not_hold_the_store_while_another_study_works(store: SqlStudyStore) -> None:
    fit = GatedFit()
    service = StudyService(store, models=InlineModels(fit=fit))
    gp = StudySpec(name="gp", space=SPACE, resource=Resource(1, 1), deterministic=True, seed=1)
    other = StudySpec(name="other", space=SPACE, resource=Resource(1, 1), algorithm="random")
    service.create_study(gp)
    service.create_study(other)
    for number in range(MIN_RESULTS):
        assignment = service.suggest("gp", "w", f"gp-{number}")
        assert isinstance(assignment, Assignment)
        service.report(assignment.trial.id, 1, float(number), f"gp-report-{number}", "w")
        service.complete(assignment.trial.id, "w")
    assert not fit.started.is_set()

    waiting = threading.Thread(target=lambda: service.suggest("gp", "w", "gp-fit"), daemon=True)
    waiting.start()  # its suggestion waits for the due fit
    assert fit.started.wait(WAIT_SECONDS)
    other_done = threading.Event()

    def work_on_the_other_study() -> None:
        run_trial(service, "other", "w2")
        other_done.set()

    threading.Thread(target=work_on_the_other_study, daemon=True).start()
    try:
        # While the fit is held, the other study's suggest, report and complete all commit.
        assert other_done.wait(WAIT_SECONDS / 2), "the other study waited for the fit"
    finally:
        fit.go_on.set()
        waiting.join(WAIT_SECONDS)
    assert not waiting.is_alive()
