"""The LLM warm start end to end: `hpo serve`, the real client, and a real model (SmolLM2-135M
behind llama.cpp's OpenAI-compatible server on loopback)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from hpo.client import Client, Study, Trial
from hpo.space import Categorical, Float, Int

SPACE = {
    "learning_rate": Float(1e-4, 1e-1, log=True),
    "layers": Int(1, 6),
    "activation": Categorical(["relu", "tanh", "gelu"]),
}
DESCRIPTION = "A small multilayer perceptron classifying handwritten digits, trained with Adam."


def create(client: Client, name: str, llm: dict[str, Any]) -> Study:
    return client.create_study(
        name, SPACE, r_min=1, r_max=9, algorithm="hyperband", description=DESCRIPTION, priors=[llm]
    )


def run_trials(study: Study, count: int) -> list[Trial]:
    """Suggest (waiting while the warm start asks), report a made-up loss, complete."""
    trials = []
    for _ in range(count):
        trial = study.suggest()
        assert trial is not None
        with trial:
            trial.report(trial.resource, trial.config["layers"] / 10)
        trials.append(trial)
    return trials


def test_llm_proposals_run_first_and_replay_from_the_store_without_the_model(
    llm_server: str, serve: Callable[..., Any], tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'warm.db'}"
    llm = {
        "kind": "llm",
        "base_url": llm_server,
        "model": "smollm2",
        "n_configs": 3,
        "timeout_seconds": 180,
        "retries": 1,
    }
    first_coordinator = serve(db)
    with Client(first_coordinator.address, timeout=30) as client:
        study = create(client, "warm", llm)
        trials = run_trials(study, 5)
        priors = study.priors()
    (exchange,) = priors.exchanges
    assert exchange.error is None and exchange.raw_answer and exchange.replayed_from is None
    assert exchange.model == "smollm2" and "digits" in exchange.messages[-1]["content"]
    proposed = [p.config for p in priors.proposals if p.source == "llm"]
    assert 1 <= len(proposed) <= 3 and exchange.accepted == len(proposed)
    # The proposals ran first, in order, at the bottom rung, with provenance llm.
    first = trials[: len(proposed)]
    assert [t.config for t in first] == proposed
    assert {t.record.source for t in first} == {"llm"} and {t.resource for t in first} == {1}
    assert [p.trial_number for p in priors.proposals] == [t.number for t in first]

    # A rerun of the study on a coordinator with no model to ask: the endpoint is a closed
    # port, so the same proposals can only come from the stored answer.
    first_coordinator.stop()
    second_coordinator = serve(db)
    with Client(second_coordinator.address, timeout=30) as client:
        rerun = create(client, "warm-rerun", {**llm, "base_url": "http://127.0.0.1:9/v1"})
        rerun_trials = run_trials(rerun, len(proposed))
        replayed = rerun.priors()
    (again,) = replayed.exchanges
    assert again.replayed_from == exchange.id and again.error is None
    assert [p.config for p in replayed.proposals] == proposed
    assert [t.config for t in rerun_trials] == proposed
    assert {t.record.source for t in rerun_trials} == {"llm"}
    engine = sa.create_engine(db)
    with engine.connect() as connection:
        sources = connection.execute(
            sa.text(
                "SELECT t.source, COUNT(*) FROM trials t JOIN studies s ON s.id = t.study_id "
                "WHERE s.name = 'warm' GROUP BY t.source"
            )
        ).all()
    engine.dispose()
    # Later trials may be drawn near the LLM's proposals (the prior they feed): source llm too.
    assert dict(sources)["llm"] >= len(proposed)
