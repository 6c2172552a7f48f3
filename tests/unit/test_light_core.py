"""A GPU node installs only the light core (grpcio, protobuf, numpy, typer, rich,
python-json-logger): the client, the in-trial API and the worker daemon must not import the
coordinator's dependencies."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("scipy", "sqlalchemy", "alembic", "sklearn", "torch", "botorch", "openai")
# Nor the coordinator's decision state: they share only its words (hpo.vocabulary).
DECISION_STATE = ("hpo.state", "hpo.schedulers", "hpo.samplers", "hpo.service")


def imported_of(modules: str, watched: tuple[str, ...]) -> list[str]:
    """Which of ``watched`` a fresh interpreter has imported after ``import modules``."""
    code = f"import sys, {modules}; print(','.join(m for m in {watched!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return [name for name in result.stdout.strip().split(",") if name]


def test_the_client_and_the_worker_import_nothing_the_light_core_lacks() -> None:
    modules = "hpo, hpo.client, hpo.trial_api, hpo.workers.daemon"
    assert imported_of(modules, HEAVY + DECISION_STATE) == []


def test_reading_a_spec_does_not_import_the_llm_client() -> None:
    assert imported_of("hpo.spec", ("hpo.priors.llm",)) == []
