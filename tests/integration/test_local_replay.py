"""LocalStudy (the simulator's engine) decides exactly what the service decides."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hpo.local import LocalAssignment, LocalStudy
from hpo.service import Assignment, StudyService
from hpo.space import Categorical, Float, Space
from hpo.spec import Resource, StudySpec
from hpo.storage.migrate import upgrade
from hpo.storage.sql_store import SqlStudyStore
from hpo.vocabulary import TrialState

WORKERS = 3


def loss(config: dict, resource: float) -> float:
    return (float(config["x"]) - 0.3) ** 2 + (config["c"] == "b") * 0.2 + 1 / resource


@pytest.fixture
def service(sqlite_url: str) -> Iterator[StudyService]:
    store = SqlStudyStore(sqlite_url)
    upgrade(store.engine)
    yield StudyService(store)
    store.close()


@pytest.mark.parametrize("asha_mode", ["promotion", "stopping"])
def test_the_service_and_local_study_make_the_same_decisions(
    service: StudyService, asha_mode: str
) -> None:
    spec = StudySpec(
        name="replay",
        space=Space({"x": Float(0, 1), "c": Categorical(["a", "b"])}),
        resource=Resource(1, 27, 3),
        algorithm="hyperband",
        asha_mode=asha_mode,
        max_trials=40,
        seed=12,
    )
    service.create_study(spec)
    local = LocalStudy(spec)
    # Workers take turns: ask for work, then report at the target and end the assignment.
    service_jobs: dict[int, Assignment] = {}
    local_jobs: dict[int, LocalAssignment] = {}
    for step in range(400):
        worker = step % WORKERS
        if worker not in service_jobs:
            remote = service.suggest("replay", f"w{worker}")
            here = local.suggest(f"w{worker}")
            assert isinstance(remote, Assignment) == isinstance(here, LocalAssignment)
            if isinstance(remote, Assignment) and isinstance(here, LocalAssignment):
                assert (remote.trial.number, remote.resource) == (here.number, here.resource)
                service_jobs[worker], local_jobs[worker] = remote, here
            continue
        remote, here = service_jobs.pop(worker), local_jobs.pop(worker)
        value = loss(here.config, here.resource)
        outcome = service.report(remote.trial.id, remote.resource, value, f"r{step}", f"w{worker}")
        decision = local.report(here.number, here.resource, value)
        assert outcome.reason == decision.reason
        service.complete(remote.trial.id, f"w{worker}")
        local.complete(here.number)
    rows = service.list_trials("replay").trials
    assert len(rows) == spec.max_trials
    for row in rows:
        mine = local.state.trials[row.number]
        assert (row.config, row.bracket, row.rung, TrialState(row.state)) == (
            mine.config,
            mine.bracket,
            mine.rung,
            mine.state,
        )
