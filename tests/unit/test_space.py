"""Search spaces: definition checks, configuration validation, sampling, unit-cube encoding."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpo.errors import InvalidArgumentError
from hpo.space import Categorical, Float, Int, Space
from hpo.validation import MAX_CHOICES, MAX_ECHO_LENGTH, MAX_PARAMETERS, MAX_SPACE_DIMS

SPACE = Space(
    {
        "lr": Float(1e-5, 1e-1, log=True),
        "dropout": Float(0.0, 0.5),
        "units": Int(16, 512, log=True),
        "layers": Int(1, 4),
        "act": Categorical(["relu", "tanh", "gelu"]),
        "bn": Categorical([True, False]),
    }
)


@pytest.mark.parametrize(
    ("parameters", "field"),
    [
        ({"lr": Float(1.0, 0.1)}, "space.lr"),
        ({"lr": Float(0.0, 1.0, log=True)}, "space.lr.low"),
        ({"lr": Float(float("nan"), 1.0)}, "space.lr.low"),
        ({"lr": Float(0.0, float("inf"))}, "space.lr.high"),
        ({"n": Int(0, 10, log=True)}, "space.n.low"),
        ({"n": Int(1.5, 10)}, "space.n.low"),  # type: ignore[arg-type]
        ({"n": Int(3, 3)}, "space.n"),
        ({"c": Categorical(["a"])}, "space.c.choices"),
        ({"c": Categorical(["a", "a"])}, "space.c.choices[1]"),
        ({"c": Categorical([1.0, float("nan")])}, "space.c.choices[1]"),
        ({"c": Categorical(["a", None])}, "space.c.choices[1]"),  # type: ignore[list-item]
        ({"9lives": Float(0, 1)}, "space.9lives"),
        ({}, "space"),
    ],
)
def test_malformed_definitions_name_the_field(parameters: dict, field: str) -> None:
    with pytest.raises(InvalidArgumentError) as error:
        Space(parameters)
    assert error.value.field == field


def test_true_and_one_are_different_choices() -> None:
    space = Space({"c": Categorical([1, True])})
    assert space.validate({"c": True}) == {"c": True}
    assert space.validate({"c": 1}) == {"c": 1}
    assert type(space.validate({"c": 1})["c"]) is int


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"lr": 0.5}, "config.lr"),
        ({"lr": float("nan")}, "config.lr"),
        ({"lr": 10**400}, "config.lr"),  # beyond a float
        ({"lr": "0.01"}, "config.lr"),
        ({"units": 1000}, "config.units"),
        ({"units": 20.5}, "config.units"),
        ({"layers": True}, "config.layers"),
        ({"act": "swish"}, "config.act"),
        ({"bn": 1}, "config.bn"),
        ({"momentum": 0.9}, "config.momentum"),
    ],
)
def test_out_of_space_values_name_the_parameter(config: dict, field: str) -> None:
    valid = {"lr": 1e-3, "dropout": 0.1, "units": 64, "layers": 2, "act": "relu", "bn": True}
    with pytest.raises(InvalidArgumentError) as error:
        SPACE.validate({**valid, **config})
    assert error.value.field == field
    assert field in str(error.value)


def test_missing_parameter_is_named() -> None:
    with pytest.raises(InvalidArgumentError, match="config.bn: is missing"):
        SPACE.validate({"lr": 1e-3, "dropout": 0.1, "units": 64, "layers": 2, "act": "relu"})


def test_validate_returns_canonical_types() -> None:
    config = SPACE.validate(
        {"lr": 1e-3, "dropout": 0, "units": 64.0, "layers": 2, "act": "relu", "bn": False}
    )
    assert type(config["dropout"]) is float
    assert type(config["units"]) is int


def test_samples_are_valid_and_cover_the_range() -> None:
    rng = np.random.default_rng(0)
    samples = [SPACE.sample(rng) for _ in range(2000)]
    for config in samples:
        assert SPACE.validate(config) == config
    layers = {config["layers"] for config in samples}
    assert layers == {1, 2, 3, 4}
    acts = [config["act"] for config in samples]
    assert {act: acts.count(act) for act in ("relu", "tanh", "gelu")}.keys() == {
        "relu",
        "tanh",
        "gelu",
    }
    # Log-uniform: as many samples below the geometric middle (1e-3) as above.
    below = sum(config["lr"] < 1e-3 for config in samples)
    assert 850 < below < 1150


def test_int_cells_give_every_integer_a_fair_share() -> None:
    space = Space({"n": Int(1, 4)})
    counts = np.bincount([space.from_unit([u])["n"] for u in np.linspace(0, 1, 4001)], minlength=5)[
        1:
    ]
    assert counts.min() >= 990 and counts.max() <= 1010


def test_unit_encoding_round_trips() -> None:
    rng = np.random.default_rng(1)
    for _ in range(200):
        config = SPACE.sample(rng)
        unit = SPACE.to_unit(config)
        assert unit.shape == (SPACE.dims,) == (1 + 1 + 1 + 1 + 3 + 2,)
        assert np.all((unit >= 0) & (unit <= 1))
        decoded = SPACE.from_unit(unit)
        assert decoded["act"] == config["act"] and decoded["units"] == config["units"]
        assert math.isclose(decoded["lr"], config["lr"], rel_tol=1e-9)


def test_log_encoding_is_linear_in_log_space() -> None:
    space = Space({"lr": Float(1e-4, 1e-2, log=True)})
    assert space.to_unit({"lr": 1e-3}) == pytest.approx([0.5])
    assert space.from_unit([0.5])["lr"] == pytest.approx(1e-3)


def test_from_unit_clips_points_outside_the_cube() -> None:
    decoded = SPACE.from_unit(np.full(SPACE.dims, 7.0))
    assert SPACE.validate(decoded) == decoded
    assert decoded["lr"] == pytest.approx(1e-1)
    assert decoded["layers"] == 4


def test_json_round_trip() -> None:
    assert Space.from_json(SPACE.to_json()) == SPACE
    assert list(Space.from_json(SPACE.to_json())) == list(SPACE)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"lr": {"type": "float", "low": 1}}, "space.lr"),
        ({"lr": {"type": "normal", "low": 0, "high": 1}}, "space.lr.type"),
        ({"lr": {"type": "float", "low": 0, "high": 1, "log": "yes"}}, "space.lr.log"),
        ({"lr": {"type": "float", "low": 0, "high": 1, "step": 0.1}}, "space.lr"),
        ({"c": {"type": "categorical", "choices": "ab"}}, "space.c.choices"),
        (["lr"], "space"),
    ],
)
def test_json_errors_name_the_field(data: object, field: str) -> None:
    with pytest.raises(InvalidArgumentError) as error:
        Space.from_json(data)
    assert error.value.field == field


# ---------------------------------------------------------------- limits on hostile input


def _categoricals(count: int, choices: int) -> dict:
    return {f"c{i}": Categorical([f"v{j}" for j in range(choices)]) for i in range(count)}


@pytest.mark.parametrize(
    ("parameters", "field"),
    [
        # The unit-cube encoding divides by high - low.
        ({"x": Float(-1e308, 1e308)}, "space.x"),
        # Integers travel as int64.
        ({"n": Int(0, 2**63)}, "space.n.high"),
        ({"n": Int(-(2**63) - 1, 0)}, "space.n.low"),
        ({"c": Categorical([1, 2**64])}, "space.c.choices[1]"),
        # PostgreSQL cannot store NUL; "$" would let a trailing newline through.
        ({"c": Categorical(["a", "b\x00"])}, "space.c.choices[1]"),
        ({"c": Categorical(["a", "b" * 257])}, "space.c.choices[1]"),
        ({"lr\n": Float(0, 1)}, "space.lr\n"),
        ({f"p{i}": Float(0, 1) for i in range(MAX_PARAMETERS + 1)}, "space"),
        ({"c": Categorical(list(range(MAX_CHOICES + 1)))}, "space.c.choices"),
        (_categoricals(MAX_SPACE_DIMS // MAX_CHOICES + 1, MAX_CHOICES), "space"),
    ],
)
def test_spaces_beyond_the_limits_name_the_field(parameters: dict, field: str) -> None:
    with pytest.raises(InvalidArgumentError) as error:
        Space(parameters)
    assert error.value.field == field


def test_a_long_parameter_name_is_cut_short_in_the_error() -> None:
    with pytest.raises(InvalidArgumentError) as error:
        Space({"a" * 300_000: Float(0, 1)})
    assert error.value.field == f"space.{'a' * 32}..."


def test_errors_about_hostile_configurations_stay_short() -> None:
    space = Space({"c": Categorical([f"choice-{i}" for i in range(MAX_CHOICES)])})
    for config in ({"c": "x" * 300_000}, {"x" * 300_000: 1.0, "c": "choice-1"}):
        with pytest.raises(InvalidArgumentError) as error:
            space.validate(config)
        assert len(str(error.value)) < 4 * MAX_ECHO_LENGTH + 200


def test_int_values_are_validated_exactly() -> None:
    space = Space({"n": Int(0, 2**62)})
    assert space.validate({"n": 2**62 - 1}) == {"n": 2**62 - 1}  # a float would round it up
    with pytest.raises(InvalidArgumentError, match="config.n"):
        space.validate({"n": 2**62 + 1})


@given(st.lists(st.floats(-0.5, 1.5), min_size=7, max_size=7))
def test_snapping_units_at_once_is_decoding_and_encoding_each(coordinates: list[float]) -> None:
    space = Space(
        {
            "f": Float(1e-3, 10.0, log=True),
            "g": Float(-2.0, 3.0),
            "n": Int(1, 64, log=True),
            "m": Int(-3, 5),
            "c": Categorical(["a", "b", 7]),
        }
    )
    point = np.array(coordinates)
    snapped = space.snap_units(point[None, :])[0]
    assert np.allclose(snapped, space.to_unit(space.from_unit(point)), rtol=0, atol=1e-12)
    assert space.from_unit(snapped) == space.from_unit(point)
