"""Values read back from the store with the type and the exact value they were written with.

PostgreSQL's ``jsonb`` turned the float 1e20 into the integer 100000000000000000000: a
categorical choice of 1e20 then broke every read of the study's spec (and every listing), and
a float of 2**63 or more read back as an integer the wire could not carry (issue 15, defect 1).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from hpo.client import Client
from hpo.coordinator.server import start_coordinator
from hpo.dashboard.app import create_app
from hpo.errors import InvalidArgumentError
from hpo.space import INT64_MAX, INT64_MIN, Categorical, Float
from hpo.storage import create_engine
from hpo.storage.migrate import upgrade
from hpo.storage.types import Json

VALUES = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),  # the whole double range, -0.0 included
    st.integers(INT64_MIN, INT64_MAX),
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00")),
)


def same(stored: Any, read: Any) -> bool:
    """Equal, of the same type, and for floats the same bits (sign of zero included)."""
    if type(stored) is not type(read):
        return False
    if isinstance(stored, float):
        return stored == read and math.copysign(1, stored) == math.copysign(1, read)
    return bool(stored == read)


PROBE = sa.Table(
    "json_probe",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("document", Json),  # the type of every JSON column of the store
)


@pytest.fixture
def engine(store_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(store_url)
    PROBE.create(engine)
    yield engine
    engine.dispose()


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=VALUES)
def test_json_columns_keep_type_and_value(engine: sa.Engine, value: Any) -> None:
    with engine.begin() as connection:
        connection.execute(PROBE.delete())
        connection.execute(PROBE.insert().values(id=1, document={"value": value, "list": [value]}))
    with engine.connect() as connection:
        read = connection.execute(sa.select(PROBE.c.document)).scalar_one()
    assert same(value, read["value"]) and same(value, read["list"][0]), (value, read)


def test_the_store_migrates_to_exact_json(store_url: str) -> None:
    """The migrated columns are of the exact type (``json`` on PostgreSQL, not ``jsonb``)."""
    engine = create_engine(store_url)
    upgrade(engine)
    columns = sa.inspect(engine).get_columns("studies")
    kind = next(column["type"] for column in columns if column["name"] == "spec")
    engine.dispose()
    assert type(kind).__name__ == "JSON", kind


@pytest.fixture
def client(store_url: str) -> Iterator[Client]:
    coordinator = start_coordinator(store_url, "127.0.0.1", 0, lease_seconds=60)
    with Client(coordinator.address, timeout=10) as connected:
        yield connected
    coordinator.stop(grace=1)


CHOICES = [1e20, 2.0**62, 2**62, INT64_MAX, -(2.0**70), "1e20"]


def test_extreme_values_round_trip_through_the_service(client: Client, store_url: str) -> None:
    space = {"c": Categorical(CHOICES), "x": Float(0.0, 1e300), "y": Float(-1e307, -1e306)}
    study = client.create_study("extreme", space, r_min=1, r_max=1, algorithm="random")
    again = client.create_study(
        "extreme", space, r_min=1, r_max=1, algorithm="random", exist_ok=True
    )
    assert again.id == study.id  # the stored spec equals the one asked for
    for read in (client.get_study("extreme"), *client.studies()):
        choices = read.spec.space["c"].choices  # type: ignore[union-attr]
        assert all(map(same, CHOICES, choices)), choices
    for _ in range(12):
        trial = study.suggest()
        assert trial is not None
        with trial:
            trial.report(1, trial.config["x"])
    stored = {record.number: record.config for record in study.trials()}
    assert len(stored) == 12
    for config in stored.values():
        assert isinstance(config["x"], float) and 0.0 <= config["x"] <= 1e300
        assert any(same(choice, config["c"]) for choice in CHOICES), config["c"]
    best = study.best()
    assert best is not None and isinstance(best.trial.config["x"], float)
    assert best.trial.config == stored[best.trial.number]
    with TestClient(create_app(store_url, anonymous=True)) as api:
        response = api.get("/api/studies")
        assert response.status_code == 200, response.text
        assert [entry["name"] for entry in response.json()["studies"]] == ["extreme"]


def test_an_unreadable_stored_spec_does_not_hide_the_other_studies(
    client: Client, store_url: str
) -> None:
    """A spec an older version stored in a form it cannot read back (jsonb's 1e20 as an
    integer) is left out of listings, which still show every other study."""
    space = {"c": Categorical([1e20, 2.0])}
    client.create_study("broken", space, r_min=1, r_max=1, algorithm="random")
    client.create_study("fine", space, r_min=1, r_max=1, algorithm="random")
    engine = sa.create_engine(store_url)
    with engine.begin() as connection:
        spec = connection.execute(
            sa.select(sa.column("spec", Json))
            .select_from(sa.table("studies"))
            .where(sa.column("name") == "broken")
        ).scalar_one()
        spec["space"]["c"]["choices"][0] = 10**20  # what jsonb gave back
        connection.execute(
            sa.update(sa.table("studies", sa.column("name"), sa.column("spec", Json)))
            .where(sa.column("name") == "broken")
            .values(spec=spec)
        )
    engine.dispose()
    assert [study.name for study in client.studies()] == ["fine"]
    with pytest.raises(InvalidArgumentError, match=r"space\.c\.choices\[0\]"):
        client.get_study("broken")
    with TestClient(create_app(store_url, anonymous=True)) as api:
        response = api.get("/api/studies")
        assert response.status_code == 200, response.text
        assert [entry["name"] for entry in response.json()["studies"]] == ["fine"]
