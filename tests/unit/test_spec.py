"""Study specs: every field is checked, and the JSON form round-trips."""

from __future__ import annotations

import pytest

from hpo.errors import InvalidArgumentError
from hpo.space import Float, Space
from hpo.spec import Algorithm, AshaMode, Direction, Objective, Resource, StudySpec
from hpo.validation import (
    MAX_ENQUEUED,
    MAX_PRIOR_CONFIGS,
    MAX_PRIORS,
    MAX_RUNGS,
    MAX_TRANSFER_STUDIES,
)

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


# ---------------------------------------------------------------- limits on hostile input

LLM = {"kind": "llm", "base_url": "http://127.0.0.1:8000/v1", "model": "m"}


@pytest.mark.parametrize(
    ("make", "field"),
    [
        # PostgreSQL stores no NUL; "$" would let a trailing newline through.
        (lambda: spec(description="a\x00b"), "description"),
        (lambda: spec(description="x" * 20_001), "description"),
        (lambda: spec(name="study\n"), "name"),
        (lambda: Objective(metric="m\x00"), "objective.metric"),
        (lambda: Resource(1, 9, name="x" * 129), "resource.name"),
        (lambda: Resource(10**400, 10**401), "resource.r_min"),  # beyond a float
        (lambda: Resource(1, 9, earlier_r_max=5), "resource.earlier_r_max"),  # type: ignore[arg-type]
        (lambda: Resource(1, 9, earlier_r_max=(1,) * (MAX_RUNGS + 1)), "resource.earlier_r_max"),
        (
            lambda: spec(priors=[{"kind": "point", "config": {"x": 0.5}}] * (MAX_PRIORS + 1)),
            "priors",
        ),
        (lambda: spec(enqueue=[{"x": 0.5}] * (MAX_ENQUEUED + 1)), "enqueue"),
        (
            lambda: spec(
                priors=[{"kind": "configs", "configs": [{"x": 0.5}] * (MAX_PRIOR_CONFIGS + 1)}]
            ),
            "priors[0].configs",
        ),
        (
            lambda: spec(
                priors=[{"kind": "transfer", "studies": ["s"] * (MAX_TRANSFER_STUDIES + 1)}]
            ),
            "priors[0].studies",
        ),
        (lambda: spec(priors=[{"kind": "transfer", "studies": ["s\x00"]}]), "priors[0].studies[0]"),
        (
            lambda: spec(priors=[{"kind": "point", "config": {"x": 0.5}, "weight": float("nan")}]),
            "priors[0].weight",
        ),
        (lambda: spec(priors=[{**LLM, "base_url": "http://h/\x00"}]), "priors[0].base_url"),
        (lambda: spec(priors=[{**LLM, "model": "m" * 513}]), "priors[0].model"),
        (lambda: spec(priors=[{**LLM, "api_key_env": "K" * 129}]), "priors[0].api_key_env"),
        (lambda: spec(priors=[{**LLM, "api_key_env": "KEY\n"}]), "priors[0].api_key_env"),
        (lambda: spec(priors=[{**LLM, "n_configs": 33}]), "priors[0].n_configs"),
        (lambda: spec(priors=[{**LLM, "timeout_seconds": 601.0}]), "priors[0].timeout_seconds"),
        (lambda: spec(priors=[{**LLM, "retries": 11}]), "priors[0].retries"),
        (lambda: spec(priors=[{**LLM, "temperature": float("inf")}]), "priors[0].temperature"),
        (lambda: spec(priors=[{**LLM, "seed": -1}]), "priors[0].seed"),
        (lambda: spec(priors=[{"kind": "transfer", "top_k": 101}]), "priors[0].top_k"),
    ],
)
def test_fields_beyond_the_limits_are_named(make: object, field: str) -> None:
    with pytest.raises(InvalidArgumentError) as error:
        make()  # type: ignore[operator]
    assert error.value.field == field


def test_an_unknown_key_is_named_but_cut_short() -> None:
    data = {**spec().to_json(), "k" * 300_000: 1}
    with pytest.raises(InvalidArgumentError) as error:
        StudySpec.from_json(data)
    assert error.value.field == f"{'k' * 32}..."


def test_a_study_stored_with_the_old_default_split_matches_a_request_with_the_new_one() -> None:
    """exist_ok re-creations keep working across the change of the default bracket_split:
    the stored study keeps its own split; any other difference still does not match."""
    stored = spec(bracket_split="hyperband")
    assert stored.matches(spec(bracket_split="learned"))
    assert not spec(bracket_split="learned").matches(stored)
    assert not stored.matches(spec(bracket_split="learned", seed=stored.seed + 1))
