"""Every mutating RPC, sent twice with the same request id: the second call is answered like
the first and writes nothing (a client retrying after a lost connection cannot do harm). The
same id sent with anything else different is refused and writes nothing (issue 15, defect 3).

Every test runs on SQLite and on PostgreSQL. The tests of one store share one coordinator
(about 80 cases: a fresh PostgreSQL database for each would cost more than the tests), so each
test keeps to studies and request ids that carry a suffix of its own (:class:`Case`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from hpo import wire
from hpo.coordinator.server import Coordinator, start_coordinator
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


@dataclass
class Case:
    """One test's part of the shared store: names and request ids made by :meth:`named` carry
    the test's own suffix, because a request id is one namespace for the whole store."""

    coordinator: Coordinator
    stub: hpo_pb2_grpc.CoordinatorStub
    suffix: str

    def named(self, base: str) -> str:
        return f"{base}-{self.suffix}"

    @property
    def study(self) -> str:
        """The study every request of the case works on (created by the fixture)."""
        return self.named("retried")

    @property
    def other(self) -> str:
        """A second study, for requests that change their target."""
        return self.named("retried-too")

    def spec(self, base: str, **changes: Any) -> pb.StudySpec:
        return wire.spec_to_proto(
            StudySpec.from_json({**SPEC.to_json(), "name": self.named(base), **changes})
        )

    def held(self, worker: str = "w") -> pb.Trial:
        """A trial ``worker`` holds (the same one each time: the Suggest is retried)."""
        response = self.stub.Suggest(
            pb.SuggestRequest(study=self.study, worker_id=worker, request_id=self.named(worker))
        )
        return response.assignment.trial


@pytest.fixture(scope="module")
def served(module_store_url: str) -> Iterator[Coordinator]:
    # Leases outlast the module: the lease sweeper never writes between two snapshots.
    running = start_coordinator(module_store_url, "127.0.0.1", 0, lease_seconds=3600)
    yield running
    running.stop(grace=1)


@pytest.fixture(scope="module")
def module_stub(served: Coordinator) -> Iterator[hpo_pb2_grpc.CoordinatorStub]:
    with grpc.insecure_channel(served.address) as channel:
        yield hpo_pb2_grpc.CoordinatorStub(channel)


_SUFFIXES = itertools.count()


@pytest.fixture
def case(served: Coordinator, module_stub: hpo_pb2_grpc.CoordinatorStub) -> Case:
    made = Case(served, module_stub, str(next(_SUFFIXES)))
    made.stub.CreateStudy(
        pb.CreateStudyRequest(spec=made.spec("retried"), request_id=made.named("create"))
    )
    return made


REQUESTS: dict[str, Callable[[Case], tuple[str, Any]]] = {
    "CreateStudy": lambda case: (
        "CreateStudy",
        pb.CreateStudyRequest(spec=case.spec("other"), request_id=case.named("r")),
    ),
    "Suggest": lambda case: (
        "Suggest",
        pb.SuggestRequest(study=case.study, worker_id="w", request_id=case.named("r")),
    ),
    "Report": lambda case: (
        "Report",
        pb.ReportRequest(
            trial_id=case.held().id,
            resource=1,
            value=0.5,
            worker_id="w",
            request_id=case.named("r"),
        ),
    ),
    "Complete": lambda case: (
        "Complete",
        pb.CompleteRequest(trial_id=case.held().id, worker_id="w", request_id=case.named("r")),
    ),
    "Fail": lambda case: (
        "Fail",
        pb.FailRequest(
            trial_id=case.held().id, reason="oom", worker_id="w", request_id=case.named("r")
        ),
    ),
    "ExtendStudy": lambda case: (
        "ExtendStudy",
        pb.ExtendStudyRequest(study=case.study, r_max=27, request_id=case.named("r")),
    ),
    "StopStudy": lambda case: (
        "StopStudy",
        pb.StopStudyRequest(study=case.study, reason="enough", request_id=case.named("r")),
    ),
    "Enqueue": lambda case: (
        "Enqueue",
        pb.EnqueueRequest(
            study=case.study,
            config=wire.config_to_proto({"x": 0.25}),
            request_id=case.named("r"),
        ),
    ),
}


