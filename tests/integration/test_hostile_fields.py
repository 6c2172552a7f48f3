"""Values a database column cannot take are refused over gRPC, naming the field, before any
query (issue 15, defect 11): a ``start_number`` past the 32-bit trial number column, and a
study name holding NUL, were INTERNAL on PostgreSQL. tests/integration/test_fuzz.py sends the
same requests and checks only that the answer is no server error; here the field is named.

Both stores; the tests of one store share a coordinator (each leaves the store as it found it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
import pytest

from hpo import wire
from hpo.coordinator.server import Coordinator, start_coordinator
from hpo.space import Float, Space
from hpo.spec import Resource, StudySpec
from hpo.v1 import hpo_pb2 as pb
from hpo.v1 import hpo_pb2_grpc
from hpo.validation import MAX_NAME_LENGTH
from tests.conftest import table_rows

NUL = "a\x00b"
SPEC = StudySpec(
    name="s", space=Space({"x": Float(0, 1)}), resource=Resource(1, 9, 3), algorithm="asha"
)


@dataclass
class Served:
    coordinator: Coordinator
    stub: hpo_pb2_grpc.CoordinatorStub

    def refused(self, method: str, request: object) -> str:
        """Send ``request``: it must be INVALID_ARGUMENT and write nothing; its details."""
        before = table_rows(self.coordinator.store.engine)
        with pytest.raises(grpc.RpcError) as caught:
            getattr(self.stub, method)(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
        assert table_rows(self.coordinator.store.engine) == before
        return str(caught.value.details())


@pytest.fixture(scope="module")
def served(module_store_url: str) -> Iterator[Served]:
    coordinator = start_coordinator(module_store_url, "127.0.0.1", 0, lease_seconds=3600)
    with grpc.insecure_channel(coordinator.address) as channel:
        stub = hpo_pb2_grpc.CoordinatorStub(channel)
        stub.CreateStudy(pb.CreateStudyRequest(spec=wire.spec_to_proto(SPEC), request_id="s"))
        stub.Suggest(pb.SuggestRequest(study="s", worker_id="w", request_id="trial-0"))
        yield Served(coordinator, stub)
    coordinator.stop(grace=1)


@pytest.mark.parametrize("start", [2**31, 2**63 - 1])
def test_a_start_number_past_the_trial_number_column_is_refused_naming_it(
    served: Served, start: int
) -> None:
    details = served.refused("ListTrials", pb.ListTrialsRequest(study="s", start_number=start))
    assert details.startswith("start_number: "), details


def test_the_largest_trial_number_is_a_valid_start(served: Served) -> None:
    """docs/limits.md: start_number 0 to 2^31 - 1."""
    page = served.stub.ListTrials(pb.ListTrialsRequest(study="s", start_number=2**31 - 1))
    assert list(page.trials) == [] and not page.more
    assert len(served.stub.ListTrials(pb.ListTrialsRequest(study="s")).trials) == 1


def _spec_named(name: str) -> pb.StudySpec:
    spec = wire.spec_to_proto(SPEC)
    spec.name = name
    return spec


# Every request that names a study, with that name replaced, and the field a refusal names:
# the request's `study` field, or `name` (GetStudy's field, and the spec's own path).
NAMED: dict[str, Callable[[str], object]] = {
    "GetStudy": lambda name: pb.GetStudyRequest(name=name),
    "CreateStudy": lambda name: pb.CreateStudyRequest(spec=_spec_named(name), request_id="c"),
    "Suggest": lambda name: pb.SuggestRequest(study=name, worker_id="w", request_id="n"),
    "ListTrials": lambda name: pb.ListTrialsRequest(study=name),
    "GetBest": lambda name: pb.GetBestRequest(study=name),
    "GetPriors": lambda name: pb.GetPriorsRequest(study=name),
    "StopStudy": lambda name: pb.StopStudyRequest(study=name, reason="r", request_id="t"),
    "ExtendStudy": lambda name: pb.ExtendStudyRequest(study=name, r_max=27, request_id="e"),
    "Enqueue": lambda name: pb.EnqueueRequest(
        study=name, config=wire.config_to_proto({"x": 0.5}), request_id="q"
    ),
}


FIELD = {"GetStudy": "name", "CreateStudy": "name"}


@pytest.mark.parametrize("method", sorted(NAMED))
def test_a_study_name_holding_nul_is_refused_naming_it(served: Served, method: str) -> None:
    details = served.refused(method, NAMED[method](NUL))
    assert details.startswith(f"{FIELD.get(method, 'study')}: "), details


@pytest.mark.parametrize("method", sorted(NAMED))
def test_a_study_name_past_the_length_limit_is_refused_naming_it(
    served: Served, method: str
) -> None:
    details = served.refused(method, NAMED[method]("s" * (MAX_NAME_LENGTH + 1)))
    field = FIELD.get(method, "study")
    assert details == f"{field}: is longer than {MAX_NAME_LENGTH} characters", details


def test_a_study_name_of_the_largest_length_is_taken(served: Served) -> None:
    name = "s" * MAX_NAME_LENGTH
    created = served.stub.CreateStudy(pb.CreateStudyRequest(spec=_spec_named(name), request_id="l"))
    assert served.stub.GetStudy(pb.GetStudyRequest(name=name)) == created
