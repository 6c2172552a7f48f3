"""Conversions to and from the wire contract."""

from __future__ import annotations

import pytest

from hpo import wire
from hpo.errors import InvalidArgumentError
from hpo.space import Categorical, Float, Int, Space
from hpo.spec import Objective, Resource, StudySpec
from hpo.v1 import hpo_pb2 as pb

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
    assert (spec.bracket_split.value, spec.deterministic) == ("hyperband", False)


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
