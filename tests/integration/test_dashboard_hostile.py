"""The dashboard's API answers 400 naming the field, never 500, for values a database cannot
take (issue 15, defect 11): an offset past int64 (both stores), a NUL in ``q`` or in a study
name (PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.datastructures import QueryParams
from starlette.testclient import TestClient

from hpo.dashboard.app import create_app
from hpo.dashboard.parsing import MAX_TEXT_LENGTH, Parameters
from hpo.errors import InvalidArgumentError
from hpo.service import StudyService
from hpo.space import Float, Space
from hpo.spec import Resource, StudySpec
from hpo.storage.migrate import upgrade
from hpo.storage.sql_store import SqlStudyStore
from hpo.validation import MAX_NAME_LENGTH, check_study_name


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


# docs/limits.md: the search text q holds at most MAX_TEXT_LENGTH (200) characters; a study
# name in a path is held to the study-name rule (at most MAX_NAME_LENGTH, 128).
@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        (f"/api/studies/s/trials?q={'x' * MAX_TEXT_LENGTH}", 200, None),
        (f"/api/studies/s/trials?q={'x' * (MAX_TEXT_LENGTH + 1)}", 400, "q"),
        (f"/api/studies/{'s' * MAX_NAME_LENGTH}/trials", 404, None),  # a valid name, no study
        (f"/api/studies/{'s' * (MAX_NAME_LENGTH + 1)}/trials", 400, "name"),
    ],
)
def test_text_and_names_are_held_to_their_lengths(
    api: TestClient, path: str, status: int, field: str | None
) -> None:
    response = api.get(path)
    assert response.status_code == status, response.text
    assert response.json().get("field") == field


def test_bytes_that_are_not_utf8_reach_the_search_replaced(api: TestClient) -> None:
    """The HTTP layer decodes a query with U+FFFD for bytes that are not UTF-8, so the search
    gets valid Unicode and answers: no 500, whatever the bytes."""
    response = api.get("/api/studies/s/trials?q=%ED%B2%80%FF")
    assert response.status_code == 200, response.text
    assert response.json()["trials"] == []


def test_a_lone_surrogate_is_refused_naming_the_field() -> None:
    """Invalid Unicode cannot come through HTTP (see above), but the checks the dashboard uses
    refuse it from any caller: it is not UTF-8, so no database can store or compare it."""
    with pytest.raises(InvalidArgumentError) as caught:
        Parameters(QueryParams({"q": "a\udc80"}), ["q"]).text("q")
    assert caught.value.field == "q"
    with pytest.raises(InvalidArgumentError) as caught:
        check_study_name("a\udc80")
    assert caught.value.field == "name"
