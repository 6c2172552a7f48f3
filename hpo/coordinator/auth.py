"""Who may call the coordinator: a gRPC server interceptor over the transport-free
:class:`hpo.token_checks.TokenChecker`.

Every call must carry ``authorization: Bearer <secret>`` metadata (unless anonymous mode is
on, :mod:`hpo.token_checks`). The checker's refusals become UNAUTHENTICATED (no token, a
malformed header, an unknown, revoked or expired token) and PERMISSION_DENIED (a valid
token whose role is too low: the message names the method, the role it needs and the
token's role).

The check runs inside the RPC's handler thread (the interceptor only wraps the handler):
gRPC calls ``intercept_service`` on the thread that polls the completion queue, which must
never wait for the database.

The health and reflection services (:data:`PUBLIC_SERVICES`) are served without a token:
Kubernetes' probes and ``grpc_health_probe`` carry none, and what they answer (whether the
coordinator serves; the schema of the public proto) is no secret (docs/operations.md).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from typing import Any

import grpc

from hpo.auth import method_name
from hpo.errors import HpoError, StoreUnavailableError
from hpo.token_checks import Caller, TokenChecker

log = logging.getLogger(__name__)
# Services any caller may use, token or not: grpc.health.v1 and server reflection.
PUBLIC_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)
_current: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("hpo_caller", default=None)


def current_caller() -> Caller | None:
    """The caller of the RPC this thread is serving (None outside an authenticated RPC)."""
    return _current.get()


class TokenInterceptor(grpc.ServerInterceptor):
    """Checks every call's bearer token and role (with ``checker``) before its handler runs,
    but for the :data:`PUBLIC_SERVICES`. ``on_store_error`` is told the method whose token
    lookup found the store unavailable (the coordinator counts it and checks its health)."""

    def __init__(
        self, checker: TokenChecker, on_store_error: Callable[[str], None] = lambda method: None
    ) -> None:
        self.checker = checker
        self.on_store_error = on_store_error

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None  # an unknown method: gRPC answers UNIMPLEMENTED
        full_method: str = handler_call_details.method  # type: ignore[attr-defined]
        if full_method.lstrip("/").rpartition("/")[0] in PUBLIC_SERVICES:
            # Unwrapped: the health service's Watch keeps its non-blocking mode.
            return handler
        return _guarded(handler, self._guard(full_method))

    def _guard(self, full_method: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def wrap(behavior: Callable[..., Any]) -> Callable[..., Any]:
            def guarded(request: Any, context: grpc.ServicerContext) -> Any:
                caller = self._check(full_method, context)
                previous = _current.set(caller)
                try:
                    # A streaming response would be consumed after the reset; the Coordinator
                    # service has only unary responses.
                    return behavior(request, context)
                finally:
                    _current.reset(previous)

            return guarded

        return wrap

    def _check(self, full_method: str, context: grpc.ServicerContext) -> Caller:
        authorization = [
            value
            for key, value in context.invocation_metadata() or ()  # type: ignore[attr-defined]
            if key.lower() == "authorization"
        ]
        try:
            caller = self.checker.authenticate(authorization)
            self.checker.authorize(caller, full_method)
            return caller
        except StoreUnavailableError as error:
            log.exception("%s: token lookup failed: database unavailable", full_method)
            self.on_store_error(method_name(full_method))
            context.abort(error.code, str(error))
        except HpoError as denied:
            log.info("%s refused (%s): %s", full_method, denied.code.name, denied)
            context.abort(denied.code, str(denied))
        except Exception:
            log.exception("%s: token lookup failed", full_method)
            context.abort(grpc.StatusCode.INTERNAL, "internal error; see the coordinator log")
        raise AssertionError("context.abort returns only by raising")


def _guarded(
    handler: grpc.RpcMethodHandler, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> grpc.RpcMethodHandler:
    """``handler`` with its behaviour wrapped, whatever its streaming kind."""
    options = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(wrap(handler.unary_unary), **options)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(wrap(handler.unary_stream), **options)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(wrap(handler.stream_unary), **options)
    return grpc.stream_stream_rpc_method_handler(wrap(handler.stream_stream), **options)
