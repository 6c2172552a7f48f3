"""A read-only PostgreSQL database answers UNAVAILABLE, not INTERNAL (issue 15, defect 10).

Writes to a database set read-only fail with "cannot execute ... in a read-only transaction",
which the driver reports as an InternalError: the coordinator answered INTERNAL (402 times in
6 s), and clients do not retry INTERNAL.
"""

from __future__ import annotations

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
from tests.conftest import _admin_conninfo


@pytest.fixture
def coordinator(postgres_url: str) -> Iterator[Coordinator]:
    running = start_coordinator(postgres_url, "127.0.0.1", 0)
    yield running
    running.stop(grace=1)


def make_read_only(postgres_url: str) -> None:
    """Set the database read-only and end its sessions, so that every new one is."""
    database = sa.engine.make_url(postgres_url).database
    with psycopg.connect(_admin_conninfo(), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )


@pytest.mark.postgres
def test_writes_to_a_read_only_database_are_unavailable_and_reads_go_on(
    coordinator: Coordinator, postgres_url: str
) -> None:
    with Client(coordinator.address, timeout=10) as client:
        client.create_study("ro", {"x": Float(0, 1)}, r_min=1, r_max=1, algorithm="random")
    make_read_only(postgres_url)
    # A channel without the client's retry policy, to see each answer as it is.
    with grpc.insecure_channel(coordinator.address) as channel:
        stub = hpo_pb2_grpc.CoordinatorStub(channel)
        for attempt in range(3):
            with pytest.raises(grpc.RpcError) as refused:
                stub.Suggest(
                    pb.SuggestRequest(study="ro", worker_id="w", request_id=f"r{attempt}"),
                    timeout=10,
                )
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, refused.value.details()
        assert stub.GetStudy(pb.GetStudyRequest(name="ro"), timeout=10).spec.name == "ro"
