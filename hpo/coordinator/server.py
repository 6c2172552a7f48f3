"""Running the coordinator: a gRPC server over a trial store."""

from __future__ import annotations

import ipaddress
import logging
import os
import ssl
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import grpc
from grpc_health.v1 import health as health_service
from grpc_health.v1 import health_pb2_grpc
from grpc_reflection.v1alpha import reflection as server_reflection

from hpo.auth import SERVICE
from hpo.coordinator.auth import TokenInterceptor
from hpo.coordinator.decoding import RejectUndecodable
from hpo.coordinator.fit_process import ModelManager
from hpo.coordinator.health import CHECK_SECONDS, CoordinatorHealth, StartupGate
from hpo.coordinator.leases import LeaseSweeper
from hpo.coordinator.metrics import CoordinatorMetrics, MetricsEndpoint, RpcMetrics
from hpo.coordinator.servicer import CoordinatorServicer
from hpo.leases import DEFAULT_LEASE_SECONDS, DEFAULT_MAX_RETRIES
from hpo.priors.endpoints import LLMEndpoints
from hpo.service import StudyService
from hpo.storage.migrate import upgrade
from hpo.storage.sql_store import SqlStudyStore
from hpo.storage.types import utcnow
from hpo.token_checks import DEFAULT_CACHE_SECONDS, TokenChecker, resolve_anonymous
from hpo.tokens import TokenService
from hpo.v1 import hpo_pb2_grpc

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
DEFAULT_THREADS = 16


@dataclass
class Coordinator:
    """A started coordinator; ``stop`` it to finish in-flight calls and close the store."""

    server: grpc.Server
    store: SqlStudyStore
    service: StudyService
    models: ModelManager
    sweeper: LeaseSweeper
    health: CoordinatorHealth
    metrics: CoordinatorMetrics
    host: str
    port: int
    # Calls without a token are served as admin (loopback only, see hpo.token_checks).
    anonymous: bool = False
    tls: bool = False
    reflection: bool = False
    # The HTTP server of the metrics (None without a metrics port).
    metrics_endpoint: MetricsEndpoint | None = None

    @property
    def address(self) -> str:
        return host_port(self.host, self.port)

    def wait(self) -> None:
        self.server.wait_for_termination()

    def stop(self, grace: float = 10.0) -> None:
        """Report NOT_SERVING, refuse new calls, let running ones finish within ``grace``
        seconds, stop the model process and close the store."""
        self.health.stop()
        self.server.stop(grace).wait()
        if not self.service.wait_idle(grace):
            log.warning("calls still in progress after %g s; closing the store anyway", grace)
        self.sweeper.stop()
        self.models.close()
        self.service.close()
        if self.metrics_endpoint is not None:
            self.metrics_endpoint.close()
        self.store.close()