def send(case: Case, method: str, request: Any) -> Any:
    return getattr(case.stub, method)(request)


@pytest.mark.parametrize("rpc", sorted(REQUESTS))
def test_a_retried_call_is_answered_like_the_first_and_writes_nothing(rpc: str, case: Case) -> None:
    method, request = REQUESTS[rpc](case)
    first = send(case, method, request)
    before = table_rows(case.coordinator.store.engine)
    again = send(case, method, request)
    assert table_rows(case.coordinator.store.engine) == before
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
    read_only |= {"GetParetoFront", "FitScaling"}
    naturally_idempotent = {"Heartbeat"}  # sets the lease to now + lease
    covered_elsewhere = {"CreateToken", "RevokeToken"}  # tests/integration/test_auth.py
    methods = set(pb.DESCRIPTOR.services_by_name["Coordinator"].methods_by_name)
    assert methods - read_only - naturally_idempotent - covered_elsewhere == set(REQUESTS)


@pytest.mark.parametrize("rpc", sorted(REQUESTS))
def test_a_mutating_call_without_a_request_id_is_refused_and_writes_nothing(
    rpc: str, case: Case
) -> None:
    method, request = REQUESTS[rpc](case)
    request.ClearField("request_id")
    before = table_rows(case.coordinator.store.engine)
    with pytest.raises(grpc.RpcError) as caught:
        send(case, method, request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("request_id: is required")
    assert table_rows(case.coordinator.store.engine) == before


# The same request id sent again as a different request: another target (study or trial),
# caller (worker) or payload. Each must be refused, naming request_id, and write nothing
# (issue 15, defect 3: these answered OK and did nothing, or returned another worker's trial).


def _other_trial(case: Case) -> int:
    return case.held("w2").id


REUSES: dict[str, dict[str, Callable[[Case, Any], Any]]] = {
    "CreateStudy": {
        "target": lambda case, first: pb.CreateStudyRequest(
            spec=case.spec("third"), request_id=case.named("r")
        ),
        "payload": lambda case, first: pb.CreateStudyRequest(
            spec=case.spec("other", seed=2), request_id=case.named("r")
        ),
    },
    "Suggest": {
        "target": lambda case, first: pb.SuggestRequest(
            study=case.other, worker_id="w", request_id=case.named("r")
        ),
        "caller": lambda case, first: pb.SuggestRequest(
            study=case.study, worker_id="w2", request_id=case.named("r")
        ),
    },
    "Report": {
        "target": lambda case, first: pb.ReportRequest(
            trial_id=_other_trial(case),
            resource=1,
            value=0.5,
            worker_id="w2",
            request_id=case.named("r"),
        ),
        "caller": lambda case, first: pb.ReportRequest(
            trial_id=first.trial_id,
            resource=1,
            value=0.5,
            worker_id="w2",
            request_id=case.named("r"),
        ),
        "payload": lambda case, first: pb.ReportRequest(
            trial_id=first.trial_id,
            resource=1,
            value=0.7,
            worker_id="w",
            request_id=case.named("r"),
        ),
    },
    "Complete": {
        "target": lambda case, first: pb.CompleteRequest(
            trial_id=_other_trial(case), worker_id="w2", request_id=case.named("r")
        ),
        "caller": lambda case, first: pb.CompleteRequest(
            trial_id=first.trial_id, worker_id="w2", request_id=case.named("r")
        ),
    },
    "Fail": {
        "target": lambda case, first: pb.FailRequest(
            trial_id=_other_trial(case), reason="oom", worker_id="w2", request_id=case.named("r")
        ),
        "payload": lambda case, first: pb.FailRequest(
            trial_id=first.trial_id, reason="nan", worker_id="w", request_id=case.named("r")
        ),
    },
    "ExtendStudy": {
        "target": lambda case, first: pb.ExtendStudyRequest(
            study=case.other, r_max=27, request_id=case.named("r")
        ),
        "payload": lambda case, first: pb.ExtendStudyRequest(
            study=case.study, r_max=81, request_id=case.named("r")
        ),
    },
    "StopStudy": {
        "target": lambda case, first: pb.StopStudyRequest(
            study=case.other, reason="enough", request_id=case.named("r")
        ),
        "payload": lambda case, first: pb.StopStudyRequest(
            study=case.study, reason="other reason", request_id=case.named("r")
        ),
    },
    "Enqueue": {
        "target": lambda case, first: pb.EnqueueRequest(
            study=case.other, config=wire.config_to_proto({"x": 0.25}), request_id=case.named("r")
        ),
        "payload": lambda case, first: pb.EnqueueRequest(
            study=case.study, config=wire.config_to_proto({"x": 0.5}), request_id=case.named("r")
        ),
    },
}


def assert_refused_without_writing(case: Case, method: str, request: Any) -> None:
    before = table_rows(case.coordinator.store.engine)
    with pytest.raises(grpc.RpcError) as caught:
        send(case, method, request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert caught.value.details().startswith("request_id: was already used")
    assert table_rows(case.coordinator.store.engine) == before


@pytest.mark.parametrize(
    ("rpc", "change"), [(rpc, change) for rpc in sorted(REUSES) for change in REUSES[rpc]]
)
def test_a_request_id_reused_for_another_target_caller_or_payload_is_refused(
    rpc: str, change: str, case: Case
) -> None:
    case.stub.CreateStudy(
        pb.CreateStudyRequest(spec=case.spec("retried-too"), request_id=case.named("other-study"))
    )
    method, request = REQUESTS[rpc](case)
    send(case, method, request)
    reused = REUSES[rpc][change](case, request)
    assert_refused_without_writing(case, method, reused)


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
    first_rpc: str, second_rpc: str, case: Case
) -> None:
    second_method, second = REQUESTS[second_rpc](case)  # its trial assigned while it can be
    method, request = REQUESTS[first_rpc](case)
    send(case, method, request)
    assert_refused_without_writing(case, second_method, second)


@pytest.mark.parametrize(
    ("method", "ended"), [("Complete", pb.TRIAL_COMPLETED), ("Fail", pb.TRIAL_FAILED)]
)
def test_a_trials_own_suggest_id_cannot_complete_or_fail_it(
    method: str, ended: int, case: Case
) -> None:
    """The issue's own case: Complete or Fail of trial T under the id of the Suggest that
    assigned T answered OK and left T running. The refusal spends nothing: T still runs, and
    the same call under a fresh id ends it."""
    suggest_id = case.named("suggest")
    trial = case.stub.Suggest(
        pb.SuggestRequest(study=case.study, worker_id="w", request_id=suggest_id)
    ).assignment.trial
    fields = {"trial_id": trial.id, "worker_id": "w", "request_id": suggest_id}
    if method == "Fail":
        fields["reason"] = "oom"
    request = getattr(pb, f"{method}Request")(**fields)
    assert_refused_without_writing(case, method, request)
    request.request_id = case.named("fresh")
    assert send(case, method, request).state == ended


def test_a_call_that_changes_nothing_leaves_its_id_free(case: Case) -> None:
    """docs/reliability.md: completing a trial already completed and stopping a stopped study
    store no decision, so their ids stay free for another request."""
    trial = case.held()
    case.stub.Complete(
        pb.CompleteRequest(trial_id=trial.id, worker_id="w", request_id=case.named("complete"))
    )
    case.stub.StopStudy(
        pb.StopStudyRequest(study=case.study, reason="done", request_id=case.named("stop"))
    )
    no_ops = [
        ("Complete", pb.CompleteRequest(trial_id=trial.id, worker_id="w", request_id="")),
        ("StopStudy", pb.StopStudyRequest(study=case.study, reason="done", request_id="")),
    ]
    for method, request in no_ops:
        request.request_id = case.named(f"again-{method}")
        before = table_rows(case.coordinator.store.engine)
        send(case, method, request)
        assert table_rows(case.coordinator.store.engine) == before, f"{method} wrote"
        # Its id was not spent: another request (a new study) may take it.
        created = case.stub.CreateStudy(
            pb.CreateStudyRequest(spec=case.spec(f"after-{method}"), request_id=request.request_id)
        )
        assert created.spec.name == case.named(f"after-{method}")
