"""The in-trial API's line formats and its behaviour outside a trial."""

from __future__ import annotations

from pathlib import Path

import pytest

import hpo
from hpo.client import Decision
from hpo.trial_api import (
    TrialContext,
    decode_decision,
    decode_report,
    encode_decision,
    encode_report,
    parse_stdout_report,
)
from hpo.vocabulary import TrialState


def test_report_and_decision_lines_round_trip() -> None:
    assert decode_report(encode_report(3.0, 0.25)) == (3.0, 0.25)
    decision = Decision(False, 9.0, TrialState.RUNNING, "ranks 1 of 3")
    assert decode_decision(encode_decision(decision)) == decision


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("@hpo report resource=3 value=0.25", (3.0, 0.25)),
        ("  @hpo report resource=1e2 value=-4.5\n", (100.0, -4.5)),
        ("epoch 3: loss 0.25", None),
        ("@hpo something else", None),
    ],
)
def test_stdout_report_lines(line: str, parsed: tuple | None) -> None:
    assert parse_stdout_report(line) == parsed


def test_stdout_report_with_bad_numbers_raises() -> None:
    with pytest.raises(ValueError):
        parse_stdout_report("@hpo report resource=three value=0.1")


def test_context_round_trips_through_the_environment(tmp_path: Path) -> None:
    context = TrialContext("s", 7, 3, {"lr": 0.1, "act": "relu"}, 9.0, 3.0, 27.0, tmp_path)
    assert TrialContext.from_environment(context.environment()) == context


def test_resources_are_written_exactly_and_whole_numbers_stay_readable() -> None:
    context = TrialContext("s", 7, 3, {"lr": 0.1}, 2429757.0, 1 / 3, 2429757.0, None)
    environment = context.environment()
    assert environment["HPO_R_MAX"] == environment["HPO_RESOURCE"] == "2429757"
    assert TrialContext.from_environment(environment) == context


def test_outside_a_trial_the_api_says_how_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HPO_TRIAL_ID", "HPO_REPORT_FD", "HPO_DECISION_FD"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="hpo worker"):
        hpo.current_trial()
    with pytest.raises(RuntimeError, match="hpo worker"):
        hpo.report(1, 0.5)
