"""Priors through the service: enqueue over a real gRPC server, transfer between studies in
one store, and the LLM warm start with recorded answers (the real model is in
tests/e2e/test_llm_warm_start.py)."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import pytest

from hpo import Client
from hpo.coordinator.server import Coordinator
from hpo.errors import InvalidArgumentError
from hpo.priors.llm import (
    LLMExchange,
    LLMSettings,
    TaskDescription,
    answer_schema,
    build_messages,
    parse_answer,
    prompt_hash,
)
from hpo.priors.warm_start import question_hash
from hpo.service import Assignment, StudyService, Wait
from hpo.space import Categorical, Float, Int, Space
from hpo.spec import Resource, StudySpec
from hpo.storage.migrate import upgrade
from hpo.storage.sql_store import SqlStudyStore
from hpo.study_store import state_of
from tests.conftest import table_rows

SPACE = Space(
    {
        "lr": Float(1e-5, 1e-1, log=True),
        "layers": Int(1, 8),
        "act": Categorical(["relu", "tanh"]),
    }
)
A = {"lr": 1e-3, "layers": 2, "act": "relu"}
B = {"lr": 1e-2, "layers": 4, "act": "tanh"}


def quadratic(config: dict[str, Any]) -> float:
    return (config["layers"] - 3) ** 2 + (1.0 if config["act"] == "tanh" else 0.0)


def test_enqueued_configurations_run_first_at_the_bottom_rung(client: Client) -> None:
    study = client.create_study(
        "queued", SPACE, r_min=1, r_max=9, algorithm="hyperband", enqueue=[A]
    )
    proposal = study.enqueue(B)
    assert (proposal.position, proposal.source, proposal.trial_number) == (1, "user", None)
    first, second, third = study.suggest(), study.suggest(), study.suggest()
    assert first and second and third
    assert [(t.config, t.record.source) for t in (first, second)] == [(A, "user"), (B, "user")]
    assert first.resource == second.resource == 1 and first.record.bracket == 0
    assert third.record.source == "random"
    ran = [p.trial_number for p in study.priors().proposals]
    assert ran == [first.number, second.number]


def test_a_complete_point_prior_runs_first_to_r_max_and_is_shown_as_queued(
    client: Client,
) -> None:
    study = client.create_study(
        "mode-first",
        SPACE,
        r_min=1,
        r_max=9,
        priors=[{"kind": "point", "config": {"lr": 1e-3}}, {"kind": "point", "config": B}],
    )
    (proposal,) = study.priors().proposals
    assert (proposal.config, proposal.source, proposal.run_first) == (B, "prior", True)
    first, second = study.suggest(), study.suggest()
    assert first and second
    assert (first.config, first.record.source, first.resource) == (B, "prior", 9)
    assert second.record.source == "random"
    assert [p.trial_number for p in study.priors().proposals] == [first.number]


def test_a_bad_enqueued_configuration_names_the_field_and_writes_nothing(client: Client) -> None:
    study = client.create_study("strict", SPACE, r_min=1, r_max=9)
    with pytest.raises(InvalidArgumentError, match=r"config\.lr"):
        study.enqueue({**A, "lr": 5.0})
    with pytest.raises(InvalidArgumentError, match=r"config\.depth"):
        study.enqueue({**A, "depth": 3})
    assert study.priors().proposals == ()


def test_a_retried_enqueue_queues_once(store_url: str) -> None:
    service = in_process_service(store_url)
    service.create_study(spec("retried"))
    first = service.enqueue("retried", A, request_id="enqueue-1")
    again = service.enqueue("retried", A, request_id="enqueue-1")
    assert again.id == first.id
    assert len(service.priors("retried").proposals) == 1


def test_a_spec_with_a_bad_prior_is_rejected_over_grpc(client: Client) -> None:
    with pytest.raises(InvalidArgumentError, match=r"priors\[0\]\.config\.layers"):
        client.create_study(
            "bad-prior",
            SPACE,
            r_min=1,
            r_max=9,
            priors=[{"kind": "point", "config": {"layers": 99}}],
        )
    assert client.studies() == []


# ---------------------------------------------------------------- transfer


def run(client: Client, name: str, trials: int) -> None:
    study = client.get_study(name)
    for _ in range(trials):
        trial = study.suggest()
        assert trial is not None
        with trial:
            trial.report(trial.resource, quadratic(trial.config))


def finish(client: Client, name: str, trials: int) -> None:
    """Run the study's last ``trials`` trials, and see it finished."""
    run(client, name, trials)
    assert client.get_study(name).suggest() is None
    assert client.get_study(name).state == "finished"


