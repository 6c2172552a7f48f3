"""The coordinator's health, reported by the standard gRPC health service (``grpc.health.v1``).

Two names are reported, always alike: ``""`` (the server as a whole, what
``grpc_health_probe`` and Kubernetes' gRPC probes ask by default) and ``hpo.v1.Coordinator``.
Both are NOT_SERVING

* from the moment the port opens until the store's schema is migrated and the leases held in
  it renewed (:func:`hpo.coordinator.server.start_coordinator`): the port opens first so that a
  probe can tell a coordinator that is migrating from one that is down, and meanwhile
  :class:`StartupGate` answers the Coordinator's calls UNAVAILABLE (clients retry those), so
  none of them touches an unmigrated store;
* while the store does not answer a trivial query within ``probe_timeout`` seconds: a
  background check runs one every ``check_seconds``, and at once when a call has just found
  the store unavailable (:meth:`CoordinatorHealth.check_soon`), so a failure is seen at its
  first symptom and recovery within ``check_seconds``;
* for good once the coordinator is stopping (:meth:`CoordinatorHealth.stop`), so load
  balancers drain it while in-flight calls finish.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

import grpc
from grpc_health.v1 import health, health_pb2

from hpo.auth import SERVICE

log = logging.getLogger(__name__)

CHECK_SECONDS = 5.0
# A store that takes longer than this for a one-row query is not serving: the calls that need
# it would time out too. The probe must not wait on its own for a TCP timeout (minutes) when
# the database's host has gone.
PROBE_TIMEOUT_SECONDS = 5.0
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# The names whose status is reported: the whole server, and the Coordinator service.
SERVICE_NAMES = (health.OVERALL_HEALTH, SERVICE)


class CoordinatorHealth:
    """The health service of one coordinator and the check that sets its status."""

    def __init__(
        self,
        probe: Callable[[], object],
        *,
        check_seconds: float = CHECK_SECONDS,
        probe_timeout: float = PROBE_TIMEOUT_SECONDS,
    ) -> None:
        if check_seconds <= 0 or probe_timeout <= 0:
            raise ValueError("check_seconds and probe_timeout must be positive")
        # Watch answers without holding an RPC thread per watcher (non-blocking).
        self.servicer = health.HealthServicer(experimental_non_blocking=True)
        self._probe = probe
        self.check_seconds = check_seconds
        self.probe_timeout = probe_timeout
        self._ready = threading.Event()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._pending: Future[None] | None = None
        self._thread = threading.Thread(target=self._run, name="hpo-health", daemon=True)
        self._publish(serving=False)  # the servicer starts out SERVING for ""

    @property
    def ready(self) -> bool:
        """Whether the store is migrated and the Coordinator's calls may run."""
        return self._ready.is_set()

    def start(self) -> None:
        """The store is migrated and answered: report SERVING and start checking it."""
        self._ready.set()
        self._publish(serving=True)
        self._thread.start()

    def check_soon(self) -> None:
        """A call found the store unavailable: check it now rather than at the next period."""
        self._wake.set()

    def stop(self) -> None:
        """Report NOT_SERVING for good, and end the checks."""
        self.servicer.enter_graceful_shutdown()
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        serving = True
        while not self._stopping.is_set():
            self._wake.wait(self.check_seconds)
            self._wake.clear()
            if self._stopping.is_set():
                return
            failure = self._store_failure()
            if (failure is None) == serving:
                continue  # logged and published once per change, not at every check
            serving = failure is None
            if serving:
                log.info("the store answers again: SERVING")
            else:
                log.warning("the store does not answer (%s): NOT_SERVING", failure)
            self._publish(serving)

    def _store_failure(self) -> str | None:
        """None when the probe succeeds within ``probe_timeout``, else why it did not. A probe
        still hanging from an earlier check is waited for again rather than joined by another."""
        if self._pending is None or self._pending.done():
            self._pending = self._probe_in_thread()
        try:
            self._pending.result(timeout=self.probe_timeout)
        except FutureTimeout:
            return f"no answer within {self.probe_timeout:g} s"
        except Exception as error:  # noqa: BLE001 - any failure of the store means not serving
            # The driver's own first line says why (a refused connection, a missing database).
            cause = str(error.__cause__).splitlines()[0] if error.__cause__ else ""
            return f"{type(error).__name__}: {error}" + (f" ({cause})" if cause else "")
        return None

    def _probe_in_thread(self) -> Future[None]:
        """Run the probe in a daemon thread of its own, so that a query hanging on a lost
        connection neither delays the status nor keeps the process from exiting."""
        future: Future[None] = Future()

        def run() -> None:
            try:
                self._probe()
            except BaseException as error:  # noqa: BLE001 - handed to the waiting check
                future.set_exception(error)
            else:
                future.set_result(None)

        threading.Thread(target=run, name="hpo-health-probe", daemon=True).start()
        return future

    def _publish(self, serving: bool) -> None:
        for name in SERVICE_NAMES:
            self.servicer.set(name, SERVING if serving else NOT_SERVING)


class StartupGate(grpc.ServerInterceptor):
    """Answers the Coordinator's calls UNAVAILABLE until ``health`` is ready.

    The decision is taken when the call arrives (on gRPC's polling thread, so it only reads a
    flag); readiness never goes back, so a call let through always finds a migrated store.
    Other services (health, reflection) are served throughout.
    """

    def __init__(self, health: CoordinatorHealth) -> None:
        self._health = health

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        if (
            handler is None
            or handler.unary_unary is None
            or self._health.ready
            or not method.startswith(f"/{SERVICE}/")
        ):
            return handler

        def refuse(request: object, context: grpc.ServicerContext) -> None:
            context.abort(
                grpc.StatusCode.UNAVAILABLE,
                "the coordinator is starting (migrating the store's schema, renewing the leases "
                "held in it); retry shortly",
            )

        return grpc.unary_unary_rpc_method_handler(
            refuse,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
