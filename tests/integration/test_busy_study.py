"""One blocked study cannot starve the coordinator (issue 15, defect 6).

With a study's row locked from outside and 24 Suggests queued on it, all 16 RPC threads were
taken: ListStudies timed out, a Suggest on another study took 7 s, and handlers whose callers
had given up still committed assignments that nobody trains.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc
import psycopg
import pytest
import sqlalchemy as sa

from hpo.client import Client
from hpo.coordinator.server import Coordinator, start_coordinator
from hpo.space import Float
from hpo.v1 import hpo_pb2 as pb
from hpo.v1 import hpo_pb2_grpc

THREADS = 16
QUEUED = 24
CALLER_DEADLINE = 3.0
ANSWER_DEADLINE = 5.0


@pytest.fixture
def coordinator(postgres_url: str) -> Iterator[Coordinator]:
    running = start_coordinator(postgres_url, "127.0.0.1", 0, threads=THREADS)
    yield running
    running.stop(grace=1)


def row_lock(postgres_url: str, study: str) -> psycopg.Connection:
    """A transaction from outside the coordinator that holds ``study``'s row lock."""
    url = sa.engine.make_url(postgres_url).set(drivername="postgresql")
    connection = psycopg.connect(url.render_as_string(hide_password=False))
    connection.execute("SELECT id FROM studies WHERE name = %s FOR UPDATE", (study,))
    return connection


@pytest.mark.postgres
def test_a_blocked_study_leaves_threads_for_others_and_commits_nothing_for_gone_callers(
    coordinator: Coordinator, postgres_url: str
) -> None:
    with Client(coordinator.address, timeout=10) as client:
        for name in ("blocked", "free"):
            client.create_study(name, {"x": Float(0, 1)}, r_min=1, r_max=1, algorithm="random")
    lock = row_lock(postgres_url, "blocked")
    # A channel without the client's retry policy: each refusal is seen as it is.
    channel = grpc.insecure_channel(coordinator.address)
    stub = hpo_pb2_grpc.CoordinatorStub(channel)
    codes: list[grpc.StatusCode] = []
    refused = threading.Event()

    def queue_a_suggest(number: int) -> None:
        request = pb.SuggestRequest(
            study="blocked", worker_id=f"w{number}", request_id=f"r{number}"
        )
        try:
            stub.Suggest(request, timeout=CALLER_DEADLINE)
            codes.append(grpc.StatusCode.OK)
        except grpc.RpcError as error:
            codes.append(error.code())
            if error.code() == grpc.StatusCode.UNAVAILABLE:
                refused.set()

    callers = [threading.Thread(target=queue_a_suggest, args=(n,)) for n in range(QUEUED)]
    try:
        for caller in callers:
            caller.start()
        assert refused.wait(CALLER_DEADLINE), "no call on the blocked study was refused as busy"
        # The blocked study holds at most three quarters of the threads: the rest answer.
        studies = stub.ListStudies(pb.ListStudiesRequest(), timeout=ANSWER_DEADLINE)
        assert {study.spec.name for study in studies.studies} == {"blocked", "free"}
        # docs/limits.md: the reads take no study lock, so even the blocked study's own
        # reads answer while its decisions wait.
        study = stub.GetStudy(pb.GetStudyRequest(name="blocked"), timeout=ANSWER_DEADLINE)
        assert study.spec.name == "blocked"
        trials = stub.ListTrials(pb.ListTrialsRequest(study="blocked"), timeout=ANSWER_DEADLINE)
        assert list(trials.trials) == []
        best = stub.GetBest(pb.GetBestRequest(study="blocked"), timeout=ANSWER_DEADLINE)
        assert not best.HasField("trial")
        priors = stub.GetPriors(pb.GetPriorsRequest(study="blocked"), timeout=ANSWER_DEADLINE)
        assert list(priors.proposals) == []
        free = stub.Suggest(
            pb.SuggestRequest(study="free", worker_id="other", request_id="free-1"),
            timeout=ANSWER_DEADLINE,
        )
        assert free.WhichOneof("result") == "assignment"
        for caller in callers:
            caller.join()
    finally:
        lock.rollback()  # the row lock goes; the handlers still waiting get their turn
        lock.close()
    assert grpc.StatusCode.OK not in codes
    assert codes.count(grpc.StatusCode.UNAVAILABLE) >= QUEUED - THREADS * 3 // 4
    coordinator.stop(grace=30)  # waits for the handlers that were still in progress
    channel.close()
    engine = sa.create_engine(postgres_url)
    with engine.connect() as connection:
        handed_out = connection.execute(
            sa.text(
                "SELECT count(*) FROM trials JOIN studies ON studies.id = trials.study_id "
                "WHERE studies.name = 'blocked'"
            )
        ).scalar_one()
    engine.dispose()
    assert handed_out == 0, "assignments were committed for callers that had given up"