def test_transfer_takes_the_best_configurations_of_studies_with_the_same_parameters(
    client: Client,
) -> None:
    client.create_study("earlier", SPACE, r_min=1, r_max=1, algorithm="random", max_trials=12)
    finish(client, "earlier", 12)
    other = Space({"x": Float(0, 1)})
    client.create_study("unrelated", other, r_min=1, r_max=1, algorithm="random")
    study = client.create_study(
        "later",
        SPACE,
        r_min=1,
        r_max=1,
        algorithm="random",
        priors=[{"kind": "transfer", "top_k": 3, "confidence": "high"}],
    )
    proposals = study.priors().proposals
    assert [p.source for p in proposals] == ["transfer"] * 3
    assert not any(p.run_first for p in proposals)
    earlier = sorted(client.get_study("earlier").trials(), key=lambda t: quadratic(t.config))
    best_values = sorted(quadratic(t.config) for t in earlier)[:3]
    assert sorted(quadratic(p.config) for p in proposals) == best_values
    # New trials are drawn from the prior those configurations make (or uniformly).
    sources = set()
    for _ in range(8):
        trial = study.suggest()
        assert trial is not None
        sources.add(trial.record.source)
        trial.complete()
    assert "transfer" in sources and sources <= {"transfer", "random"}


def test_transfer_without_names_takes_only_done_studies_with_completed_trials(
    client: Client,
) -> None:
    """Finished and stopped studies count; a running one, or a stopped one without a
    completed trial (its one trial paused at the bottom rung with a result), does not."""
    names = ("finished", "stopped", "running", "halted")
    configs = {name: {**A, "layers": layers} for layers, name in enumerate(names, start=1)}
    for name, config in configs.items():
        r_max = 3 if name == "halted" else 1
        client.create_study(name, SPACE, r_min=1, r_max=r_max, max_trials=2, enqueue=[config])
    finish(client, "finished", 2)
    run(client, "stopped", 1)
    client.get_study("stopped").stop()
    run(client, "running", 1)
    halted = client.get_study("halted")
    trial = halted.suggest()
    assert trial is not None
    trial.report(trial.resource, 0.0)
    counts = halted.stop().counts
    assert (counts["paused"], counts["completed"]) == (1, 0)
    study = client.create_study(
        "later", SPACE, r_min=1, r_max=1, priors=[{"kind": "transfer", "top_k": 1}]
    )
    taken = [p.config for p in study.priors().proposals]
    assert taken == [configs["finished"], configs["stopped"]]


NUMERIC_ACT = Space({**SPACE, "act": Float(0, 1)})


@pytest.mark.parametrize(
    ("space", "studies", "field", "message"),
    [
        (SPACE, ["earlier", "nope"], "priors[0].studies[1]", "study 'nope' does not exist"),
        (
            NUMERIC_ACT,
            ["numeric", "earlier"],
            "priors[0].studies[1]",
            "study 'earlier' has parameter 'act' as categorical, not float",
        ),
        (
            Space({**SPACE, "dropout": Float(0, 0.5)}),
            ["earlier"],
            "priors[0].studies[0]",
            "study 'earlier' has no parameter 'dropout'",
        ),
    ],
)
def test_transfer_from_a_named_study_that_cannot_give_configurations_is_rejected(
    coordinator: Coordinator,
    client: Client,
    space: Space,
    studies: list[str],
    field: str,
    message: str,
) -> None:
    """A named study is checked before it is read: an unknown name, or a study whose
    parameters do not fit the new space, is INVALID_ARGUMENT on that name, and the new
    study is not written."""
    for name, earlier_space, config in (
        ("earlier", SPACE, A),
        ("numeric", NUMERIC_ACT, {**A, "act": 0.5}),
    ):
        client.create_study(name, earlier_space, r_min=1, r_max=1, enqueue=[config])
        run(client, name, 1)
    before = table_rows(coordinator.store.engine)
    with pytest.raises(InvalidArgumentError) as error:
        client.create_study(
            "later", space, r_min=1, r_max=1, priors=[{"kind": "transfer", "studies": studies}]
        )
    assert error.value.field == field and message in str(error.value)
    assert table_rows(coordinator.store.engine) == before


# ---------------------------------------------------------------- LLM warm start


def spec(name: str, **llm: Any) -> StudySpec:
    priors = (
        [{"kind": "llm", "base_url": "http://127.0.0.1:9/v1", "model": "m", **llm}] if llm else []
    )
    return StudySpec(
        name=name,
        space=SPACE,
        resource=Resource(1, 9),
        algorithm="hyperband",
        description="a small CNN on CIFAR-10",
        priors=priors,
    )


class RecordedModel:
    """Answers with a recorded text, counting calls; blocks until released if asked to."""

    def __init__(self, answer: str, hold: bool = False) -> None:
        self.answer = answer
        self.calls = 0
        self.released = threading.Event()
        if not hold:
            self.released.set()

    def __call__(self, settings: LLMSettings, space: Space, task: TaskDescription) -> LLMExchange:
        self.calls += 1
        self.released.wait(30)
        messages = build_messages(space, task, settings.n_configs)
        accepted, rejected = parse_answer(space, self.answer, settings.n_configs)
        return LLMExchange(
            base_url=settings.base_url,
            model=settings.model,
            messages=messages,
            response_format={"type": "json_object"},
            prompt_hash=prompt_hash(
                settings.model, messages, answer_schema(space, settings.n_configs)
            ),
            raw_answer=self.answer,
            accepted=accepted,
            rejected=rejected,
            error=None,
            seconds=0.0,
        )


