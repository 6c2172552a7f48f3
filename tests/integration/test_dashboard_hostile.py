"""The dashboard's API answers 400 naming the field, never 500, for values a database cannot
take (issue 15, defect 11): an offset past int64 (both stores), a NUL in ``q`` or in a study
name (PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from hpo.dashboard.app import create_app
from hpo.service import StudyService
from hpo.space import Float, Space
from hpo.spec import Resource, StudySpec
from hpo.storage.migrate import upgrade
from hpo.storage.sql_store import SqlStudyStore


@pytest.fixture
def api(store_url: str) -> Iterator[TestClient]:
    store = SqlStudyStore(store_url)
    upgrade(store.engine)
    spec = StudySpec(name="s", space=Space({"x": Float(0, 1)}), resource=Resource(1, 1))
    StudyService(store).create_study(spec)
    store.close()
    with TestClient(create_app(store_url, anonymous=True)) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/studies/s/trials?offset=9223372036854775808", "offset"),
        ("/api/studies/s/trials?offset=99999999999999999999999", "offset"),
        ("/api/studies/s/trials?q=%00", "q"),
        ("/api/studies/s/trials?q=a%00b", "q"),
        ("/api/studies/a%00b", "name"),
        ("/api/studies/a%00b/trials", "name"),
    ],
)
def test_values_a_database_cannot_take_are_a_400_naming_the_field(
    api: TestClient, path: str, field: str
) -> None:
    response = api.get(path)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field


def test_the_largest_offset_is_answered(api: TestClient) -> None:
    response = api.get("/api/studies/s/trials?offset=9223372036854775807")
    assert response.status_code == 200, response.text
