"""Managing bearer tokens over the trial store: create, list, revoke, look up.

Used by the coordinator (the CreateToken/ListTokens/RevokeToken RPCs and the
authentication interceptor) and by ``hpo token ... --db URL``, which works on the
store directly to bootstrap the first admin token. Every request is validated
before the transaction starts, so a rejected request writes nothing.

The caller chooses the secret (``hpo.auth.generate_secret``) and only its SHA-256
reaches the store; the service never sees a secret again after hashing it, and
never logs one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from hpo.auth import Role, TokenRecord, check_secret, check_token_name, hash_secret
from hpo.errors import AlreadyExistsError, ConflictError, InvalidArgumentError, NotFoundError
from hpo.storage import Store, tables
from hpo.storage import tokens as queries
from hpo.storage.tokens import TokenSession
from hpo.storage.types import utcnow
from hpo.validation import check_text

MAX_REQUEST_ID_LENGTH = 128


def _record(token: tables.Token) -> TokenRecord:
    return TokenRecord(
        token.id, token.name, Role(token.role), token.created_at, token.revoked_at, token.expires_at
    )


@dataclass(frozen=True)
class Identity:
    """Who a secret belongs to: what the coordinator needs to authorise a call."""

    name: str
    role: Role
    revoked: bool
    expires_at: datetime | None = None


def _check_request_id(request_id: str) -> str:
    return check_text("request_id", request_id, MAX_REQUEST_ID_LENGTH)


class TokenService:
    """The token operations, usable in-process (``hpo token --db``) and behind the RPCs.

    ``revoke_listeners`` are called with each token this service revokes: the
    coordinator's authenticator drops it from its cache, so a revocation takes effect at
    once on the coordinator that made it (and within the cache's TTL on the others).
    """

    def __init__(self, store: Store, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.clock = clock
        self.revoke_listeners: list[Callable[[TokenRecord], None]] = []

    def create(
        self,
        name: str,
        role: Role | str,
        secret: str,
        request_id: str = "",
        expires_at: datetime | None = None,
    ) -> TokenRecord:
        """Add a token for ``secret`` (stored as its SHA-256), refused from ``expires_at`` on
        (None: it never expires).

        Idempotent: a retry with the same ``request_id`` (or, without one, the same name,
        role, secret and expiry) returns the token the first call created. A ``request_id``
        already used for a different token is INVALID_ARGUMENT; a name in use is
        ALREADY_EXISTS.
        """
        check_token_name(name)
        role = Role.parse(role)
        check_secret(secret)
        _check_request_id(request_id)
        if expires_at is not None and expires_at <= self.clock():
            raise InvalidArgumentError(
                "expires_at", f"must be in the future, got {expires_at.isoformat()}"
            )
        secret_hash = hash_secret(secret)
        try:
            with self.store.write() as session:
                token = self._existing(session, name, role, secret_hash, request_id, expires_at)
                if token is not None:
                    return _record(token)
                token = queries.insert(
                    session,
                    name=name,
                    role=role.value,
                    secret_hash=secret_hash,
                    request_id=request_id,
                    now=self.clock(),
                    expires_at=expires_at,
                )
                info = _record(token)
        except ConflictError:
            # Another coordinator inserted the same name, secret or request id between our
            # read and our insert: answer as if we had read its row.
            with self.store.read() as session:
                token = self._existing(session, name, role, secret_hash, request_id, expires_at)
            if token is None:
                raise
            return _record(token)
        return info

    def _existing(
        self,
        session: TokenSession,
        name: str,
        role: Role,
        secret_hash: str,
        request_id: str,
        expires_at: datetime | None,
    ) -> tables.Token | None:
        """The token an earlier attempt of this create wrote, or None when there is none
        and nothing stands in the way; raises when the create conflicts with another token."""
        earlier = queries.by_request_id(session, request_id)
        if earlier is not None:
            if (earlier.name, earlier.role, earlier.secret_hash, earlier.expires_at) != (
                name,
                role.value,
                secret_hash,
                expires_at,
            ):
                raise InvalidArgumentError("request_id", "was already used for another token")
            return earlier
        named = queries.by_name(session, name)
        if named is not None:
            if (named.role, named.secret_hash, named.expires_at) == (
                role.value,
                secret_hash,
                expires_at,
            ):
                return named  # a retry that carried no request id
            raise AlreadyExistsError(f"a token named {name!r} already exists")
        if queries.by_hash(session, secret_hash) is not None:
            raise InvalidArgumentError(
                "secret", "is already used by another token; generate a fresh one"
            )
        return None

    def list_tokens(self) -> list[TokenRecord]:
        """Every token, revoked ones included, in creation order."""
        with self.store.read() as session:
            return [_record(token) for token in queries.all_tokens(session)]

    def revoke(self, name: str, request_id: str = "") -> TokenRecord:
        """Revoke the token ``name`` for good; revoking it again changes nothing and returns
        it as it is (so a retry needs no idempotency key; ``request_id`` is only checked)."""
        check_token_name(name)
        _check_request_id(request_id)
        with self.store.write() as session:
            token = queries.by_name(session, name)
            if token is None:
                raise NotFoundError(f"no token named {name!r}")
            queries.revoke(token, self.clock())
            info = _record(token)
        for listener in self.revoke_listeners:
            listener(info)
        return info

    def identify(self, secret_hash: str) -> Identity | None:
        """Who holds the secret with this SHA-256 (revoked tokens included), or None."""
        with self.store.read() as session:
            row = queries.by_hash(session, secret_hash)
        if row is None:
            return None
        return Identity(
            name=row.name,
            role=Role(row.role),
            revoked=row.revoked_at is not None,
            expires_at=row.expires_at,
        )