def in_process_service(url: str, model: RecordedModel | None = None) -> StudyService:
    store = SqlStudyStore(url)
    upgrade(store.engine)
    return StudyService(store, ask_llm=model)


def suggest_until_assigned(service: StudyService, name: str) -> Assignment:
    for _ in range(200):
        result = service.suggest(name, "w")
        if isinstance(result, Assignment):
            return result
        assert isinstance(result, Wait)
        threading.Event().wait(result.retry_after_seconds)
    raise AssertionError("no assignment after the warm start")


ANSWER = json.dumps(
    {
        "configurations": [
            A,
            {**B, "lr": 3.0},  # out of range: clipped
            A,  # duplicate: rejected
            {"lr": 1e-4, "layers": 3, "act": "swish"},  # unknown choice: rejected
        ]
    }
)


def test_llm_proposals_run_first_with_their_provenance_and_suggest_waits_for_them(
    store_url: str,
) -> None:
    model = RecordedModel(ANSWER, hold=True)
    service = in_process_service(store_url, model)
    service.create_study(spec("warm", n_configs=4))
    assert isinstance(service.suggest("warm", "w"), Wait)  # the model has not answered
    assert service.priors("warm").warming_up
    model.released.set()
    first = suggest_until_assigned(service, "warm")
    second = suggest_until_assigned(service, "warm")
    third = suggest_until_assigned(service, "warm")
    assert model.calls == 1
    assert [(t.trial.config, t.trial.source) for t in (first, second)] == [
        (A, "llm"),
        ({**B, "lr": 0.1}, "llm"),
    ]
    assert first.resource == 1
    assert third.trial.source in {"llm", "random"}  # the proposals joined the prior
    priors = service.priors("warm")
    (exchange,) = priors.exchanges
    assert exchange.raw_answer == ANSWER and exchange.error == ""
    assert (exchange.accepted, exchange.rejected) == (2, 2)
    assert [p.source for p in priors.proposals] == ["llm", "llm"]


def test_a_second_study_with_the_same_question_replays_the_stored_answer(store_url: str) -> None:
    model = RecordedModel(ANSWER)
    service = in_process_service(store_url, model)
    service.create_study(spec("first", n_configs=4))
    suggest_until_assigned(service, "first")
    service.create_study(spec("second", n_configs=4, base_url="http://127.0.0.1:9/v2"))
    suggest_until_assigned(service, "second")
    assert model.calls == 1
    first, second = service.priors("first"), service.priors("second")
    assert [p.config for p in second.proposals] == [p.config for p in first.proposals]
    assert second.exchanges[0].replayed_from == first.exchanges[0].id
    assert second.exchanges[0].prompt_hash == question_hash(
        spec("second", n_configs=4).priors[0].llm, spec("second", n_configs=4)
    )


def test_a_restarted_coordinator_keeps_the_proposals_without_asking_again(
    store_url: str,
) -> None:
    model = RecordedModel(ANSWER)
    service = in_process_service(store_url, model)
    service.create_study(spec("kept", n_configs=4))
    first = suggest_until_assigned(service, "kept")
    restarted = in_process_service(store_url, model)
    second = suggest_until_assigned(restarted, "kept")
    assert model.calls == 1
    assert (first.trial.source, second.trial.source) == ("llm", "llm")
    assert second.trial.config == {**B, "lr": 0.1}


def test_an_unreachable_endpoint_warns_and_the_study_runs_on(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    service = in_process_service(sqlite_url)  # the real client, against a closed port
    service.create_study(spec("alone", timeout_seconds=2, retries=0))
    with caplog.at_level(logging.WARNING):
        trial = suggest_until_assigned(service, "alone")
    assert trial.trial.source == "random"
    (exchange,) = service.priors("alone").exchanges
    assert exchange.error and "127.0.0.1:9" in exchange.error
    assert any("runs on" in record.getMessage() for record in caplog.records)


def test_a_state_rebuilt_from_the_store_counts_the_observed_trials(store_url: str) -> None:
    """piBO's weight decays with the configurations observed; a restarted coordinator must
    count the same."""
    service = in_process_service(store_url)
    info = service.create_study(spec("counted"))
    for index in range(3):
        assignment = suggest_until_assigned(service, "counted")
        trial = assignment.trial
        service.report(trial.id, assignment.resource, float(index), f"report-{index}", "w")
    with service.store.read() as store:
        rebuilt = state_of(store.study_contents(info.id))
    assert rebuilt.n_observed_trials == 3
