"""Every mutating RPC, sent twice with the same request id: the second call is answered like
the first and writes nothing (a client retrying after a lost connection cannot do harm)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest

from hpo import wire
from hpo.client import Client
from hpo.coordinator.server import Coordinator
from hpo.space import Float, Space
from hpo.spec import Objective, Resource, StudySpec
from hpo.v1 import hpo_pb2 as pb
from hpo.v1 import hpo_pb2_grpc
from tests.conftest import table_rows

SPEC = StudySpec(
    name="retried",
    space=Space({"x": Float(0, 1)}),
    resource=Resource(r_min=1, r_max=9, eta=3),
    objective=Objective(),
    algorithm="asha",
    seed=1,
)


@pytest.fixture
def stub(client: Client) -> hpo_pb2_grpc.CoordinatorStub:
    client.create_study_from_spec(SPEC)
    return hpo_pb2_grpc.CoordinatorStub(client._channel)


def held(stub: hpo_pb2_grpc.CoordinatorStub, worker: str = "w") -> pb.Trial:
    response = stub.Suggest(pb.SuggestRequest(study="retried", worker_id=worker, request_id=worker))
    return response.assignment.trial


REQUESTS: dict[str, Callable[[hpo_pb2_grpc.CoordinatorStub], tuple[str, Any]]] = {
    "CreateStudy": lambda stub: (
        "CreateStudy",
        pb.CreateStudyRequest(
            spec=wire.spec_to_proto(StudySpec.from_json({**SPEC.to_json(), "name": "other"})),
            request_id="r",
        ),
    ),
    "Suggest": lambda stub: (
        "Suggest",
        pb.SuggestRequest(study="retried", worker_id="w", request_id="r"),
    ),
    "Report": lambda stub: (
        "Report",
        pb.ReportRequest(
            trial_id=held(stub).id, resource=1, value=0.5, worker_id="w", request_id="r"
        ),
    ),
    "Complete": lambda stub: (
        "Complete",
        pb.CompleteRequest(trial_id=held(stub).id, worker_id="w", request_id="r"),
    ),
    "Fail": lambda stub: (
        "Fail",
        pb.FailRequest(trial_id=held(stub).id, reason="oom", worker_id="w", request_id="r"),
    ),
    "ExtendStudy": lambda stub: (
        "ExtendStudy",
        pb.ExtendStudyRequest(study="retried", r_max=27, request_id="r"),
    ),
    "StopStudy": lambda stub: (
        "StopStudy",
        pb.StopStudyRequest(study="retried", reason="enough", request_id="r"),
    ),
    "Enqueue": lambda stub: (
        "Enqueue",
        pb.EnqueueRequest(
            study="retried", config=wire.config_to_proto({"x": 0.25}), request_id="r"
        ),
    ),
}


@pytest.mark.parametrize("rpc", sorted(REQUESTS))
def test_a_retried_call_is_answered_like_the_first_and_writes_nothing(
    rpc: str, stub: hpo_pb2_grpc.CoordinatorStub, coordinator: Coordinator
) -> None:
    method, request = REQUESTS[rpc](stub)
    first = getattr(stub, method)(request)
    before = table_rows(coordinator.store.engine)
    again = getattr(stub, method)(request)
    assert table_rows(coordinator.store.engine) == before
    if method == "ExtendStudy":
        assert again.spec.resource.r_max == first.spec.resource.r_max == 27
    elif method in ("Complete", "Fail"):
        assert (again.id, again.state) == (first.id, first.state)
    elif method == "Report":  # the same decision; the reason says it was a duplicate
        assert (again.action, again.next_resource, again.trial_state) == (
            first.action,
            first.next_resource,
            first.trial_state,
        )
    else:
        assert again == first


def test_every_mutating_rpc_is_covered() -> None:
    """A new RPC that writes must be added here (read-only ones are listed)."""
    read_only = {"GetStudy", "ListStudies", "ListTrials", "GetBest", "GetPriors", "ListTokens"}
    naturally_idempotent = {"Heartbeat"}  # sets the lease to now + lease
    covered_elsewhere = {"CreateToken", "RevokeToken"}  # tests/integration/test_auth.py
    methods = set(pb.DESCRIPTOR.services_by_name["Coordinator"].methods_by_name)
    assert methods - read_only - naturally_idempotent - covered_elsewhere == set(REQUESTS)


@pytest.mark.parametrize("rpc", sorted(REQUESTS))
def test_a_mutating_call_without_a_request_id_is_refused_and_writes_nothing(
    rpc: str, stub: hpo_pb2_grpc.CoordinatorStub, coordinator: Coordinator
) -> None:
    method, request = REQUESTS[rpc](stub)
    request.ClearField("request_id")
    before = table_rows(coordinator.store.engine)
    with pytest.raises(grpc.RpcError) as caught:
        getattr(stub, method)(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("request_id: is required")
    assert table_rows(coordinator.store.engine) == before


# The same request id sent again as a different request: another target (study or trial),
# caller (worker) or payload. Each must be refused, naming request_id, and write nothing
# (issue 15, defect 3: these answered OK and did nothing, or returned another worker's trial).
OTHER = "retried-too"


def _other_trial(stub: hpo_pb2_grpc.CoordinatorStub) -> int:
    return held(stub, "w2").id


REUSES: dict[str, dict[str, Callable[[hpo_pb2_grpc.CoordinatorStub, Any], Any]]] = {
    "CreateStudy": {
        "target": lambda stub, first: pb.CreateStudyRequest(
            spec=wire.spec_to_proto(StudySpec.from_json({**SPEC.to_json(), "name": "third"})),
            request_id="r",
        ),
        "payload": lambda stub, first: pb.CreateStudyRequest(
            spec=wire.spec_to_proto(
                StudySpec.from_json({**SPEC.to_json(), "name": "other", "seed": 2})
            ),
            request_id="r",
        ),
    },
    "Suggest": {
        "target": lambda stub, first: pb.SuggestRequest(study=OTHER, worker_id="w", request_id="r"),
        "caller": lambda stub, first: pb.SuggestRequest(
            study="retried", worker_id="w2", request_id="r"
        ),
    },
    "Report": {
        "target": lambda stub, first: pb.ReportRequest(
            trial_id=_other_trial(stub), resource=1, value=0.5, worker_id="w2", request_id="r"
        ),
        "caller": lambda stub, first: pb.ReportRequest(
            trial_id=first.trial_id, resource=1, value=0.5, worker_id="w2", request_id="r"
        ),
        "payload": lambda stub, first: pb.ReportRequest(
            trial_id=first.trial_id, resource=1, value=0.7, worker_id="w", request_id="r"
        ),
    },
    "Complete": {
        "target": lambda stub, first: pb.CompleteRequest(
            trial_id=_other_trial(stub), worker_id="w2", request_id="r"
        ),
        "caller": lambda stub, first: pb.CompleteRequest(
            trial_id=first.trial_id, worker_id="w2", request_id="r"
        ),
    },
    "Fail": {
        "target": lambda stub, first: pb.FailRequest(
            trial_id=_other_trial(stub), reason="oom", worker_id="w2", request_id="r"
        ),
        "payload": lambda stub, first: pb.FailRequest(
            trial_id=first.trial_id, reason="nan", worker_id="w", request_id="r"
        ),
    },
    "ExtendStudy": {
        "target": lambda stub, first: pb.ExtendStudyRequest(study=OTHER, r_max=27, request_id="r"),
        "payload": lambda stub, first: pb.ExtendStudyRequest(
            study="retried", r_max=81, request_id="r"
        ),
    },
    "StopStudy": {
        "target": lambda stub, first: pb.StopStudyRequest(
            study=OTHER, reason="enough", request_id="r"
        ),
        "payload": lambda stub, first: pb.StopStudyRequest(
            study="retried", reason="other reason", request_id="r"
        ),
    },
    "Enqueue": {
        "target": lambda stub, first: pb.EnqueueRequest(
            study=OTHER, config=wire.config_to_proto({"x": 0.25}), request_id="r"
        ),
        "payload": lambda stub, first: pb.EnqueueRequest(
            study="retried", config=wire.config_to_proto({"x": 0.5}), request_id="r"
        ),
    },
}


def assert_refused_without_writing(
    stub: hpo_pb2_grpc.CoordinatorStub, coordinator: Coordinator, method: str, request: Any
) -> None:
    before = table_rows(coordinator.store.engine)
    with pytest.raises(grpc.RpcError) as caught:
        getattr(stub, method)(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert caught.value.details().startswith("request_id: was already used")
    assert table_rows(coordinator.store.engine) == before


@pytest.mark.parametrize(
    ("rpc", "change"), [(rpc, change) for rpc in sorted(REUSES) for change in REUSES[rpc]]
)
def test_a_request_id_reused_for_another_target_caller_or_payload_is_refused(
    rpc: str, change: str, stub: hpo_pb2_grpc.CoordinatorStub, coordinator: Coordinator
) -> None:
    stub.CreateStudy(
        pb.CreateStudyRequest(
            spec=wire.spec_to_proto(StudySpec.from_json({**SPEC.to_json(), "name": OTHER})),
            request_id="other-study",
        )
    )
    method, request = REQUESTS[rpc](stub)
    getattr(stub, method)(request)
    reused = REUSES[rpc][change](stub, request)
    assert_refused_without_writing(stub, coordinator, method, reused)


@pytest.mark.parametrize(
    ("first_rpc", "second_rpc"),
    [
        (first, second)
        for first in sorted(REQUESTS)
        for second in sorted(REQUESTS)
        if first != second
    ],
)
def test_a_request_id_reused_by_another_method_is_refused(
    first_rpc: str,
    second_rpc: str,
    stub: hpo_pb2_grpc.CoordinatorStub,
    coordinator: Coordinator,
) -> None:
    second_method, second = REQUESTS[second_rpc](stub)  # its trial assigned while it can be
    method, request = REQUESTS[first_rpc](stub)
    getattr(stub, method)(request)
    assert_refused_without_writing(stub, coordinator, second_method, second)
