"""The in-trial API's line formats and its behaviour outside a trial."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hpo
from hpo.client import Decision, DecisionAction
from hpo.trial_api import (
    TrialContext,
    decode_decision,
    decode_report,
    encode_decision,
    encode_report,
    parse_stdout_report,
)
from hpo.vocabulary import TrialState


@pytest.mark.parametrize(
    "decision",
    [
        Decision(DecisionAction.CONTINUE, 9.0, TrialState.RUNNING, "ranks 1 of 3"),
        Decision(DecisionAction.PAUSE, None, TrialState.PAUSED, "paused at rung 0"),
        Decision(DecisionAction.STOP, None, TrialState.STOPPED, "ranks 3 of 3"),
        Decision(DecisionAction.DONE, None, TrialState.COMPLETED, "reached r_max (9)"),
        Decision(DecisionAction.PAUSE, None, TrialState.RUNNING, "buffered", buffered=True),
    ],
)
def test_report_and_decision_lines_round_trip(decision: Decision) -> None:
    assert decode_report(encode_report(3.0, 0.25)) == (3.0, 0.25)
    line = encode_decision(decision)
    assert decode_decision(line) == decision
    # Trial code of an older hpo reads only should_stop: it stays on the line.
    assert json.loads(line)["should_stop"] is (decision.action is not DecisionAction.CONTINUE)


@pytest.mark.parametrize(
    ("should_stop", "state", "action"),
    [
        (False, "running", DecisionAction.CONTINUE),
        (True, "paused", DecisionAction.PAUSE),
        (True, "stopped", DecisionAction.STOP),
        (True, "failed", DecisionAction.STOP),
        (True, "completed", DecisionAction.DONE),
        # A worker's own answer (lease lost, buffered at the target) before actions existed.
        (True, "running", DecisionAction.PAUSE),
    ],
)
def test_a_decision_line_without_an_action_gets_it_derived(
    should_stop: bool, state: str, action: DecisionAction
) -> None:
    line = json.dumps(
        {"should_stop": should_stop, "next_resource": None, "state": state, "reason": "r"}
    )
    decision = decode_decision(line)
    assert decision.action is action and decision.should_stop is should_stop


def test_a_decision_refuses_the_old_positional_should_stop() -> None:
    # Decision(True, ...) was "should stop"; now the first field is the action, and a bool
    # there is refused rather than read as something else.
    with pytest.raises(ValueError, match="DecisionAction"):
        Decision(True, None, TrialState.PAUSED, "paused")  # type: ignore[arg-type]


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
