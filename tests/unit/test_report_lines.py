"""Reports with several metrics in the in-trial API: the stdout forms a command prints, the
report pipe's lines, and what the trainer callbacks pick from a trainer's logged values."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from hpo.trial_api import (
    TrialContext,
    decode_report,
    encode_report,
    logged_report,
    parse_stdout_report,
    report_value,
    running,
)

METRICS = ("loss", "latency_ms", "memory_gb")


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        # The one-number form of every hpo version, also with its fields in another order.
        ("@hpo report resource=3 value=0.25", (3.0, 0.25)),
        ("@hpo report value=0.25 resource=3", (3.0, 0.25)),
        (
            "@hpo report resource=3 loss=0.2 latency_ms=12 memory_gb=30",
            (3.0, {"loss": 0.2, "latency_ms": 12.0, "memory_gb": 30.0}),
        ),
        (
            '  @hpo report {"resource": 3, "loss": 0.2, "latency_ms": 12, "memory_gb": 3e1}\n',
            (3.0, {"loss": 0.2, "latency_ms": 12.0, "memory_gb": 30.0}),
        ),
        ('@hpo report {"resource": 1e2, "value": -4.5}', (100.0, -4.5)),
        # A study whose objective is named "value" beside another metric: a mapping.
        ("@hpo report resource=1 value=0.5 latency_ms=3", (1.0, {"value": 0.5, "latency_ms": 3.0})),
        ("epoch 3: loss 0.25", None),
        ("@hpo something else", None),
        ("@hpo reporting resource=3 value=1", None),
    ],
)
def test_stdout_reports_carry_one_number_or_several_metrics(
    line: str, parsed: tuple[float, object] | None
) -> None:
    assert parse_stdout_report(line) == parsed


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("@hpo report", "names no resource"),
        ("@hpo report loss=0.2 latency_ms=12", "names no resource"),
        ("@hpo report resource=3", "names no metric"),
        ("@hpo report resource=3 loss=fast", "could not convert"),
        ("@hpo report resource=3 loss 0.2", "is not name=number"),
        ("@hpo report resource=3 loss=0.2 loss=0.3", "'loss' is given twice"),
        ('@hpo report {"resource": 3, "loss": 0.2', "Expecting"),
        ('@hpo report {"resource": 3, "loss": 0.2} extra', "Extra data"),
        ('@hpo report {"resource": 3, "loss": "0.2"}', "'loss' is not a number"),
        ('@hpo report {"resource": 3, "loss": true}', "'loss' is not a number"),
        ('@hpo report {"resource": 3, "loss": {"a": 1}}', "'loss' is not a number"),
        ('@hpo report {"resource": 3, "loss": 0.2, "loss": 0.1}', "'loss' is given twice"),
        ("@hpo report [3, 0.2]", "is not name=number"),
    ],
)
def test_malformed_report_lines_raise_with_the_reason(line: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_stdout_report(line)


@pytest.mark.parametrize(
    "line",
    [
        "@hpo report resource=3 loss=nan latency_ms=12 memory_gb=30",
        '@hpo report {"resource": 3, "loss": NaN, "latency_ms": 12, "memory_gb": 30}',
    ],
)
def test_a_nan_metric_parses_so_the_coordinator_refuses_it(line: str) -> None:
    # Ignored like a malformed line, a diverged trial would train on unnoticed; forwarded,
    # it is refused (metrics.loss: must be finite) and the trial fails with that reason
    # (tests/integration/test_worker_metrics.py).
    parsed = parse_stdout_report(line)
    assert parsed is not None
    resource, metrics = parsed
    assert resource == 3.0 and isinstance(metrics, dict) and math.isnan(metrics["loss"])


def test_an_integer_too_large_for_a_float_is_infinite_not_an_overflow() -> None:
    # An OverflowError would escape the worker's reader, which catches ValueError.
    line = '@hpo report {"resource": 3, "loss": 1' + "0" * 400 + "}"
    assert parse_stdout_report(line) == (3.0, {"loss": math.inf})


@pytest.mark.parametrize(
    "value", [0.25, {"loss": 0.2, "latency_ms": 12.0}, {"resource": 1.0, "value": 2.0}]
)
def test_pipe_lines_round_trip_a_number_or_any_metrics(value: object) -> None:
    assert decode_report(encode_report(3.0, value)) == (3.0, value)  # type: ignore[arg-type]


def test_a_pipe_line_of_an_older_trial_still_decodes() -> None:
    assert decode_report('{"resource": 2, "value": 0.5}\n') == (2.0, 0.5)


def test_report_values_become_plain_floats_in_a_copy() -> None:
    metrics = {"loss": 1, "latency_ms": 12.5}
    plain = report_value(metrics)
    metrics["loss"] = 99
    assert plain == {"loss": 1.0, "latency_ms": 12.5}
    assert all(type(value) is float for value in plain.values())  # type: ignore[union-attr]
    assert report_value(3) == 3.0
    with pytest.raises(TypeError, match="metric names are strings"):
        report_value({1: 0.5})  # type: ignore[dict-item]


def test_the_trials_metrics_round_trip_through_the_environment(tmp_path: Path) -> None:
    context = TrialContext("s", 7, 3, {"lr": 0.1}, 9.0, 3.0, 27.0, tmp_path, METRICS)
    environment = context.environment()
    assert environment["HPO_METRICS"] == '["loss", "latency_ms", "memory_gb"]'
    assert TrialContext.from_environment(environment) == context
    # From a worker that did not say: no metrics known.
    del environment["HPO_METRICS"]
    assert TrialContext.from_environment(environment).metrics == ()


def context_with(metrics: tuple[str, ...]) -> TrialContext:
    return TrialContext("s", 1, 0, {}, 3.0, 0.0, 9.0, None, metrics)


class _NoReports:
    def report(self, resource: float, value: object) -> None:
        raise AssertionError("logged_report only reads")


LOGGED = {"val_loss": 0.5, "loss": 0.4, "latency_ms": 12.0, "memory_gb": 30.0}


def test_callbacks_report_the_monitored_value_of_a_one_metric_study() -> None:
    with running(context_with(("loss",)), _NoReports()):  # type: ignore[arg-type]
        assert logged_report(LOGGED, "val_loss", None) == 0.5


def test_callbacks_report_every_metric_of_the_study_by_default() -> None:
    with running(context_with(METRICS), _NoReports()):  # type: ignore[arg-type]
        assert logged_report(LOGGED, "val_loss", None) == {
            "loss": 0.4,
            "latency_ms": 12.0,
            "memory_gb": 30.0,
        }
        evaluation = {"eval_loss": 0.3, "eval_latency_ms": 11.0, "eval_memory_gb": 20.0}
        assert logged_report(evaluation, "eval_loss", None, "eval_") == {
            "loss": 0.3,
            "latency_ms": 11.0,
            "memory_gb": 20.0,
        }


def test_callbacks_report_the_metrics_named_or_mapped() -> None:
    assert logged_report(LOGGED, "val_loss", ["latency_ms", "memory_gb"]) == {
        "latency_ms": 12.0,
        "memory_gb": 30.0,
    }
    assert logged_report(LOGGED, "val_loss", {"loss": "val_loss", "latency_ms": "latency_ms"}) == {
        "loss": 0.5,
        "latency_ms": 12.0,
    }
    with pytest.raises(TypeError, match="not the string"):
        logged_report(LOGGED, "val_loss", "loss")


def test_a_metric_that_was_not_logged_is_named_with_what_was() -> None:
    with pytest.raises(KeyError, match="'accuracy' is not among .*latency_ms, loss, memory_gb"):
        logged_report(LOGGED, "val_loss", {"accuracy": "accuracy"})
