"""What a study spec's ``llm`` prior entry says: which endpoint and model to ask, and how.

Kept apart from :mod:`hpo.priors.llm` (the question, the answer, the HTTP client) so that a
spec can be read and checked without importing the LLM client (docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass

# How the answer's shape is asked for: "auto" tries a JSON schema, then a JSON object.
RESPONSE_FORMATS = ("auto", "json_schema", "json_object")


@dataclass(frozen=True)
class LLMSettings:
    """Which endpoint and model to ask, and how (a study spec's ``llm`` prior entry)."""

    base_url: str
    model: str
    # The name of the coordinator's variable holding the API key; "" sends none. The operator
    # must allow it (hpo serve --llm-key-env, hpo.priors.endpoints).
    api_key_env: str = ""
    n_configs: int = 5
    timeout_seconds: float = 60.0
    retries: int = 2
    response_format: str = "auto"
    temperature: float = 0.0
    seed: int = 0
