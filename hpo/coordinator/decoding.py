"""Undecodable request bytes are the caller's mistake: answer INVALID_ARGUMENT, not INTERNAL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError


@dataclass(frozen=True)
class _Undecodable:
    """Stands in for a request whose bytes did not parse, so the handler can answer it."""

    method: str


class RejectUndecodable(grpc.ServerInterceptor):
    """Answers INVALID_ARGUMENT to request bytes that are not a valid message.

    gRPC answers a request its deserializer cannot parse (truncated, a wrong wire type,
    a string that is not UTF-8) with INTERNAL, "Exception deserializing request!": the
    status of a server bug, which a client may report or retry. The bytes are the
    caller's mistake, so this interceptor lets such a request through as a stand-in that
    its handler refuses with INVALID_ARGUMENT. Add it after any interceptor that checks
    the caller, so that an unauthenticated caller learns nothing about decoding.
    """

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None or handler.request_deserializer is None:
            return handler  # unknown methods and streams: gRPC's own answer
        deserialize = handler.request_deserializer
        behavior = handler.unary_unary
        method = handler_call_details.method  # type: ignore[attr-defined]

        def decode(data: bytes) -> Any:
            try:
                return deserialize(data)
            except DecodeError:
                return _Undecodable(method)

        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            if isinstance(request, _Undecodable):
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"request: the bytes sent to {request.method} are not a valid request",
                )
            return behavior(request, context)

        return grpc.unary_unary_rpc_method_handler(
            handle, request_deserializer=decode, response_serializer=handler.response_serializer
        )
