"""Errors shared by the service, the coordinator and the client.

Each error maps to one gRPC status code, so the coordinator can translate a
domain error into a status and the client can translate the status back into
the same Python exception: a user sees ``hpo.NotFoundError`` whether the study
was missing in an in-process call or on the other side of the network.
"""

from __future__ import annotations

import grpc


class HpoError(Exception):
    """Base class of every error hpo raises on purpose."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN


class InvalidArgumentError(HpoError, ValueError):
    """A request field is malformed; ``field`` names it (dotted path)."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFoundError(HpoError, LookupError):
    """An unknown study or trial."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExistsError(HpoError):
    """A study of that name exists with a different spec."""

    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPreconditionError(HpoError):
    """The request is well formed but the trial or study is not in a state that allows it."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class UnauthenticatedError(HpoError):
    """No valid bearer token: missing, malformed, unknown or revoked (retrying cannot help)."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDeniedError(HpoError):
    """The caller may not do this: its token's role, or the operator's rules (e.g. which LLM
    endpoints and keys the coordinator may use), do not allow it."""

    code = grpc.StatusCode.PERMISSION_DENIED


class BusyError(HpoError):
    """The coordinator cannot serve the call now (a study too busy, a lock not granted in
    time); it changed nothing, and a retry after a short wait may succeed."""

    code = grpc.StatusCode.UNAVAILABLE


class StoreUnavailableError(HpoError):
    """The trial store failed in a way that is not the caller's fault (down, unreachable,
    locked, out of disk, read-only, timed out): nothing was changed, and a retry later may
    succeed. Raised by the store (:mod:`hpo.storage`) instead of its driver's errors."""

    code = grpc.StatusCode.UNAVAILABLE

    def __init__(self, message: str = "the trial store is unavailable; retry") -> None:
        super().__init__(message)


class ConflictError(HpoError):
    """A write collided with a row another writer committed first (a unique name, secret or
    request id): nothing was changed; the caller reads what the other writer wrote."""

    code = grpc.StatusCode.ABORTED


class CallerGoneError(HpoError):
    """The caller gave up (deadline or cancel) before the call decided anything: nothing is
    committed that nobody would receive."""

    code = grpc.StatusCode.CANCELLED


class RemoteError(HpoError):
    """A status with no domain meaning (UNAVAILABLE, INTERNAL...) from a coordinator."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code


_BY_CODE: dict[grpc.StatusCode, type[HpoError]] = {
    cls.code: cls
    for cls in (
        NotFoundError,
        AlreadyExistsError,
        FailedPreconditionError,
        UnauthenticatedError,
        PermissionDeniedError,
        ConflictError,
    )
}


def from_status(code: grpc.StatusCode, details: str) -> HpoError:
    """Rebuild the domain error a coordinator sent as a gRPC status."""
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        field, separator, message = details.partition(": ")
        if separator:
            return InvalidArgumentError(field, message)
        return InvalidArgumentError("request", details)
    cls = _BY_CODE.get(code)
    return cls(details) if cls is not None else RemoteError(code, details)
