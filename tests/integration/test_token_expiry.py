"""Tokens can expire (issue 15, defect 13): ``hpo token create --expires 30d``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import grpc
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from hpo.auth import Role, generate_secret
from hpo.cli import app
from hpo.client import Client
from hpo.coordinator.server import Coordinator, start_coordinator
from hpo.errors import HpoError, InvalidArgumentError
from hpo.storage.types import utcnow
from hpo.tokens import TokenService
from tests.conftest import table_rows


class Clock:
    """The coordinator's wall clock, moved by the test."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def secure(store_url: str, clock: Clock) -> Iterator[Coordinator]:
    running = start_coordinator(store_url, "127.0.0.1", 0, anonymous=False, clock=clock)
    yield running
    running.stop(grace=1)


def admin(coordinator: Coordinator) -> Client:
    secret = generate_secret()
    TokenService(coordinator.store.sql).create("root", Role.ADMIN, secret)
    return Client(coordinator.address, timeout=10, token=secret)


def test_a_token_is_refused_from_its_expiry_on(secure: Coordinator, clock: Clock) -> None:
    secret = generate_secret()
    with admin(secure) as root:
        created = root.create_token(
            "for-a-day", Role.READER, secret, expires_at=clock.now + timedelta(days=1)
        )
        assert created.expires_at is not None and created.active_at(clock.now)
        listed = {token.name: token for token in root.list_tokens()}
        assert listed["for-a-day"].expires_at == created.expires_at
        assert listed["root"].expires_at is None
    with Client(secure.address, timeout=10, token=secret) as reader:
        assert reader.studies() == []
        clock.now += timedelta(days=1, seconds=1)
        with pytest.raises(HpoError) as refused:
            reader.studies()
        assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
        assert "'for-a-day' expired at" in str(refused.value)


def test_an_expiry_in_the_past_is_refused_and_writes_nothing(
    secure: Coordinator, store_url: str, clock: Clock
) -> None:
    engine = sa.create_engine(store_url)
    with admin(secure) as root:
        before = table_rows(engine)
        with pytest.raises(InvalidArgumentError, match="^expires_at: must be in the future"):
            root.create_token("late", Role.READER, generate_secret(), expires_at=clock.now)
        assert table_rows(engine) == before
    engine.dispose()


def test_the_cli_creates_and_lists_expiring_tokens(sqlite_url: str) -> None:
    runner = CliRunner()
    created = runner.invoke(
        app, ["token", "create", "ci", "--role", "worker", "--expires", "30d", "--db", sqlite_url]
    )
    assert created.exit_code == 0, created.output
    forever = runner.invoke(
        app, ["token", "create", "forever", "--role", "reader", "--db", sqlite_url]
    )
    assert forever.exit_code == 0, forever.output
    listed = runner.invoke(app, ["token", "list", "--db", sqlite_url])
    assert listed.exit_code == 0, listed.output
    # The table's rows by token name (a row is "│ name │ role │ ...").
    rows = {line.split()[1]: line for line in listed.output.splitlines() if line.startswith("│")}
    expected = (utcnow() + timedelta(days=30)).date().isoformat()
    assert expected in rows["ci"] and "never" not in rows["ci"], listed.output
    # docs/security.md: a token without expiry is listed as expiring "never".
    assert "never" in rows["forever"], listed.output
    bad = runner.invoke(
        app, ["token", "create", "x", "--role", "reader", "--expires", "soon", "--db", sqlite_url]
    )
    assert bad.exit_code != 0 and "is not a duration" in bad.output
