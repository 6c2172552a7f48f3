"""Which LLM endpoints the coordinator may call, and which of its secrets it may send there.

A study's ``llm`` prior names a ``base_url`` and the *name* of an environment variable that
holds the API key. Both come from whoever creates the study (an admin), while the variables
belong to the coordinator's operator. Without a rule, an admin could name ``PGPASSWORD`` and
a URL of their own, and the coordinator would send the database password there as a bearer
token (issue 15). So the operator says, on ``hpo serve``, which variables are API keys
(``--llm-key-env NAME`` or ``NAME=URL_PREFIX`` to send it only to URLs under that prefix) and,
optionally, which base URLs may be called at all (``--llm-base-url PREFIX``). A spec that
asks for anything else is refused when the study is created; a study stored before the rule
is checked again before each question (docs/security.md, "LLM endpoints").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hpo.errors import InvalidArgumentError, PermissionDeniedError
from hpo.priors.llm_settings import LLMSettings
from hpo.priors.sources import ENV_NAME, PriorKind, PriorSource


@dataclass(frozen=True)
class KeyGrant:
    """An environment variable the coordinator may send as an LLM API key, and where."""

    env: str
    # Base URLs it may be sent to (prefixes); empty: any base URL the coordinator may call.
    url_prefixes: tuple[str, ...] = ()

    @classmethod
    def parse(cls, option: str) -> KeyGrant:
        """``NAME`` or ``NAME=URL_PREFIX`` (the command-line form)."""
        env, _, prefix = option.partition("=")
        if not ENV_NAME.match(env):
            raise InvalidArgumentError("--llm-key-env", f"must name a variable, got {env!r}")
        return cls(env, (prefix,) if prefix else ())

    def allows(self, base_url: str) -> bool:
        return not self.url_prefixes or base_url.startswith(self.url_prefixes)


@dataclass(frozen=True)
class LLMEndpoints:
    """The operator's rule. The default sends no key anywhere and may call any base URL."""

    keys: tuple[KeyGrant, ...] = ()
    # Base URL prefixes that may be called; empty: any.
    base_urls: tuple[str, ...] = ()

    @classmethod
    def from_options(cls, key_envs: Sequence[str], base_urls: Sequence[str]) -> LLMEndpoints:
        grants: dict[str, tuple[str, ...]] = {}
        for grant in map(KeyGrant.parse, key_envs):
            # NAME alone allows every URL; NAME=PREFIX options add up.
            known = grants.get(grant.env)
            if known == () or (known is not None and not grant.url_prefixes):
                grants[grant.env] = ()
            else:
                grants[grant.env] = (*(known or ()), *grant.url_prefixes)
        return cls(
            tuple(KeyGrant(env, prefixes) for env, prefixes in grants.items()), tuple(base_urls)
        )

    def check(self, settings: LLMSettings, where: str) -> None:
        """Raise PermissionDeniedError, naming the field, unless ``settings`` are allowed."""
        if self.base_urls and not settings.base_url.startswith(self.base_urls):
            raise PermissionDeniedError(
                f"{where}.base_url: {settings.base_url!r} is not an endpoint this coordinator "
                f"may call (allowed: {', '.join(self.base_urls)}; hpo serve --llm-base-url)"
            )
        if not settings.api_key_env:
            return
        grant = next((key for key in self.keys if key.env == settings.api_key_env), None)
        if grant is None:
            raise PermissionDeniedError(
                f"{where}.api_key_env: {settings.api_key_env!r} is not an API key this "
                "coordinator may send (hpo serve --llm-key-env NAME allows one)"
            )
        if not grant.allows(settings.base_url):
            raise PermissionDeniedError(
                f"{where}.api_key_env: {settings.api_key_env!r} may only be sent to "
                f"{', '.join(grant.url_prefixes)}, not to {settings.base_url!r}"
            )

    def check_priors(self, priors: Sequence[PriorSource]) -> None:
        for index, source in enumerate(priors):
            if source.kind is PriorKind.LLM and source.llm is not None:
                self.check(source.llm, f"priors[{index}]")
