"""A report past the assigned resource is refused (issue 15, defect 8).

A trial assigned resource 1 reported at 9: its 9-epoch value was ranked among 1-epoch values
at rung 0 and promoted, and the next worker's assignment had ``resume_from 9 > resource 3``,
so its reports were refused with "resource must grow".
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from hpo.client import Client
from hpo.coordinator.server import Coordinator, start_coordinator
from hpo.errors import InvalidArgumentError
from hpo.space import Float
from tests.conftest import table_rows


@pytest.fixture
def coordinator(store_url: str) -> Iterator[Coordinator]:
    running = start_coordinator(store_url, "127.0.0.1", 0)
    yield running
    running.stop(grace=1)


def test_a_report_past_the_assigned_resource_is_refused_and_writes_nothing(
    coordinator: Coordinator, store_url: str
) -> None:
    with Client(coordinator.address, timeout=10) as client:
        study = client.create_study(
            "rules", {"x": Float(0, 1)}, r_min=1, r_max=9, eta=3, algorithm="asha"
        )
        trial = study.suggest()
        assert trial is not None and trial.resource == 1
        engine = sa.create_engine(store_url)
        before = table_rows(engine)
        with pytest.raises(InvalidArgumentError, match=r"^resource: 9 is past the resource"):
            trial.report(9, 0.1)
        assert table_rows(engine) == before
        engine.dispose()
        decision = trial.report(1, 0.1)  # at the assigned resource: accepted as usual
        assert decision.should_stop  # paused at rung 0
        trial.complete()