def start_coordinator(
    db: str,
    host: str = "127.0.0.1",
    port: int = 50051,
    *,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    max_retries: int = DEFAULT_MAX_RETRIES,
    migrate: bool = True,
    threads: int = DEFAULT_THREADS,
    clock: Callable[[], datetime] = utcnow,
    tls_cert: str | os.PathLike[str] | None = None,
    tls_key: str | os.PathLike[str] | None = None,
    anonymous: bool | None = None,
    token_cache_seconds: float = DEFAULT_CACHE_SECONDS,
    llm_endpoints: LLMEndpoints | None = None,
    reflection: bool = False,
    metrics_port: int | None = None,
    metrics_host: str | None = None,
    health_check_seconds: float = CHECK_SECONDS,
) -> Coordinator:
    """Start serving ``db`` on ``host:port`` (port 0 picks a free port); return once it
    serves.

    Callers authenticate with bearer tokens (docs/security.md). ``anonymous`` lets calls
    without a token in as admin: ``None`` (the default) turns it on for a loopback ``host``
    only, and ``True`` with any other host is a ValueError. ``tls_cert`` and ``tls_key``
    (PEM files, both or neither) make the port speak TLS. ``token_cache_seconds`` bounds
    how long a token revoked elsewhere keeps working here. ``llm_endpoints`` says which LLM
    endpoints studies' priors may call and which of this process's variables they may send as
    API keys (none by default).

    Operations (docs/operations.md): the port also serves the gRPC health service, which
    reports NOT_SERVING until the store is migrated (the port opens before the migration, and
    the Coordinator's calls are answered UNAVAILABLE until it is done) and whenever the store
    stops answering the query run every ``health_check_seconds``. ``reflection`` adds gRPC
    server reflection. ``metrics_port`` serves Prometheus metrics over HTTP on
    ``metrics_host`` (default: ``host``); 0 picks a free port.
    """
    anonymous = resolve_anonymous(host, anonymous)
    credentials = _server_credentials(tls_cert, tls_key)
    store = SqlStudyStore(db)
    health = CoordinatorHealth(store.next_lease_expiry, check_seconds=health_check_seconds)
    metrics = CoordinatorMetrics(store, lambda: health.ready)
    models = ModelManager(on_fit=metrics.model_fit_seconds.observe)
    service = StudyService(
        store,
        lease_seconds=lease_seconds,
        max_retries=max_retries,
        clock=clock,
        models=models,
        llm_endpoints=llm_endpoints,
        # A quarter of the threads stays free for other studies and reads whatever one
        # study's calls wait for.
        max_calls_per_study=max(1, threads * 3 // 4),
    )
    tokens = TokenService(store.sql, clock=clock)
    checker = TokenChecker(tokens, anonymous=anonymous, cache_seconds=token_cache_seconds)

    def store_failed(method: str) -> None:
        metrics.store_error(method)
        health.check_soon()

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="hpo-rpc"),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
        # Metrics first (only when they are served: they wrap every call), to count the later
        # interceptors' refusals; the gate before the token check, whose table may not exist
        # yet.
        interceptors=[
            *([RpcMetrics(metrics)] if metrics_port is not None else []),
            StartupGate(health),
            TokenInterceptor(checker, store_failed),
            RejectUndecodable(),
        ],
    )
    hpo_pb2_grpc.add_CoordinatorServicer_to_server(
        CoordinatorServicer(service, tokens, store_failed), server
    )
    health_pb2_grpc.add_HealthServicer_to_server(health.servicer, server)
    if reflection:
        services = (SERVICE, health_service.SERVICE_NAME, server_reflection.SERVICE_NAME)
        server_reflection.enable_server_reflection(services, server)
    try:
        if credentials is None:
            bound = server.add_insecure_port(host_port(host, port))
        else:
            bound = server.add_secure_port(host_port(host, port), credentials)
    except RuntimeError:  # gRPC's "Failed to bind to address"
        bound = 0
    if bound == 0:
        store.close()
        raise OSError(
            f"cannot listen on {host_port(host, port)}: the port is in use, or the address is "
            "not one of this machine's"
        )
    endpoint = None
    try:
        if metrics_port is not None:
            endpoint = metrics.serve(metrics_host or host, metrics_port)
        server.start()
        # Probes reach the port from here on and hear NOT_SERVING until the end.
        if migrate:
            upgrade(store.engine)
        renewed = service.renew_held_leases()
    except BaseException:  # a store that cannot be migrated, a metrics port in use
        health.stop()
        server.stop(None)
        service.close()
        if endpoint is not None:
            endpoint.close()
        store.close()
        raise
    if renewed:
        log.info("renewed %d lease(s) held when this coordinator started", renewed)
    sweeper = LeaseSweeper(service, on_expired=metrics.lease_expiries.inc).start()
    health.start()
    log.info(
        "coordinator listening on %s, store %s, auth: %s, TLS: %s, reflection: %s, metrics: %s",
        host_port(host, bound),
        store.url,
        "bearer tokens, anonymous calls as admin (loopback)" if anonymous else "bearer tokens",
        "on" if credentials is not None else "off",
        "on" if reflection else "off",
        endpoint.url if endpoint is not None else "off",
    )
    if not anonymous and not any(token.active for token in tokens.list_tokens()):
        log.warning(
            "the store holds no valid token, so every call will be refused: create one with "
            "`hpo token create NAME --role admin --db URL`"
        )
    return Coordinator(
        server,
        store,
        service,
        models,
        sweeper,
        health,
        metrics,
        host,
        bound,
        anonymous=anonymous,
        tls=credentials is not None,
        reflection=reflection,
        metrics_endpoint=endpoint,
    )


def host_port(host: str, port: int) -> str:
    """``host:port`` for gRPC, with an IPv6 literal in brackets (``::1`` -> ``[::1]:50051``):
    gRPC read the bare ``::1:0`` as a name and failed to bind (issue 15)."""
    bare = host.strip().removeprefix("[").removesuffix("]")
    try:
        is_v6 = isinstance(ipaddress.ip_address(bare), ipaddress.IPv6Address)
    except ValueError:
        is_v6 = False
    return f"[{bare}]:{port}" if is_v6 else f"{host}:{port}"


def _server_credentials(
    cert: str | os.PathLike[str] | None, key: str | os.PathLike[str] | None
) -> grpc.ServerCredentials | None:
    """TLS credentials from a PEM certificate (chain) and its private key, read now so that
    a wrong path fails before anything starts; None for plaintext."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ValueError("TLS needs both a certificate and its key (--tls-cert and --tls-key)")
    _check_key_pair(cert, key)
    return grpc.ssl_server_credentials([(Path(key).read_bytes(), Path(cert).read_bytes())])


def _check_key_pair(cert: str | os.PathLike[str], key: str | os.PathLike[str]) -> None:
    """Refuse, saying which, a certificate that is not PEM, a key that is not PEM or is
    encrypted (gRPC takes no passphrase), or a key that does not belong to the certificate:
    gRPC itself only reported "Failed to bind" (issue 15)."""
    cert_pem, key_pem = Path(cert).read_bytes(), Path(key).read_bytes()
    if b"-----BEGIN CERTIFICATE-----" not in cert_pem:
        raise ValueError(f"--tls-cert {cert} is not a PEM certificate (no BEGIN CERTIFICATE)")
    if b"ENCRYPTED" in key_pem:
        raise ValueError(
            f"--tls-key {key} is encrypted; gRPC needs the key unencrypted "
            "(e.g. openssl pkey -in KEY -out PLAIN_KEY)"
        )
    if b"PRIVATE KEY-----" not in key_pem:
        raise ValueError(f"--tls-key {key} is not a PEM private key (no BEGIN ... PRIVATE KEY)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key, password=lambda: b"")
    except ssl.SSLError as error:
        reason = error.reason or str(error)
        if reason == "KEY_VALUES_MISMATCH":
            raise ValueError(
                f"--tls-key {key} is not the private key of --tls-cert {cert} ({reason})"
            ) from None
        raise ValueError(
            f"--tls-cert {cert} and --tls-key {key} are not a PEM certificate and its own "
            f"unencrypted private key ({reason})"
        ) from None
