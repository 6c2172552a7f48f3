"""A GPU node installs only the light core (grpcio, protobuf, numpy, typer, rich): the client,
the in-trial API and the worker daemon must not import the coordinator's dependencies."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("scipy", "sqlalchemy", "alembic", "sklearn", "torch", "botorch", "openai")
# Nor the coordinator's decision state: they share only its words (hpo.vocabulary).
DECISION_STATE = ("hpo.state", "hpo.schedulers", "hpo.samplers", "hpo.service")


def test_the_client_and_the_worker_import_nothing_the_light_core_lacks() -> None:
    code = (
        "import sys, hpo, hpo.client, hpo.trial_api, hpo.workers.daemon; "
        f"print(','.join(m for m in {HEAVY + DECISION_STATE!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
