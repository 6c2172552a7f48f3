"""Where a study's prior comes from: the ``priors`` entries of a study spec.

Five kinds, each with a ``confidence`` (low/medium/high) and a ``weight`` in
the mixture:

* ``point``: one configuration the user believes in; it may name only some
  parameters (the others stay uniform).
* ``configs``: several full configurations (a paper's settings, a team's
  defaults), equal shares of the weight.
* ``llm``: configurations an OpenAI-compatible endpoint proposes for the
  study's description (:mod:`hpo.priors.llm`); they run first, then join the
  prior.
* ``transfer``: the best configurations of earlier studies in the same store
  (named, or every finished or stopped study with a completed trial and the same
  parameter names and types: :func:`hpo.priors.transfer.transfer_configs`).
* ``scaling``: the configuration a scaling law, fitted over the done studies of a
  ``family``, proposes at the new study's scale (:mod:`hpo.priors.scaling_prior`,
  docs/scaling.md); it runs first, then joins the prior.

Entries are validated against the space when the spec is built, with errors
that name the field (``priors[1].config.lr: 3.0 is outside [1e-05, 0.1]``), so
a bad prior is rejected before anything is written.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hpo.errors import InvalidArgumentError
from hpo.priors.llm_settings import RESPONSE_FORMATS, LLMSettings
from hpo.space import Config, Space
from hpo.validation import (
    MAX_ENQUEUED,
    MAX_LLM_CONFIGS,
    MAX_LLM_RETRIES,
    MAX_LLM_SEED,
    MAX_LLM_TEMPERATURE,
    MAX_LLM_TIMEOUT_SECONDS,
    MAX_NAME_LENGTH,
    MAX_PRIOR_CONFIGS,
    MAX_PRIORS,
    MAX_TOP_K,
    MAX_TRANSFER_STUDIES,
    MAX_URL_LENGTH,
    MAX_WEIGHT,
    MIN_LLM_TIMEOUT_SECONDS,
    bounded_float,
    bounded_int,
    check_count,
    check_study_name,
    check_text,
    describe,
    enum_member,
    is_finite_number,
    member,
)

# \Z, not $: "$" also matches before a trailing newline.
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class Confidence(str, enum.Enum):
    """How sure a prior is: sets its spread (hpo.priors.density)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class PriorKind(str, enum.Enum):
    POINT = "point"
    CONFIGS = "configs"
    LLM = "llm"
    TRANSFER = "transfer"
    SCALING = "scaling"


@dataclass(frozen=True)
class PriorSource:
    """One ``priors`` entry; only the fields of its ``kind`` are set."""

    kind: PriorKind
    confidence: Confidence = Confidence.MEDIUM
    weight: float = 1.0
    # point: a (possibly partial) configuration; configs: full configurations.
    config: Config = field(default_factory=dict)
    configs: tuple[Config, ...] = ()
    # llm: the endpoint and how to ask it.
    llm: LLMSettings | None = None
    # transfer: studies to learn from (empty: every done study with the same parameters), and
    # how many of their best configurations to take from each.
    studies: tuple[str, ...] = ()
    top_k: int = 5
    # scaling: the family whose fitted law proposes a configuration at the study's scale.
    family: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind.value,
            "confidence": self.confidence.value,
            "weight": self.weight,
        }
        if self.kind is PriorKind.POINT:
            data["config"] = dict(self.config)
        elif self.kind is PriorKind.CONFIGS:
            data["configs"] = [dict(config) for config in self.configs]
        elif self.kind is PriorKind.LLM and self.llm is not None:
            data.update(_llm_to_json(self.llm))
        elif self.kind is PriorKind.TRANSFER:
            data.update(studies=list(self.studies), top_k=self.top_k)
        elif self.kind is PriorKind.SCALING:
            data["family"] = self.family
        return data


_LLM_FIELDS = {
    "base_url": str,
    "model": str,
    "api_key_env": str,
    "n_configs": int,
    "timeout_seconds": float,
    "retries": int,
    "response_format": str,
    "temperature": float,
    "seed": int,
}
_KIND_FIELDS = {
    PriorKind.POINT: {"config"},
    PriorKind.CONFIGS: {"configs"},
    PriorKind.LLM: set(_LLM_FIELDS),
    PriorKind.TRANSFER: {"studies", "top_k"},
    PriorKind.SCALING: {"family"},
}


def _llm_to_json(settings: LLMSettings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in _LLM_FIELDS}


