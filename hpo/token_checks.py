"""Who is calling, and may they: bearer tokens checked whatever the transport.

The coordinator's gRPC interceptor (:mod:`hpo.coordinator.auth`) and the dashboard's ASGI
middleware (:mod:`hpo.dashboard.auth`) both hand the request's ``authorization`` values to
one :class:`TokenChecker` and translate its errors into their own answers
(UNAUTHENTICATED / PERMISSION_DENIED, HTTP 401 / 403). The secret is hashed (SHA-256,
:func:`hpo.auth.hash_secret`) and looked up in the store's ``tokens`` table; its role must
include the role the method needs (:data:`hpo.auth.METHOD_ROLES`). An unknown, revoked or
expired token is refused with a message that says which, and never repeats the secret.

**Anonymous mode.** Requests that carry *no* authorization may be served as admin, so a
single user on one machine needs no token. It is only allowed when the server listens on a
loopback address, and it is the default there (:func:`resolve_anonymous`). A request that
does carry a token is always verified.

**Cache and revocation latency.** Looking a token up costs a read transaction, so resolved
tokens are cached, by the hash of their secret, for ``cache_seconds``
(:data:`DEFAULT_CACHE_SECONDS`). A revoked token therefore stops working at once on the
coordinator that revoked it (it drops the token from its cache) and within ``cache_seconds``
on every other process sharing the store, and on any of them when it was revoked directly in
the store (``hpo token revoke --db``). Unknown secrets are not cached, so a token created
elsewhere works on its first use.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hpo.auth import Role, TokenRecord, hash_secret, is_well_formed, method_name, required_role
from hpo.errors import PermissionDeniedError, UnauthenticatedError
from hpo.tokens import Identity, TokenService

DEFAULT_CACHE_SECONDS = 5.0
# Bounds the cache: more distinct tokens than this within one TTL only cost more lookups.
MAX_CACHED_TOKENS = 4096
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


@dataclass(frozen=True)
class Caller:
    """An authenticated caller."""

    name: str
    role: Role
    anonymous: bool = False

    def __str__(self) -> str:
        return "anonymous (loopback)" if self.anonymous else f"token {self.name!r}"


ANONYMOUS = Caller("anonymous", Role.ADMIN, anonymous=True)


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


# ---------------------------------------------------------------- the checker


class TokenChecker:
    """Checks a request's bearer token and role, with a cache of resolved tokens.

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

    def authenticate(self, authorization: Sequence[str | bytes]) -> Caller:
        """The caller named by a request's ``authorization`` header values (gRPC metadata or
        HTTP headers, as the transport found them); UnauthenticatedError if none is valid."""
        values = list(authorization)
        if not values:
            if self.anonymous:
                return ANONYMOUS
            raise UnauthenticatedError(
                "missing bearer token: send 'authorization: Bearer <token>' metadata "
                "(hpo.Client(token=...), HPO_TOKEN or --token-file); this coordinator does "
                "not accept anonymous calls"
            )
        if len(values) > 1:
            raise UnauthenticatedError("more than one authorization header")
        value = values[0]
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        scheme, _, secret = value.strip().partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise UnauthenticatedError(
                "malformed authorization metadata: expected 'Bearer <token>'"
            )
        if not is_well_formed(secret):
            raise UnauthenticatedError("the bearer token is not an hpo token (hpo_...)")
        identity = self._identify(hash_secret(secret))
        if identity is None:
            raise UnauthenticatedError("unknown token")
        if identity.revoked:
            raise UnauthenticatedError(f"token {identity.name!r} was revoked")
        if identity.expires_at is not None and identity.expires_at <= self.tokens.clock():
            raise UnauthenticatedError(
                f"token {identity.name!r} expired at {identity.expires_at.isoformat()}"
            )
        return Caller(identity.name, identity.role)

    @staticmethod
    def authorize(caller: Caller, full_method: str) -> None:
        """Raise PermissionDeniedError unless ``caller`` may call the method."""
        needed = required_role(full_method)
        if not caller.role.includes(needed):
            raise PermissionDeniedError(
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
