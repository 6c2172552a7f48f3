"""Conversions to and from the wire contract."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from hpo import wire
from hpo.coordinator.decoding import RejectUndecodable
from hpo.errors import InvalidArgumentError
from hpo.space import Categorical, Float, Int, Space
from hpo.spec import Objective, Resource, StudySpec
from hpo.v1 import hpo_pb2 as pb
from hpo.validation import (
    MAX_CHOICES,
    MAX_ENQUEUED,
    MAX_PARAMETERS,
    MAX_PRIOR_CONFIGS,
    MAX_PRIORS,
    MAX_RUNGS,
    MAX_STATE_FILTERS,
    MAX_TRANSFER_STUDIES,
)
from hpo.vocabulary import TrialState

SPEC = StudySpec(
    name="wire",
    space=Space(
        {
            "lr": Float(1e-4, 1.0, log=True),
            "n": Int(1, 9),
            "c": Categorical(["a", 2, 0.5, False]),
        }
    ),
    resource=Resource(1, 27, 3, name="epochs", earlier_r_max=(10,)),
    objective=Objective("accuracy", "maximize"),
    algorithm="hyperband",
    asha_mode="stopping",
    bracket_split="learned",
    deterministic=True,
    max_trials=12,
    seed=2**64 - 1,
    description="round trip",
    priors=[
        {"kind": "point", "config": {"lr": 0.01}, "confidence": "high", "weight": 2.0},
        {"kind": "configs", "configs": [{"lr": 0.1, "n": 3, "c": False}], "confidence": "low"},
        {
            "kind": "llm",
            "base_url": "http://127.0.0.1:8000/v1",
            "model": "m",
            "api_key_env": "",
            "retries": 0,
            "temperature": 0.5,
            "response_format": "json_object",
        },
        {"kind": "transfer", "studies": ["older"], "top_k": 3},
    ],
    enqueue=[{"lr": 0.5, "n": 2, "c": "a"}],
)


def test_spec_round_trips_through_proto() -> None:
    message = pb.StudySpec.FromString(wire.spec_to_proto(SPEC).SerializeToString())
    assert wire.spec_from_proto(message) == SPEC


def test_a_prior_entry_without_a_kind_is_rejected_naming_it() -> None:
    message = wire.spec_to_proto(SPEC)
    message.priors.add(weight=1.0)
    with pytest.raises(InvalidArgumentError) as error:
        wire.spec_from_proto(message)
    assert error.value.field == "priors[4].kind"


def test_typed_values_keep_their_type() -> None:
    config = {"a": 1, "b": 1.0, "c": "1", "d": True}
    decoded = wire.config_from_proto(wire.config_to_proto(config))
    assert decoded == config
    assert [type(value) for value in decoded.values()] == [int, float, str, bool]


def test_unspecified_fields_take_documented_defaults() -> None:
    message = wire.spec_to_proto(SPEC)
    message.objective.Clear()
    message.ClearField("algorithm")
    message.ClearField("asha_mode")
    message.ClearField("bracket_split")
    message.ClearField("deterministic")
    message.resource.eta = 0
    spec = wire.spec_from_proto(message)
    assert (spec.objective.metric, spec.objective.direction.value) == ("value", "minimize")
    assert (spec.algorithm.value, spec.asha_mode.value, spec.resource.eta) == (
        "gp-hyperband",
        "promotion",
        3.0,
    )
    assert (spec.bracket_split.value, spec.deterministic) == ("learned", False)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda m: setattr(m.objective, "direction", 7), "objective.direction"),
        (lambda m: setattr(m, "algorithm", 99), "algorithm"),
        (lambda m: setattr(m, "asha_mode", 3), "asha_mode"),
        (lambda m: setattr(m, "bracket_split", 5), "bracket_split"),
        (lambda m: m.resource.earlier_r_max.append(100), "resource.earlier_r_max"),
        (lambda m: m.ClearField("resource"), "resource"),
        (lambda m: m.space.parameters[0].ClearField("float"), "space.lr"),
        (lambda m: m.space.parameters[2].categorical.choices[0].Clear(), "space.c.choices[0]"),
        (lambda m: m.space.parameters.add().CopyFrom(m.space.parameters[0]), "space.lr"),
        (lambda m: setattr(m.space.parameters[0].float, "low", float("nan")), "space.lr.low"),
    ],
)
def test_malformed_messages_name_the_field(mutate, field: str) -> None:
    message = wire.spec_to_proto(SPEC)
    mutate(message)
    with pytest.raises(InvalidArgumentError) as error:
        wire.spec_from_proto(message)
    assert error.value.field == field


def test_unknown_trial_state_is_rejected() -> None:
    with pytest.raises(InvalidArgumentError, match="states\\[1\\]: unknown enum value 42"):
        wire.decode_trial_state(42, "states[1]")


# ---------------------------------------------------------------- limits on hostile input


def _repeat(field: Any, count: int) -> None:
    """Fill a repeated field with ``count`` copies of its first entry."""
    first = field[0]
    field.extend([first] * (count - len(field)))


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda m: _repeat(m.space.parameters, MAX_PARAMETERS + 1), "space"),
        (
            lambda m: _repeat(m.space.parameters[2].categorical.choices, MAX_CHOICES + 1),
            "space.c.choices",
        ),
        (lambda m: _repeat(m.priors, MAX_PRIORS + 1), "priors"),
        (lambda m: _repeat(m.enqueue, MAX_ENQUEUED + 1), "enqueue"),
        (
            lambda m: _repeat(m.priors[1].configs.configs, MAX_PRIOR_CONFIGS + 1),
            "priors[1].configs",
        ),
        (
            lambda m: _repeat(m.priors[3].transfer.studies, MAX_TRANSFER_STUDIES + 1),
            "priors[3].studies",
        ),
        (lambda m: _repeat(m.resource.earlier_r_max, MAX_RUNGS + 1), "resource.earlier_r_max"),
        (lambda m: setattr(m.space.parameters[2], "name", "c" * 300_000), f"space.{'c' * 32}..."),
        (lambda m: setattr(m, "description", "\x00"), "description"),
    ],
)
def test_messages_beyond_the_limits_name_the_field(mutate, field: str) -> None:
    message = wire.spec_to_proto(SPEC)
    mutate(message)
    with pytest.raises(InvalidArgumentError) as error:
        wire.spec_from_proto(message)
    assert error.value.field == field


def test_configurations_are_counted_and_their_names_cut_short() -> None:
    many = {f"p{i}": pb.Value(int_value=i) for i in range(MAX_PARAMETERS + 1)}
    with pytest.raises(InvalidArgumentError) as error:
        wire.config_from_proto(many)
    assert error.value.field == "config"
    with pytest.raises(InvalidArgumentError) as error:
        wire.config_from_proto({"k" * 300_000: pb.Value(double_value=float("nan"))})
    assert error.value.field == f"config.{'k' * 32}..."


def test_a_state_filter_is_bounded_and_named_once() -> None:
    running, paused = pb.TRIAL_RUNNING, pb.TRIAL_PAUSED
    assert wire.decode_trial_states([running, paused, running]) == [
        TrialState.RUNNING,
        TrialState.PAUSED,
    ]
    with pytest.raises(InvalidArgumentError, match=f"states: has {MAX_STATE_FILTERS + 1} entries"):
        wire.decode_trial_states([running] * (MAX_STATE_FILTERS + 1))
    with pytest.raises(InvalidArgumentError, match="states\\[1\\]: unknown enum value 42"):
        wire.decode_trial_states([running, 42])


class _Aborted(Exception):
    pass


class _Context:
    """The part of a servicer context the interceptor uses."""

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.code, self.details = code, details
        raise _Aborted


class _CallDetails(grpc.HandlerCallDetails):
    method = "/hpo.v1.Coordinator/GetStudy"
    invocation_metadata = ()


def test_undecodable_bytes_are_an_invalid_argument_not_an_internal_error() -> None:
    handler = grpc.unary_unary_rpc_method_handler(
        lambda request, context: pb.Study(id=7),
        request_deserializer=pb.GetStudyRequest.FromString,
        response_serializer=pb.Study.SerializeToString,
    )
    guarded = RejectUndecodable().intercept_service(lambda details: handler, _CallDetails())
    assert guarded is not None
    request = guarded.request_deserializer(pb.GetStudyRequest(name="s").SerializeToString())
    assert guarded.unary_unary(request, _Context()) == pb.Study(id=7)
    context = _Context()
    with pytest.raises(_Aborted):
        guarded.unary_unary(guarded.request_deserializer(b"\x0a\x02\xff\xfe"), context)
    assert context.code == grpc.StatusCode.INVALID_ARGUMENT
    assert context.details.startswith("request: ")
