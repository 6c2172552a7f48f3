"""Who may call the coordinator: bearer tokens checked by a gRPC server interceptor.

Every call must carry ``authorization: Bearer <secret>`` metadata. The secret is
hashed (SHA-256, :func:`hpo.auth.hash_secret`) and looked up in the store's
``tokens`` table; its role must include the role the method needs
(:data:`hpo.auth.METHOD_ROLES`). Failures are

- UNAUTHENTICATED: no token, a malformed header, an unknown or a revoked token (the
  message says which, and never repeats the secret);
- PERMISSION_DENIED: a valid token whose role is too low (the message names the method,
  the role it needs and the token's role).

**Anonymous mode.** A coordinator may treat calls that carry *no* authorization
metadata as admin calls, so a single user on one machine needs no token. It is only
allowed when the coordinator listens on a loopback address, and it is the default there
(:func:`resolve_anonymous`). A call that does carry a token is always verified.

**Cache and revocation latency.** Looking a token up costs a read transaction, so
resolved tokens are cached, by the hash of their secret, for ``cache_seconds``
(:data:`DEFAULT_CACHE_SECONDS`). A revoked token therefore stops working at once on the
coordinator that revoked it (it drops the token from its cache) and within
``cache_seconds`` on every other coordinator sharing the store, and on any coordinator
when it was revoked directly in the store (``hpo token revoke --db``). Unknown secrets
are not cached, so a token created elsewhere works on its first call.

The check runs inside the RPC's handler thread (the interceptor only wraps the
handler): gRPC calls ``intercept_service`` on the thread that polls the completion queue,
which must never wait for the database.
"""

from __future__ import annotations

import contextvars
import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from hpo.auth import Role, TokenRecord, hash_secret, is_well_formed, method_name, required_role
from hpo.storage import STORE_UNAVAILABLE
from hpo.tokens import Identity, TokenService

DEFAULT_CACHE_SECONDS = 5.0
# Bounds the cache: more distinct tokens than this within one TTL only cost more lookups.
MAX_CACHED_TOKENS = 4096
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of the current RPC."""

    name: str
    role: Role
    anonymous: bool = False

    def __str__(self) -> str:
        return "anonymous (loopback)" if self.anonymous else f"token {self.name!r}"


ANONYMOUS = Caller("anonymous", Role.ADMIN, anonymous=True)
_current: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("hpo_caller", default=None)


def current_caller() -> Caller | None:
    """The caller of the RPC this thread is serving (None outside an authenticated RPC)."""
    return _current.get()


# ---------------------------------------------------------------- anonymous mode


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` accepts connections from this machine only: 127.0.0.0/8,
    ::1 (also as ``[::1]`` or IPv4-mapped) and ``localhost``. Wildcards (0.0.0.0, ::) and
    other names are not."""
    host = host.strip().lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def resolve_anonymous(host: str, anonymous: bool | None) -> bool:
    """Whether calls without a token are let in as admin: ``None`` means "on a loopback
    address only"; ``True`` on any other address is refused, since anyone who can reach the
    port would be admin."""
    loopback = is_loopback(host)
    if anonymous is None:
        return loopback
    if anonymous and not loopback:
        raise ValueError(
            f"anonymous access is only allowed on a loopback address (127.0.0.1, ::1, "
            f"localhost), not on {host!r}: create tokens with `hpo token create` instead"
        )
    return anonymous


# ---------------------------------------------------------------- the interceptor


