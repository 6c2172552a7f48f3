"""A study of 256 parameters lists its trials (issue 15, defect 7).

With 256 parameters and 1,000 trials the default ListTrials page was 11.6 MB, over the 4 MiB
message limit: ``study.trials()`` and ``hpo study show`` failed with RESOURCE_EXHAUSTED, and
so did ``limit=500``. Pages are now bounded by size as well as by count.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hpo.client import Client
from hpo.coordinator.server import Coordinator, start_coordinator
from hpo.coordinator.servicer import MAX_PAGE_BYTES
from hpo.service import Assignment, StudyService
from hpo.space import Float, Space
from hpo.spec import Resource, StudySpec
from hpo.storage.sql_store import SqlStudyStore
from hpo.v1 import hpo_pb2 as pb

# The longest names and the most parameters a space may have: about 37 KB per trial.
SPACE = Space({f"p{index:03d}".ljust(128, "p"): Float(0, 1) for index in range(256)})
TRIALS = 150


@pytest.fixture
def coordinator(store_url: str) -> Iterator[Coordinator]:
    running = start_coordinator(store_url, "127.0.0.1", 0)
    service = StudyService(SqlStudyStore(store_url))
    service.create_study(
        StudySpec(name="wide", space=SPACE, resource=Resource(1, 1), algorithm="random")
    )
    for number in range(TRIALS):
        assignment = service.suggest("wide", "w", f"suggest-{number}")
        assert isinstance(assignment, Assignment)
        service.report(assignment.trial.id, 1, float(number), f"report-{number}", "w")
        service.complete(assignment.trial.id, "w")
    service.store.close()
    yield running
    running.stop(grace=1)


def test_a_wide_study_lists_every_trial_in_pages_bounded_by_size(coordinator: Coordinator) -> None:
    with Client(coordinator.address, timeout=30) as client:
        study = client.get_study("wide")
        trials = study.trials(include_reports=True)
        assert [trial.number for trial in trials] == list(range(TRIALS))
        assert all(len(trial.config) == 256 for trial in trials)
        page = client.call("ListTrials", pb.ListTrialsRequest(study="wide", limit=500))
        assert page.more and 0 < len(page.trials) < TRIALS
        assert page.ByteSize() <= MAX_PAGE_BYTES + 64 * 1024
        assert page.next_start_number == page.trials[-1].number + 1
