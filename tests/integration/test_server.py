"""A real coordinator on a loopback port, driven by the real client and by raw gRPC stubs."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import grpc
import pytest

import hpo
from hpo import wire
from hpo.client import Client, Study
from hpo.coordinator.server import Coordinator
from hpo.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    NotFoundError,
)
from hpo.space import Categorical, Float, Int
from hpo.v1 import hpo_pb2 as pb
from hpo.v1 import hpo_pb2_grpc
from hpo.vocabulary import TrialState
from tests.conftest import table_rows

SPACE = {"x": Float(-3, 3), "units": Int(8, 128, log=True), "act": Categorical(["relu", "tanh"])}


def make_study(client: Client, **overrides: object) -> Study:
    # The mechanics of the service, under plain ASHA (the GP has tests of its own).
    options: dict = {
        "r_min": 1,
        "r_max": 9,
        "eta": 3,
        "max_trials": 9,
        "seed": 3,
        "algorithm": "asha",
    }
    options.update(overrides)
    return client.create_study(str(options.pop("name", "quad")), SPACE, **options)


@pytest.fixture
def stub(coordinator: Coordinator) -> Iterator[hpo_pb2_grpc.CoordinatorStub]:
    with grpc.insecure_channel(coordinator.address) as channel:
        yield hpo_pb2_grpc.CoordinatorStub(channel)


@pytest.fixture
def unchanged(coordinator: Coordinator) -> Iterator[Callable[[], None]]:
    """Call it after a rejected request: fails if any table changed since it was called."""
    engine = coordinator.store.engine
    before: list = []

    def check() -> None:
        assert table_rows(engine) == before[0], "a rejected request wrote to the store"

    def arm() -> Callable[[], None]:
        before.clear()
        before.append(table_rows(engine))
        return check

    yield arm  # type: ignore[misc]


def rpc_error(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value  # type: ignore[return-value]


# ---------------------------------------------------------------- a study through the client


def test_a_worker_loop_runs_a_study_to_the_end(client: Client) -> None:
    study = make_study(client)
    reports = []
    while (trial := study.suggest()) is not None:
        with trial:
            assert trial.config == trial.record.config and trial.resume_from < trial.resource
            value = (float(trial.config["x"]) - 1) ** 2 + 1 / trial.resource
            decision = trial.report(trial.resource, value)
            assert decision.should_stop  # promotion type: pause (or complete) at the target
            reports.append((trial.number, trial.resource, value))
    study = study.refresh()
    assert study.state == "finished"
    assert study.counts["completed"] >= 1 and study.counts["running"] == 0
    trials = study.trials(include_reports=True)
    stored = sorted((t.number, r.resource, r.value) for t in trials for r in t.reports)
    assert stored == sorted(reports)
    best = study.best()
    assert best is not None and best.resource == 9
    completed = study.trials(states=["completed"])
    assert best.value == min(t.last_value for t in completed)


def test_studies_are_listed_and_fetched(client: Client) -> None:
    make_study(client, name="one")
    make_study(client, name="two", algorithm="random", direction="maximize")
    assert [study.name for study in client.studies()] == ["one", "two"]
    two = client.get_study("two")
    assert (two.spec.algorithm.value, two.spec.objective.direction.value) == ("random", "maximize")
    assert two.spec.space == hpo.Space(SPACE)


def test_exist_ok_returns_the_same_study_and_a_different_spec_is_refused(client: Client) -> None:
    first = make_study(client)
    again = client.create_study(
        "quad", SPACE, r_min=1, r_max=9, max_trials=9, seed=3, algorithm="asha", exist_ok=True
    )
    assert again.id == first.id
    with pytest.raises(AlreadyExistsError, match="different spec"):
        client.create_study("quad", SPACE, r_min=1, r_max=27, max_trials=9, seed=3, exist_ok=True)
    with pytest.raises(AlreadyExistsError):
        make_study(client)


def test_default_seed_is_stable_per_name_so_exist_ok_matches(client: Client) -> None:
    first = client.create_study("seeded", SPACE, r_min=1, r_max=9)
    again = client.create_study("seeded", SPACE, r_min=1, r_max=9, exist_ok=True)
    assert first.id == again.id and first.spec.seed == again.spec.seed != 0


def test_a_failing_block_fails_the_trial_with_the_error(client: Client) -> None:
    study = make_study(client)
    trial = study.suggest()
    assert trial is not None
    with pytest.raises(ZeroDivisionError), trial:
        1 / 0  # noqa: B018
    (record,) = study.trials(states=["failed"])
    assert record.number == trial.number
    assert record.fail_reason == "ZeroDivisionError: division by zero"


def test_stopping_type_continues_good_trials_between_rungs(client: Client) -> None:
    study = make_study(client, asha_mode="stopping", max_trials=0)
    trial = study.suggest()
    assert trial is not None and trial.resource == 9  # trains toward r_max
    decision = trial.report(1, 1.0)
    assert not decision.should_stop and decision.next_resource == 3
    assert trial.report(2, 0.9).next_resource == 3  # between rungs: the next decision is at 3
    assert trial.report(9, 0.5).state is TrialState.COMPLETED


def test_trials_are_paged(client: Client, stub) -> None:
    study = make_study(client, max_trials=0)
    for _ in range(5):
        assert study.suggest() is not None
    page = stub.ListTrials(pb.ListTrialsRequest(study="quad", limit=2))
    assert [t.number for t in page.trials] == [0, 1] and page.more
    page = stub.ListTrials(pb.ListTrialsRequest(study="quad", limit=2, start_number=4))
    assert [t.number for t in page.trials] == [4] and not page.more
    assert len(study.trials(states=["running"])) == 5


def test_heartbeat_extends_held_leases_only(client: Client, coordinator: Coordinator) -> None:
    study = make_study(client, max_trials=0)
    mine = study.suggest()
    with Client(coordinator.address) as other:
        theirs = other.get_study("quad").suggest()
    assert mine is not None and theirs is not None
    assert client.heartbeat([mine.id, theirs.id]) == {mine.id: True, theirs.id: False}


# ---------------------------------------------------------------- bad input


def test_unknown_study_and_trial_are_not_found(client: Client, stub, unchanged) -> None:
    make_study(client)
    check = unchanged()
    with pytest.raises(NotFoundError, match="'nope'"):
        client.get_study("nope")
    for call in (
        lambda: stub.Suggest(pb.SuggestRequest(study="nope", worker_id="w", request_id="r")),
        lambda: stub.Report(
            pb.ReportRequest(trial_id=999, resource=1, value=0, request_id="r", worker_id="w")
        ),
        lambda: stub.Complete(pb.CompleteRequest(trial_id=999, request_id="r", worker_id="w")),
        lambda: stub.Fail(pb.FailRequest(trial_id=999, reason="x", request_id="r", worker_id="w")),
        lambda: stub.ListTrials(pb.ListTrialsRequest(study="nope")),
        lambda: stub.GetBest(pb.GetBestRequest(study="nope")),
    ):
        assert rpc_error(call).code() == grpc.StatusCode.NOT_FOUND
    check()


def valid_spec() -> pb.StudySpec:
    return wire.spec_to_proto(
        hpo.StudySpec(name="spec", space=hpo.Space(SPACE), resource=hpo.spec.Resource(1, 9, 3))
    )


# A configuration with a value outside SPACE (x lies in [-3, 3]).
OUTSIDE = {"x": 7.0, "units": 16, "act": "relu"}


def configuration(config: dict) -> pb.Configuration:
    return pb.Configuration(values=wire.config_to_proto(config))


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda s: setattr(s.space.parameters[0].float, "low", 5.0), "space.x"),
        (lambda s: s.space.parameters[0].ClearField("float"), "space.x"),
        (lambda s: setattr(s.space.parameters[1].int, "low", 0), "space.units.low"),
        (lambda s: s.space.parameters[2].categorical.choices.pop(), "space.act.choices"),
        (lambda s: setattr(s.space.parameters[2], "name", "bad name"), "space.bad name"),
        (lambda s: s.space.ClearField("parameters"), "space"),
        (lambda s: setattr(s.objective, "direction", 9), "objective.direction"),
        (lambda s: setattr(s, "algorithm", 9), "algorithm"),
        (lambda s: setattr(s.resource, "r_min", -1), "resource.r_min"),
        (lambda s: setattr(s.resource, "r_max", float("nan")), "resource.r_max"),
        (lambda s: setattr(s, "name", ""), "name"),
        (lambda s: setattr(s, "max_trials", -5), "max_trials"),
        (lambda s: s.enqueue.add().CopyFrom(configuration(OUTSIDE)), "enqueue[0].x"),
        (
            lambda s: s.priors.add(point=pb.PointPrior(config=configuration({"x": 7.0}))),
            "priors[0].config.x",
        ),
    ],
)
def test_malformed_specs_are_invalid_arguments(stub, unchanged, mutate, field: str) -> None:
    spec = valid_spec()
    mutate(spec)
    check = unchanged()
    error = rpc_error(lambda: stub.CreateStudy(pb.CreateStudyRequest(spec=spec, request_id="r")))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith(f"{field}: "), error.details()
    check()


def test_an_enqueued_configuration_outside_the_space_is_an_invalid_argument(
    client: Client, stub, unchanged
) -> None:
    make_study(client)
    check = unchanged()
    error = rpc_error(
        lambda: stub.Enqueue(
            pb.EnqueueRequest(study="quad", config=wire.config_to_proto(OUTSIDE), request_id="r")
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("config.x: "), error.details()
    check()


@pytest.fixture
def held_trial(client: Client) -> hpo.Trial:
    trial = make_study(client).suggest()
    assert trial is not None
    return trial


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"value": float("nan")}, "value"),
        ({"value": float("inf")}, "value"),
        ({"resource": 0.5}, "resource"),
        ({"resource": 10}, "resource"),
        ({"resource": float("-inf")}, "resource"),
        ({"request_id": ""}, "request_id"),
        ({"request_id": "r" * 200}, "request_id"),
        ({"worker_id": "w" * 200}, "worker_id"),
    ],
)
def test_bad_reports_are_invalid_arguments(
    client: Client, stub, unchanged, held_trial, request_fields: dict, field: str
) -> None:
    fields = {
        "trial_id": held_trial.id,
        "resource": 1.0,
        "value": 0.5,
        "request_id": uuid.uuid4().hex,
        "worker_id": client.worker_id,
        **request_fields,
    }
    check = unchanged()
    error = rpc_error(lambda: stub.Report(pb.ReportRequest(**fields)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith(f"{field}: "), error.details()
    check()


def test_bad_queries_are_invalid_arguments(client: Client, stub, unchanged) -> None:
    make_study(client)
    check = unchanged()
    for request, field in (
        (pb.ListTrialsRequest(study="quad", limit=-1), "limit"),
        (pb.ListTrialsRequest(study="quad", limit=10**6), "limit"),
        (pb.ListTrialsRequest(study="quad", states=[77]), "states[0]"),
        (pb.ListTrialsRequest(study="quad", start_number=-1), "start_number"),
        (pb.ListTrialsRequest(study="no such name!"), "study"),
    ):
        error = rpc_error(lambda request=request: stub.ListTrials(request))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.details().startswith(f"{field}: "), error.details()
    error = rpc_error(
        lambda: stub.Suggest(pb.SuggestRequest(study="quad", worker_id="", request_id="r"))
    )
    assert error.details().startswith("worker_id: ")
    check()


def test_a_duplicate_report_is_stored_once_and_answered_the_same(
    client: Client, stub, coordinator: Coordinator, held_trial
) -> None:
    request = pb.ReportRequest(
        trial_id=held_trial.id,
        resource=1,
        value=0.25,
        request_id="report-1",
        worker_id=client.worker_id,
    )
    first = stub.Report(request)
    before = table_rows(coordinator.store.engine)
    again = stub.Report(request)
    assert table_rows(coordinator.store.engine) == before
    assert (again.action, again.next_resource) == (first.action, first.next_resource)
    assert len([r for r in before["reports"] if "report-1" in r]) == 1
    # The same key on another trial is a client bug, not a duplicate.
    other = client.get_study("quad").suggest()
    error = rpc_error(
        lambda: stub.Report(pb.ReportRequest(**{**_fields(request), "trial_id": other.id}))
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def _fields(message: pb.ReportRequest) -> dict:
    return {field.name: value for field, value in message.ListFields()}


def test_a_retried_suggest_gets_the_same_trial(
    client: Client, stub, coordinator: Coordinator
) -> None:
    make_study(client)
    request = pb.SuggestRequest(study="quad", worker_id="w", request_id="suggest-1")
    first = stub.Suggest(request)
    before = table_rows(coordinator.store.engine)
    again = stub.Suggest(request)
    assert again.assignment.trial.number == first.assignment.trial.number
    assert table_rows(coordinator.store.engine)["trials"] == before["trials"]
    another = pb.SuggestRequest(study="quad", worker_id="w", request_id="suggest-2")
    assert stub.Suggest(another).assignment.trial.number == 1


def test_reports_after_the_trial_ended_are_refused(client: Client, held_trial) -> None:
    held_trial.report(1, 0.5)  # pauses at rung 0
    with pytest.raises(FailedPreconditionError, match="paused"):
        held_trial.report(2, 0.4)
    held_trial.complete()
    with pytest.raises(FailedPreconditionError):
        held_trial.fail("too late")


def test_resources_must_grow(client: Client) -> None:
    trial = make_study(client, asha_mode="stopping").suggest()
    assert trial is not None
    trial.report(2, 0.5)
    with pytest.raises(FailedPreconditionError, match="resource must grow"):
        trial.report(2, 0.4)


def test_only_the_holding_worker_may_report(
    client: Client, coordinator: Coordinator, held_trial
) -> None:
    with (
        Client(coordinator.address) as intruder,
        pytest.raises(FailedPreconditionError, match="held by worker"),
    ):
        intruder.call(
            "Report",
            pb.ReportRequest(
                trial_id=held_trial.id,
                resource=1,
                value=0.1,
                request_id="x",
                worker_id=intruder.worker_id,
            ),
        )
