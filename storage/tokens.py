"""Queries over the ``tokens`` table (installed as ``hpo.storage.tokens``).

Only reads and writes: validation, idempotency and errors are decided by
:mod:`hpo.tokens`, which runs these inside its transactions. The table holds a
token's name, role and the SHA-256 of its secret (``hpo.auth.hash_secret``),
never the secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, bindparam, select
from sqlalchemy.orm import Session

from hpo.storage import tables

tokens = tables.Token.__table__
# The transactions :mod:`hpo.tokens` runs these in (so it needs no SQLAlchemy import).
TokenSession = Session

# The coordinator's per-call lookup (behind a short cache): one indexed read, no ORM.
_BY_HASH = select(
    tokens.c.id, tokens.c.name, tokens.c.role, tokens.c.revoked_at, tokens.c.expires_at
).where(tokens.c.secret_hash == bindparam("secret_hash"))


def by_hash(
    session: Session, secret_hash: str
) -> Row[tuple[int, str, str, datetime | None, datetime | None]] | None:
    """The token whose secret hashes to ``secret_hash`` (revoked or not): id, name, role,
    revoked_at, expires_at."""
    return session.execute(_BY_HASH, {"secret_hash": secret_hash}).first()


def by_name(session: Session, name: str) -> tables.Token | None:
    return session.scalar(select(tables.Token).where(tables.Token.name == name))


def by_request_id(session: Session, request_id: str) -> tables.Token | None:
    """The token a CreateToken with this idempotency key wrote, if any."""
    if not request_id:
        return None
    return session.scalar(select(tables.Token).where(tables.Token.request_id == request_id))


def insert(
    session: Session,
    *,
    name: str,
    role: str,
    secret_hash: str,
    request_id: str | None,
    now: datetime,
    expires_at: datetime | None = None,
) -> tables.Token:
    """Add a token (flushed, so a duplicate name, hash or request id raises IntegrityError
    here, inside the caller's transaction)."""
    token = tables.Token(
        name=name,
        role=role,
        secret_hash=secret_hash,
        request_id=request_id or None,
        created_at=now,
        revoked_at=None,
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    return token


def all_tokens(session: Session) -> Sequence[tables.Token]:
    """Every token, revoked ones included, in creation order."""
    return session.scalars(select(tables.Token).order_by(tables.Token.id)).all()


def revoke(token: tables.Token, now: datetime) -> bool:
    """Mark ``token`` revoked at ``now``; a token revoked earlier keeps its first time.
    Returns whether anything changed."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = now
    return True
