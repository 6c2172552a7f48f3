"""The coordinator sends an LLM API key only where its operator allowed it (issue 15, defect 2).

An admin's study spec names a ``base_url`` and an ``api_key_env``; before the fix, naming
``PGPASSWORD`` and a URL of one's own made the coordinator send the database password there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from hpo.client import Client
from hpo.coordinator.server import start_coordinator
from hpo.errors import InvalidArgumentError, PermissionDeniedError
from hpo.priors.endpoints import KeyGrant, LLMEndpoints
from hpo.priors.llm import LLMExchange, TaskDescription
from hpo.priors.llm_settings import LLMSettings
from hpo.priors.warm_start import allowed_ask
from hpo.space import Float, Space
from tests.conftest import table_rows
from tests.llm_stub import StubEndpoint

SECRET_ENV = "HPO_TEST_DATABASE_PASSWORD"
SPACE = {"lr": Float(1e-4, 1.0, log=True)}
ANSWER = json.dumps({"configurations": [{"lr": 0.01}]})
Coordinate = Callable[[LLMEndpoints], Client]


@pytest.fixture
def coordinate(sqlite_url: str) -> Iterator[Coordinate]:
    """``coordinate(rule)``: a client of a real coordinator that follows ``rule``."""
    running: list[Any] = []

    def start(rule: LLMEndpoints) -> Client:
        coordinator = start_coordinator(sqlite_url, "127.0.0.1", 0, llm_endpoints=rule)
        client = Client(coordinator.address, timeout=10)
        running.append((coordinator, client))
        return client

    yield start
    for coordinator, client in running:
        client.close()
        coordinator.stop(grace=1)


def create(client: Client, name: str, base_url: str, key_env: str) -> Any:
    llm = {"kind": "llm", "base_url": base_url, "model": "m", "api_key_env": key_env}
    return client.create_study(
        name, SPACE, r_min=1, r_max=1, algorithm="random", description="t", priors=[llm]
    )


def wait_for_exchange(client: Client, name: str) -> Any:
    study = client.get_study(name)
    trial = study.suggest()  # waits while the warm start asks
    assert trial is not None
    trial.complete()
    [exchange] = study.priors().exchanges
    return exchange


def test_a_key_the_operator_did_not_allow_is_refused_and_nothing_is_written_or_sent(
    coordinate: Coordinate,
    stub: Callable[..., StubEndpoint],
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRET_ENV, "the-database-password")
    endpoint = stub(ANSWER)
    client = coordinate(LLMEndpoints())
    before = table_rows(sa.create_engine(sqlite_url))
    with pytest.raises(PermissionDeniedError, match=r"priors\[0\]\.api_key_env"):
        create(client, "steal", endpoint.base_url, SECRET_ENV)
    assert table_rows(sa.create_engine(sqlite_url)) == before
    assert endpoint.requests == []


def test_an_allowed_key_goes_only_to_its_urls(
    coordinate: Coordinate, stub: Callable[..., StubEndpoint], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "sk-allowed")
    endpoint, elsewhere = stub(ANSWER), stub(ANSWER)
    rule = LLMEndpoints.from_options([f"{SECRET_ENV}={endpoint.base_url}"], [])
    client = coordinate(rule)
    with pytest.raises(PermissionDeniedError, match=r"may only be sent to"):
        create(client, "elsewhere", elsewhere.base_url, SECRET_ENV)
    create(client, "allowed", endpoint.base_url, SECRET_ENV)
    assert wait_for_exchange(client, "allowed").error is None
    assert [key for _, key in endpoint.requests] == ["Bearer sk-allowed"]
    assert elsewhere.requests == []


def test_base_urls_can_be_restricted(
    coordinate: Coordinate, stub: Callable[..., StubEndpoint], sqlite_url: str
) -> None:
    endpoint, other = stub(ANSWER), stub(ANSWER)
    client = coordinate(LLMEndpoints(base_urls=(endpoint.base_url,)))
    before = table_rows(sa.create_engine(sqlite_url))
    with pytest.raises(PermissionDeniedError, match=r"priors\[0\]\.base_url"):
        create(client, "other", other.base_url, "")
    assert table_rows(sa.create_engine(sqlite_url)) == before  # docs/security.md: nothing stored
    create(client, "keyless", endpoint.base_url, "")
    assert wait_for_exchange(client, "keyless").error is None
    assert [key for _, key in endpoint.requests] == ["Bearer not-needed"]
    assert other.requests == []


def test_a_question_the_rule_no_longer_allows_is_not_sent() -> None:
    """A study stored under an earlier rule is checked again before its question is sent."""
    asked: list[LLMSettings] = []

    def model(settings: LLMSettings, space: Space, task: TaskDescription) -> LLMExchange:
        asked.append(settings)
        raise AssertionError("the model must not be asked")

    settings = LLMSettings(base_url="http://127.0.0.1:9/v1", model="m", api_key_env=SECRET_ENV)
    task = TaskDescription("t", "value", "minimize", "epochs", 1, 1)
    exchange = allowed_ask(LLMEndpoints(), model, "priors[0]")(settings, Space(SPACE), task)
    assert asked == []
    assert exchange.error is not None and "not sent" in exchange.error
    assert SECRET_ENV in exchange.error and exchange.raw_answer is None


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["A"], (KeyGrant("A"),)),
        (["A=http://x/", "A=http://y/"], (KeyGrant("A", ("http://x/", "http://y/")),)),
        (["A=http://x/", "A"], (KeyGrant("A"),)),  # a bare NAME allows every URL
        (["A", "A=http://x/"], (KeyGrant("A"),)),
    ],
)
def test_key_options_add_up(options: list[str], expected: tuple[KeyGrant, ...]) -> None:
    assert LLMEndpoints.from_options(options, []).keys == expected


def test_a_key_option_must_name_a_variable() -> None:
    with pytest.raises(InvalidArgumentError, match="--llm-key-env"):
        LLMEndpoints.from_options(["NOT-A-NAME=http://x/"], [])
