"""Running the coordinator: a gRPC server over a trial store."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from datetime import datetime

import grpc

from hpo.coordinator.models import ModelManager
from hpo.coordinator.servicer import CoordinatorServicer
from hpo.service import StudyService
from hpo.storage import Store
from hpo.storage.migrate import upgrade
from hpo.storage.types import utcnow
from hpo.v1 import hpo_pb2_grpc

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
DEFAULT_THREADS = 16


@dataclass
class Coordinator:
    """A started coordinator; ``stop`` it to finish in-flight calls and close the store."""

    server: grpc.Server
    store: Store
    service: StudyService
    models: ModelManager
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def wait(self) -> None:
        self.server.wait_for_termination()

    def stop(self, grace: float = 10.0) -> None:
        """Refuse new calls, let running ones finish within ``grace`` seconds, stop the model
        process and close the store."""
        self.server.stop(grace).wait()
        self.models.close()
        self.service.close()
        self.store.dispose()


def start_coordinator(
    db: str,
    host: str = "127.0.0.1",
    port: int = 50051,
    *,
    lease_seconds: float = 60.0,
    migrate: bool = True,
    threads: int = DEFAULT_THREADS,
    clock: Callable[[], datetime] = utcnow,
) -> Coordinator:
    """Start serving ``db`` on ``host:port`` (port 0 picks a free port) and return at once."""
    store = Store(db)
    if migrate:
        upgrade(store.engine)
    models = ModelManager()
    service = StudyService(store, lease_seconds=lease_seconds, clock=clock, models=models)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="hpo-rpc"),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    hpo_pb2_grpc.add_CoordinatorServicer_to_server(CoordinatorServicer(service), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        store.dispose()
        raise OSError(f"cannot listen on {host}:{port}")
    server.start()
    log.info("coordinator listening on %s:%d, store %s", host, bound, store.url)
    return Coordinator(server, store, service, models, host, bound)
