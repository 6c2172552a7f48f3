"""Bearer tokens and roles: the vocabulary shared by the coordinator, the client and the CLI.

A token is a random secret (``hpo_`` + 43 URL-safe characters, 256 bits) that a client
sends as ``authorization: Bearer <secret>`` gRPC metadata. The store keeps only
:func:`hash_secret` of it, with a name and a role. Roles are ordered, and each includes
the ones below it:

- ``reader``: queries (studies, trials, best, priors) and the dashboard;
- ``worker``: a reader that also runs trials (suggest, report, complete, fail, heartbeat);
- ``admin``: everything, including creating, extending and stopping studies and managing
  tokens.

This module is part of the light core (no SQLAlchemy): the client and the CLI on a GPU
node use it to generate and check secrets.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from hpo.errors import InvalidArgumentError
from hpo.v1 import hpo_pb2 as pb
from hpo.validation import check_name

SERVICE = "hpo.v1.Coordinator"
SECRET_PREFIX = "hpo_"
# token_urlsafe(32) encodes 32 random bytes (256 bits) in 43 characters.
SECRET_BYTES = 32
MIN_SECRET_BODY = 32
MAX_SECRET_LENGTH = 256
_SECRET = re.compile(rf"{SECRET_PREFIX}[A-Za-z0-9_-]{{{MIN_SECRET_BODY},}}\Z")
_TOKEN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]*\Z")


class Role(str, enum.Enum):
    """What a token may do; a role includes every role below it (reader < worker < admin)."""

    READER = "reader"
    WORKER = "worker"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def includes(self, other: Role) -> bool:
        """Whether this role may do what ``other`` may."""
        return self.rank >= other.rank

    @classmethod
    def parse(cls, value: str | Role, field: str = "role") -> Role:
        """The role named ``value``, or InvalidArgumentError naming ``field``."""
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(role.value for role in cls)
            message = f"unknown role {value!r}; use one of {names}"
            raise InvalidArgumentError(field, message) from None


_RANKS = {Role.READER: 1, Role.WORKER: 2, Role.ADMIN: 3}

# The minimum role each Coordinator RPC needs. Every RPC of the service must be here
# (tests/integration/test_auth.py checks the service descriptor); the interceptor treats a
# method missing from the table as admin-only, so a forgotten entry fails closed.
METHOD_ROLES: Mapping[str, Role] = {
    # Queries.
    "GetStudy": Role.READER,
    "ListStudies": Role.READER,
    "ListTrials": Role.READER,
    "GetBest": Role.READER,
    "GetParetoFront": Role.READER,
    "FitScaling": Role.READER,
    "GetPriors": Role.READER,
    # Running trials.
    "Suggest": Role.WORKER,
    "Report": Role.WORKER,
    "Complete": Role.WORKER,
    "Fail": Role.WORKER,
    "Heartbeat": Role.WORKER,
    # Changing studies and managing access.
    "CreateStudy": Role.ADMIN,
    "ExtendStudy": Role.ADMIN,
    "StopStudy": Role.ADMIN,
    "Enqueue": Role.ADMIN,
    "CreateToken": Role.ADMIN,
    "ListTokens": Role.ADMIN,
    "RevokeToken": Role.ADMIN,
}


def method_name(full_method: str) -> str:
    """``/hpo.v1.Coordinator/Suggest`` -> ``Suggest``; anything else is returned unchanged."""
    prefix = f"/{SERVICE}/"
    return full_method[len(prefix) :] if full_method.startswith(prefix) else full_method


def required_role(full_method: str) -> Role:
    """The role a method needs; a method missing from :data:`METHOD_ROLES` needs admin."""
    return METHOD_ROLES.get(method_name(full_method), Role.ADMIN)


# ---------------------------------------------------------------- secrets


def generate_secret() -> str:
    """A fresh bearer secret: ``hpo_`` and 256 random bits, URL-safe base64 (47 characters)."""
    return SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def is_well_formed(secret: str) -> bool:
    """Whether ``secret`` has the shape of an hpo secret (says nothing about whether it is
    known). The prefix makes a leaked token recognisable to secret scanners."""
    return len(secret) <= MAX_SECRET_LENGTH and _SECRET.match(secret) is not None


def check_secret(secret: str, field: str = "secret") -> str:
    """``secret`` if well formed, else InvalidArgumentError naming ``field`` (without echoing
    the value, which may be a real secret pasted in the wrong place)."""
    if not is_well_formed(secret):
        raise InvalidArgumentError(
            field,
            f"is not an hpo token: expected {SECRET_PREFIX!r} followed by "
            f"{MIN_SECRET_BODY} to {MAX_SECRET_LENGTH - len(SECRET_PREFIX)} characters "
            "of A-Z a-z 0-9 _ - (generate one with `hpo token create`)",
        )
    return secret


def hash_secret(secret: str) -> str:
    """The SHA-256 of ``secret``, hex: what the store keeps instead of the secret.

    A fast, unsalted hash is the right tool here, unlike for passwords: a secret made by
    :func:`generate_secret` carries 256 random bits (and :func:`check_secret` demands at
    least 32 characters of 6 bits), so nobody can search that space, however fast each
    guess is; slow or salted hashes only defend low-entropy passwords. Being deterministic,
    the hash is also the lookup key (a unique column), so the coordinator checks a token
    with one indexed query, and hashing costs about a microsecond per call.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


def check_token_name(name: str, field: str = "name") -> str:
    """A token's name: 1 to 128 of letters, digits, ``_ . @ -``, starting with a letter or
    digit (names show up in logs and in `hpo token list`)."""
    return check_name(
        name,
        field,
        kind="token",
        pattern=_TOKEN_NAME,
        characters="letters, digits, _, ., @ and -",
    )


@dataclass(frozen=True)
class TokenRecord:
    """A bearer token as the store and the coordinator know it: name, role and dates, never
    the secret (only its SHA-256 is kept)."""

    id: int
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = None

    def active_at(self, now: datetime) -> bool:
        """Neither revoked nor expired at ``now``."""
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    @property
    def active(self) -> bool:
        return self.active_at(datetime.now(timezone.utc))


# ---------------------------------------------------------------- wire


_TO_PROTO = {Role.READER: pb.ROLE_READER, Role.WORKER: pb.ROLE_WORKER, Role.ADMIN: pb.ROLE_ADMIN}
_FROM_PROTO = {value: role for role, value in _TO_PROTO.items()}


def role_to_proto(role: Role | str) -> pb.Role.ValueType:
    return _TO_PROTO[Role.parse(role)]


def role_from_proto(value: int, field: str = "role") -> Role:
    try:
        return _FROM_PROTO[value]  # type: ignore[index]
    except KeyError:
        names = ", ".join(role.value for role in Role)
        raise InvalidArgumentError(field, f"is required: one of {names}") from None
