"""Study specs: every field is checked, and the JSON form round-trips."""

from __future__ import annotations

import pytest

from hpo.errors import InvalidArgumentError
from hpo.space import Float, Space
from hpo.spec import Algorithm, AshaMode, Direction, Objective, Resource, StudySpec

SPACE = Space({"x": Float(0, 1)})


def spec(**overrides: object) -> StudySpec:
    fields: dict = {"name": "s", "space": SPACE, "resource": Resource(1, 81, 3)}
    fields.update(overrides)
    return StudySpec(**fields)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Resource(0, 10), "resource.r_min"),
        (lambda: Resource(5, 1), "resource.r_max"),
        (lambda: Resource(1, 10, eta=1), "resource.eta"),
        (lambda: Resource(1, float("inf")), "resource.r_max"),
        (lambda: Resource(1e-30, 1, eta=1.01), "resource"),
        (lambda: Objective(direction="sideways"), "objective.direction"),
        (lambda: Objective(metric=""), "objective.metric"),
        (lambda: spec(name=""), "name"),
        (lambda: spec(name="has space"), "name"),
        (lambda: spec(name="x" * 200), "name"),
        (lambda: spec(max_trials=-1), "max_trials"),
        (lambda: spec(seed=2**64), "seed"),
        (lambda: spec(algorithm="grid"), "algorithm"),
        (lambda: spec(asha_mode="lazy"), "asha_mode"),
    ],
)
def test_invalid_fields_are_named(make: object, field: str) -> None:
    with pytest.raises(InvalidArgumentError) as error:
        make()  # type: ignore[operator]
    assert error.value.field == field


def test_strings_become_enums() -> None:
    made = spec(algorithm="random", asha_mode="stopping", objective=Objective("acc", "maximize"))
    assert made.algorithm is Algorithm.RANDOM
    assert made.asha_mode is AshaMode.STOPPING
    assert made.objective.direction is Direction.MAXIMIZE
    assert made.objective.sign == -1.0


def test_json_round_trip() -> None:
    original = spec(
        description="tune it", max_trials=40, seed=2**63, objective=Objective("acc", "maximize")
    )
    assert StudySpec.from_json(original.to_json()) == original


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "s", "space": {"x": {"type": "float", "low": 0, "high": 1}}}, "resource"),
        (
            {
                "name": "s",
                "space": {"x": {"type": "float", "low": 0, "high": 1}},
                "resource": {"r_max": 9},
            },
            "resource.r_min",
        ),
        (
            {
                "name": "s",
                "space": {"x": {"type": "float", "low": 0, "high": 1}},
                "resource": {"r_min": 1, "r_max": 9},
                "budget": 3,
            },
            "budget",
        ),
    ],
)
def test_json_errors_name_the_field(data: dict, field: str) -> None:
    with pytest.raises(InvalidArgumentError) as error:
        StudySpec.from_json(data)
    assert error.value.field == field