def prior_from_json(space: Space, data: object, where: str) -> PriorSource:
    """Parse and validate one ``priors`` entry; errors name ``where`` and the field."""
    if not isinstance(data, Mapping):
        raise InvalidArgumentError(where, "must be an object with a kind")
    kind = enum_member(PriorKind, f"{where}.kind", data.get("kind"))
    unknown = sorted(map(str, set(data) - {"kind", "confidence", "weight"} - _KIND_FIELDS[kind]))
    if unknown:
        raise InvalidArgumentError(
            member(where, unknown[0]), f"is not a field of a {kind.value} prior"
        )
    weight = data.get("weight", 1.0)
    if not is_finite_number(weight) or not 0 < weight <= MAX_WEIGHT:
        raise InvalidArgumentError(
            f"{where}.weight", f"must be in (0, {MAX_WEIGHT:g}], got {describe(weight)}"
        )
    common: dict[str, Any] = {
        "kind": kind,
        "confidence": enum_member(
            Confidence, f"{where}.confidence", data.get("confidence", "medium")
        ),
        "weight": float(weight),
    }
    if kind is PriorKind.POINT:
        return PriorSource(
            **common, config=partial_config(space, data.get("config"), f"{where}.config")
        )
    if kind is PriorKind.CONFIGS:
        configs = _list(
            data.get("configs"), f"{where}.configs", MAX_PRIOR_CONFIGS, allow_empty=False
        )
        return PriorSource(
            **common,
            configs=tuple(
                space.validate(
                    _mapping(config, f"{where}.configs[{index}]"), f"{where}.configs[{index}]"
                )
                for index, config in enumerate(configs)
            ),
        )
    if kind is PriorKind.LLM:
        return PriorSource(**common, llm=_llm_settings(data, where))
    if kind is PriorKind.SCALING:
        return PriorSource(**common, family=check_study_name(data.get("family"), f"{where}.family"))
    studies = _list(
        data.get("studies", []), f"{where}.studies", MAX_TRANSFER_STUDIES, allow_empty=True
    )
    for index, name in enumerate(studies):
        check_study_name(name, f"{where}.studies[{index}]")
    top_k = bounded_int(f"{where}.top_k", data.get("top_k", 5), 1, MAX_TOP_K)
    return PriorSource(**common, studies=tuple(studies), top_k=top_k)


def priors_from_json(space: Space, data: object) -> tuple[PriorSource, ...]:
    entries = _list(data, "priors", MAX_PRIORS, allow_empty=True)
    return tuple(
        prior_from_json(space, entry, f"priors[{index}]") for index, entry in enumerate(entries)
    )


def enqueued_from_json(space: Space, data: object) -> tuple[Config, ...]:
    entries = _list(data, "enqueue", MAX_ENQUEUED, allow_empty=True)
    return tuple(
        space.validate(_mapping(config, f"enqueue[{index}]"), f"enqueue[{index}]")
        for index, config in enumerate(entries)
    )


def partial_config(space: Space, data: object, where: str) -> Config:
    """A configuration that may leave parameters out (each given value is validated)."""
    config = _mapping(data, where)
    if not config:
        raise InvalidArgumentError(where, "must name at least one parameter")
    for name in config:
        if name not in space:
            raise InvalidArgumentError(member(where, name), "is not a parameter of the space")
    return {name: space[name].validate(f"{where}.{name}", value) for name, value in config.items()}


def _llm_settings(data: Mapping[str, Any], where: str) -> LLMSettings:
    for required in ("base_url", "model"):
        check_text(f"{where}.{required}", data.get(required), MAX_URL_LENGTH, required=True)
    if not data["base_url"].startswith(("http://", "https://")):
        raise InvalidArgumentError(f"{where}.base_url", "must start with http:// or https://")
    defaults = LLMSettings(base_url=data["base_url"], model=data["model"])
    api_key_env = check_text(
        f"{where}.api_key_env", data.get("api_key_env", defaults.api_key_env), MAX_NAME_LENGTH
    )
    if api_key_env and not ENV_NAME.match(api_key_env):
        raise InvalidArgumentError(f"{where}.api_key_env", "must name an environment variable")
    response_format = data.get("response_format", defaults.response_format)
    if response_format not in RESPONSE_FORMATS:
        raise InvalidArgumentError(
            f"{where}.response_format", f"must be one of {', '.join(RESPONSE_FORMATS)}"
        )
    return LLMSettings(
        base_url=data["base_url"],
        model=data["model"],
        api_key_env=api_key_env,
        n_configs=bounded_int(
            f"{where}.n_configs", data.get("n_configs", defaults.n_configs), 1, MAX_LLM_CONFIGS
        ),
        timeout_seconds=bounded_float(
            f"{where}.timeout_seconds",
            data.get("timeout_seconds", defaults.timeout_seconds),
            MIN_LLM_TIMEOUT_SECONDS,
            MAX_LLM_TIMEOUT_SECONDS,
        ),
        retries=bounded_int(
            f"{where}.retries", data.get("retries", defaults.retries), 0, MAX_LLM_RETRIES
        ),
        response_format=response_format,
        temperature=bounded_float(
            f"{where}.temperature",
            data.get("temperature", defaults.temperature),
            0.0,
            MAX_LLM_TEMPERATURE,
        ),
        seed=bounded_int(f"{where}.seed", data.get("seed", defaults.seed), 0, MAX_LLM_SEED),
    )


def _mapping(data: object, where: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidArgumentError(where, "must be an object of parameter values")
    return dict(data)


def _list(data: object, where: str, limit: int, allow_empty: bool) -> list[Any]:
    if not isinstance(data, (list, tuple)):
        raise InvalidArgumentError(where, "must be a list")
    if not data and not allow_empty:
        raise InvalidArgumentError(where, "must not be empty")
    check_count(where, data, limit)
    return list(data)