class Denied(Exception):
    """A call refused with ``code``; ``message`` goes to the caller."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _unauthenticated(message: str) -> Denied:
    return Denied(grpc.StatusCode.UNAUTHENTICATED, message)


class TokenAuthenticator(grpc.ServerInterceptor):
    """Checks every call's bearer token and role before its handler runs.

    ``clock`` (monotonic seconds) only drives the cache's expiry.
    """

    def __init__(
        self,
        tokens: TokenService,
        *,
        anonymous: bool = False,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tokens = tokens
        self.anonymous = anonymous
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._cache: dict[str, tuple[float, Identity]] = {}
        # Bumped by forget(): a lookup that read the store before a revocation committed
        # must not put its stale answer back into the cache.
        self._generation = 0
        self._lock = threading.Lock()
        tokens.revoke_listeners.append(self.forget)

    # ------------------------------------------------------------ checks

    def authenticate(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> Caller:
        """The caller named by the call's ``authorization`` metadata, or :class:`Denied`
        (UNAUTHENTICATED)."""
        values = [value for key, value in metadata or () if key.lower() == "authorization"]
        if not values:
            if self.anonymous:
                return ANONYMOUS
            raise _unauthenticated(
                "missing bearer token: send 'authorization: Bearer <token>' metadata "
                "(hpo.Client(token=...), HPO_TOKEN or --token-file); this coordinator does "
                "not accept anonymous calls"
            )
        if len(values) > 1:
            raise _unauthenticated("more than one authorization header")
        value = values[0]
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        scheme, _, secret = value.strip().partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise _unauthenticated("malformed authorization metadata: expected 'Bearer <token>'")
        if not is_well_formed(secret):
            raise _unauthenticated("the bearer token is not an hpo token (hpo_...)")
        identity = self._identify(hash_secret(secret))
        if identity is None:
            raise _unauthenticated("unknown token")
        if identity.revoked:
            raise _unauthenticated(f"token {identity.name!r} was revoked")
        if identity.expires_at is not None and identity.expires_at <= self.tokens.clock():
            raise _unauthenticated(
                f"token {identity.name!r} expired at {identity.expires_at.isoformat()}"
            )
        return Caller(identity.name, identity.role)

    @staticmethod
    def authorize(caller: Caller, full_method: str) -> None:
        """Raise :class:`Denied` (PERMISSION_DENIED) unless ``caller`` may call the method."""
        needed = required_role(full_method)
        if not caller.role.includes(needed):
            raise Denied(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{method_name(full_method)} needs the {needed.value} role; "
                f"{caller} has the {caller.role.value} role",
            )

    # ------------------------------------------------------------ cache

    def _identify(self, secret_hash: str) -> Identity | None:
        now = self.clock()
        with self._lock:
            cached = self._cache.get(secret_hash)
            generation = self._generation
        if cached is not None and cached[0] > now:
            return cached[1]
        identity = self.tokens.identify(secret_hash)
        if identity is not None and self.cache_seconds > 0:
            with self._lock:
                if generation != self._generation:
                    return identity
                if len(self._cache) >= MAX_CACHED_TOKENS:
                    self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
                    if len(self._cache) >= MAX_CACHED_TOKENS:
                        self._cache.clear()
                self._cache[secret_hash] = (now + self.cache_seconds, identity)
        return identity

    def forget(self, token: TokenRecord) -> None:
        """Drop ``token`` from the cache (called when this coordinator revokes it)."""
        with self._lock:
            self._generation += 1
            self._cache = {
                key: entry for key, entry in self._cache.items() if entry[1].name != token.name
            }

    # ------------------------------------------------------------ gRPC

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None  # an unknown method: gRPC answers UNIMPLEMENTED
        return _guarded(handler, self._guard(handler_call_details.method))  # type: ignore[attr-defined]

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
        try:
            caller = self.authenticate(context.invocation_metadata())  # type: ignore[arg-type]
            self.authorize(caller, full_method)
            return caller
        except Denied as denied:
            log.info("%s refused (%s): %s", full_method, denied.code.name, denied.message)
            context.abort(denied.code, denied.message)
        except STORE_UNAVAILABLE:
            log.exception("%s: token lookup failed: database unavailable", full_method)
            context.abort(grpc.StatusCode.UNAVAILABLE, "the trial store is unavailable; retry")
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
