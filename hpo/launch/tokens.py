"""Register secrets that were made outside hpo (a Kubernetes Secret) as tokens of a store.

``hpo token create`` generates each secret itself and shows it once, which suits a person at
a terminal. A deployment whose secrets live in the orchestrator's own store needs the
reverse: the secret exists first (mounted as a file), and the trial store must learn its
hash. ``hpo launch register-tokens`` does that before the coordinator starts, in an init
container (deploy/kubernetes/). It is idempotent, as ``TokenService.create`` is for the same
name, role and secret, so the init container can run at every start of the pod; a name
already held by another secret is refused (ALREADY_EXISTS): rotate under a new name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hpo.auth import Role, TokenRecord, is_well_formed
from hpo.errors import InvalidArgumentError


@dataclass(frozen=True)
class SecretFile:
    """A token to register: its name, its role and the file that holds its secret."""

    name: str
    role: Role
    path: Path

    @classmethod
    def parse(cls, text: str) -> SecretFile:
        """``NAME:ROLE:FILE``, e.g. ``kubernetes-worker:worker:/var/run/hpo/tokens/worker``."""
        name, role, path = (text.split(":", 2) + ["", ""])[:3]
        if not name or not path:
            raise ValueError(f"{text!r} is not NAME:ROLE:FILE")
        try:
            parsed_role = Role.parse(role)
        except InvalidArgumentError as error:
            raise ValueError(f"{text!r}: {error}") from None
        return cls(name, parsed_role, Path(path))

    def secret(self) -> str:
        try:
            secret = self.path.read_text().strip()
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(f"cannot read {self.path}: {error}") from None
        if not is_well_formed(secret):
            raise ValueError(f"{self.path} does not hold an hpo token (hpo_...)")
        return secret


def register(db: str, tokens: Sequence[SecretFile]) -> list[TokenRecord]:
    """Migrate the store at ``db`` and register each token (an existing identical one is
    kept); every secret is read and checked before anything is written."""
    from hpo.storage import Store
    from hpo.storage.migrate import upgrade
    from hpo.tokens import TokenService

    secrets = [token.secret() for token in tokens]
    store = Store(db)
    try:
        upgrade(store.engine)
        service = TokenService(store)
        return [
            service.create(token.name, token.role, secret)
            for token, secret in zip(tokens, secrets, strict=True)
        ]
    finally:
        store.dispose()
