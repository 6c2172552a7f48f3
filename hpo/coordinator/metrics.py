"""The coordinator's Prometheus metrics (docs/operations.md lists them).

Every coordinator keeps its metrics in a registry of its own, not prometheus_client's global
one: a test (or a program) that starts several coordinators in one process would otherwise
see them add into, or collide on, the same series. The registry is filled whether or not it
is served; ``hpo serve --metrics-port`` serves it over HTTP (:meth:`CoordinatorMetrics.serve`).

The hooks are small on purpose: the servicer and the token interceptor report a store
failure, the model manager a fit's duration and the lease sweeper the trials it settled,
each through a plain callable, so none of them imports prometheus_client.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIServer

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric

from hpo.errors import HpoError
from hpo.study_store import StudyStore
from hpo.vocabulary import TrialState

log = logging.getLogger(__name__)

# An RPC takes from well under a millisecond (a heartbeat on SQLite) to seconds (a Suggest
# that waits its study's turn, a call that waits out PostgreSQL's 10 s lock timeout).
RPC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# A GP fit and its candidate search take about a second on two cores, longer as results grow.
FIT_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class CoordinatorMetrics:
    """The metrics of one coordinator, in their own registry."""

    def __init__(self, store: StudyStore, ready: Callable[[], bool]) -> None:
        self.registry = CollectorRegistry()
        self.rpcs = Counter(
            "hpo_rpcs_handled",
            "Unary RPCs answered, by service, method and gRPC status code.",
            ["service", "method", "code"],
            registry=self.registry,
        )
        self.rpc_seconds = Histogram(
            "hpo_rpc_duration_seconds",
            "Time from a unary RPC's arrival in its handler thread to its answer, by service, "
            "method and gRPC status code.",
            ["service", "method", "code"],
            buckets=RPC_BUCKETS,
            registry=self.registry,
        )
        self.model_fit_seconds = Histogram(
            "hpo_model_fit_duration_seconds",
            "Duration of the GP model fits (fit and candidate search) that succeeded, as "
            "measured in the model process.",
            buckets=FIT_BUCKETS,
            registry=self.registry,
        )
        self.lease_expiries = Counter(
            "hpo_lease_expiries",
            "Trials settled because their worker's lease ran out (requeued, released or "
            "failed) by this coordinator's lease sweeper.",
            registry=self.registry,
        )
        self.store_errors = Counter(
            "hpo_store_errors",
            "Calls answered UNAVAILABLE because the trial store failed (down, unreachable, "
            "locked, read-only, timed out), by the Coordinator method called.",
            ["method"],
            registry=self.registry,
        )
        self.registry.register(TrialsCollector(store, ready))

    def store_error(self, method: str) -> None:
        self.store_errors.labels(method).inc()

    def serve(self, host: str, port: int) -> MetricsEndpoint:
        """Serve the registry at ``http://host:port/metrics`` (port 0 picks a free one) in a
        daemon thread; OSError naming ``--metrics-port`` when it cannot listen."""
        try:
            server, thread = start_http_server(port, host, registry=self.registry)
        except OSError as error:
            raise OSError(
                f"cannot serve metrics on {host}:{port} (--metrics-host, --metrics-port): "
                f"{error.strerror or error}"
            ) from None
        return MetricsEndpoint(server, thread, host)


@dataclass
class MetricsEndpoint:
    """The HTTP server of a coordinator's metrics."""

    server: WSGIServer
    thread: threading.Thread
    host: str

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class TrialsCollector:
    """``hpo_trials{study, state}``: the store's trial counts, read at each scrape.

    A scrape costs the store's listing of studies (two queries: the studies, and one grouped
    count of their trials), so the counts are always the store's, also those written by other
    coordinators of it. Every state is reported for every study, zeros included, so a series
    does not vanish when its last trial moves on. Before the store is migrated, or while it
    fails, the family has no samples and the other metrics are still served (the health
    service reports the store's failure).
    """

    NAME = "hpo_trials"
    HELP = "Trials by state, per study, as the store holds them at the scrape."

    def __init__(self, store: StudyStore, ready: Callable[[], bool]) -> None:
        self._store = store
        self._ready = ready

    def describe(self) -> list[Metric]:
        # Without describe the registry could not tell this family's name from the others'.
        return [GaugeMetricFamily(self.NAME, self.HELP, labels=["study", "state"])]

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(self.NAME, self.HELP, labels=["study", "state"])
        if self._ready():
            try:
                studies = self._store.list_studies()
            except HpoError as error:
                log.debug("trial counts left out of the scrape: %s", error)
                studies = []
            for study, counts in studies:
                for state in TrialState:
                    family.add_metric([study.name, state.value], counts.get(state.value, 0))
        yield family


class RpcMetrics(grpc.ServerInterceptor):
    """Counts and times every unary RPC by service, method and the status code it ended with.

    The code is the one the handler left on its context: the servicer and the token
    interceptor answer errors with ``context.abort`` (which sets the code and raises), the
    health service answers an unknown service with ``set_code(NOT_FOUND)``; an exception that
    no one turned into a status is UNKNOWN, as gRPC answers it. Put this interceptor first, so
    that refusals by the later ones (a missing token) are counted too. Streaming methods (the
    health service's Watch, reflection) pass untouched: their length is a client's choice.
    """

    def __init__(self, metrics: CoordinatorMetrics) -> None:
        self._metrics = metrics

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        service, _, method = handler_call_details.method.lstrip("/").rpartition("/")  # type: ignore[attr-defined]
        behavior = handler.unary_unary
        rpcs, seconds = self._metrics.rpcs, self._metrics.rpc_seconds

        def measured(request: Any, context: grpc.ServicerContext) -> Any:
            start = time.perf_counter()
            failed = True
            try:
                response = behavior(request, context)
                failed = False
                return response
            finally:
                code = context.code()  # type: ignore[attr-defined]
                if code is None:
                    code = grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK
                rpcs.labels(service, method, code.name).inc()
                seconds.labels(service, method, code.name).observe(time.perf_counter() - start)

        return grpc.unary_unary_rpc_method_handler(
            measured,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
