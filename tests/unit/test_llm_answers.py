"""The LLM warm start's question and answer handling, on recorded answers and a stub endpoint.

The answers below are written the way small and large models really answer:
clean JSON, JSON in prose or fences, values past the bounds, invented
parameters, repeated configurations. The stub endpoint is a real HTTP server
on loopback that answers like an OpenAI-compatible server, to check what
:func:`ask` sends and how it falls back; the real model runs in
``tests/integration/test_llm_server.py``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from itertools import pairwise
from typing import Any

import pytest

from hpo.priors.llm import (
    LLMSettings,
    TaskDescription,
    answer_schema,
    ask,
    build_messages,
    parse_answer,
    prompt_hash,
)
from hpo.space import Categorical, Float, Int, Space

SPACE = Space(
    {
        "lr": Float(1e-5, 1e-1, log=True),
        "layers": Int(1, 8),
        "width": Int(16, 1024, log=True),
        "dropout": Float(0.0, 0.5),
        "optimizer": Categorical(["adam", "sgd", "adamw"]),
    }
)
TASK = TaskDescription(
    description="A ResNet-18 on CIFAR-10 with standard augmentation.",
    metric="val_error",
    direction="minimize",
    resource_name="epochs",
    r_min=1,
    r_max=81,
)
GOOD = [
    {"lr": 0.001, "layers": 4, "width": 128, "dropout": 0.1, "optimizer": "adam"},
    {"lr": 0.0464, "layers": 2, "width": 512, "dropout": 0.0, "optimizer": "sgd"},
    {"lr": 0.000215, "layers": 8, "width": 64, "dropout": 0.3, "optimizer": "adamw"},
]
LOGGER = "hpo.priors.llm"


def answer(*configs: dict[str, Any]) -> str:
    return json.dumps({"configurations": list(configs)}, indent=2)


def warnings(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(
        record.getMessage()
        for record in caplog.records
        if record.name == LOGGER and record.levelno == logging.WARNING
    )


# ---------------------------------------------------------------- recorded answers


def test_a_valid_answer_is_accepted_whole_with_canonical_types(
    caplog: pytest.LogCaptureFixture,
) -> None:
    accepted, rejected = parse_answer(SPACE, answer(*GOOD), 3)
    assert accepted == GOOD and rejected == []
    assert all(type(c["lr"]) is float and type(c["width"]) is int for c in accepted)
    assert type(accepted[1]["dropout"]) is float  # sent as 0.0, kept as a float
    assert warnings(caplog) == ""


def test_not_json_gives_nothing_and_one_rejection_with_the_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    raw = "Sure! I would try a learning rate of 0.001 with Adam and four layers."
    accepted, rejected = parse_answer(SPACE, raw, 3)
    assert accepted == []
    assert rejected == [{"item": raw, "reason": "the answer is not JSON"}]
    assert "not JSON" in warnings(caplog)


def test_json_in_fences_and_prose_is_found() -> None:
    raw = f"Here are my suggestions:\n```json\n{answer(*GOOD)}\n```\nGood luck with training!"
    accepted, rejected = parse_answer(SPACE, raw, 3)
    assert accepted == GOOD and rejected == []


def test_a_bare_list_and_numbers_as_strings_are_repaired() -> None:
    sent = [{**GOOD[0], "lr": "0.001", "layers": " 4 "}, GOOD[1]]
    accepted, rejected = parse_answer(SPACE, json.dumps(sent), 3)
    assert accepted == GOOD[:2] and rejected == []


def test_out_of_range_values_are_clipped_logged_and_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sent = {"lr": 3.0, "layers": 11, "width": 7.6, "dropout": -0.2, "optimizer": "sgd"}
    accepted, rejected = parse_answer(SPACE, answer(sent), 3)
    assert accepted == [{"lr": 0.1, "layers": 8, "width": 16, "dropout": 0.0, "optimizer": "sgd"}]
    assert rejected == []
    logged = warnings(caplog)
    for name in ("lr", "layers", "width", "dropout"):
        assert f"configurations[0].{name}" in logged
    assert "clipped to 0.1" in logged


def test_floats_for_ints_are_rounded() -> None:
    accepted, _ = parse_answer(SPACE, answer({**GOOD[0], "layers": 3.6, "width": 100.2}), 3)
    assert (accepted[0]["layers"], accepted[0]["width"]) == (4, 100)


def test_an_unknown_parameter_is_dropped_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    accepted, rejected = parse_answer(SPACE, answer({**GOOD[0], "momentum": 0.9}), 3)
    assert accepted == [GOOD[0]] and rejected == []
    assert "dropped unknown parameter 'momentum'" in warnings(caplog)


def test_a_missing_parameter_rejects_the_item(caplog: pytest.LogCaptureFixture) -> None:
    partial = {name: value for name, value in GOOD[0].items() if name != "width"}
    accepted, rejected = parse_answer(SPACE, answer(partial, GOOD[1]), 3)
    assert accepted == [GOOD[1]]
    assert rejected == [{"item": partial, "reason": "missing parameter 'width'"}]
    assert "configurations[0] rejected: missing parameter 'width'" in warnings(caplog)


def test_an_unknown_choice_or_a_word_for_a_number_rejects_the_item() -> None:
    bad_choice = {**GOOD[0], "optimizer": "rmsprop"}
    bad_number = {**GOOD[1], "lr": "small"}
    accepted, rejected = parse_answer(SPACE, answer(bad_choice, bad_number, GOOD[2]), 3)
    assert accepted == [GOOD[2]]
    assert [r["item"] for r in rejected] == [bad_choice, bad_number]
    assert "'rmsprop' is not one of ['adam', 'sgd', 'adamw']" in rejected[0]["reason"]
    assert "'small' is not a number" in rejected[1]["reason"]


def test_choices_spelled_differently_are_recognised() -> None:
    space = Space({"batch": Categorical([32, 64]), "bn": Categorical([True, False])})
    accepted, rejected = parse_answer(space, answer({"batch": "64", "bn": "true"}), 2)
    assert accepted == [{"batch": 64, "bn": True}] and rejected == []
    accepted, rejected = parse_answer(space, answer({"batch": 32.0, "bn": 1}), 2)
    assert accepted == [] and "1 is not one of [True, False]" in rejected[0]["reason"]


def test_duplicates_after_canonicalisation_are_rejected() -> None:
    same = {**GOOD[0], "lr": "1e-3", "layers": 4.0}  # the same configuration, spelled differently
    accepted, rejected = parse_answer(SPACE, answer(GOOD[0], same, GOOD[1]), 3)
    assert accepted == GOOD[:2]
    assert rejected == [{"item": same, "reason": "duplicate"}]


def test_more_items_than_asked_for_are_cut() -> None:
    configs = [{**GOOD[0], "layers": layers} for layers in range(1, 8)]
    accepted, rejected = parse_answer(SPACE, answer(*configs), 5)
    assert accepted == configs[:5]
    assert [r["item"] for r in rejected] == configs[5:]
    assert rejected[0]["reason"] == "beyond the 5 configurations asked for"


@pytest.mark.parametrize(
    "raw",
    ["", "null", "42", '{"answer": []}', '{"configurations": "none"}', "[" * 5000, "[1, 2]"],
)
def test_no_answer_ever_raises(raw: str) -> None:
    accepted, rejected = parse_answer(SPACE, raw, 3)
    assert accepted == [] and len(rejected) >= 1
    assert all(r["reason"] for r in rejected)


def test_non_finite_and_huge_numbers_are_rejected() -> None:
    nan = json.dumps({**GOOD[0], "lr": float("nan")})
    huge = json.dumps({**GOOD[1], "layers": 10**400})
    raw = f'{{"configurations": [{nan}, {huge}]}}'
    accepted, rejected = parse_answer(SPACE, raw, 3)
    assert accepted == [] and all("not a finite number" in r["reason"] for r in rejected)


# ---------------------------------------------------------------- the question


def grids(schema: dict[str, Any]) -> dict[str, list[Any]]:
    item = schema["properties"]["configurations"]["items"]
    return {name: prop["enum"] for name, prop in item["properties"].items()}


def test_the_schema_asks_for_exactly_n_full_configurations() -> None:
    schema = answer_schema(SPACE, 4)
    configurations = schema["properties"]["configurations"]
    assert (configurations["minItems"], configurations["maxItems"]) == (4, 4)
    assert schema["required"] == ["configurations"]
    assert configurations["items"]["required"] == list(SPACE)
    assert configurations["items"]["additionalProperties"] is False
    assert grids(schema)["optimizer"] == ["adam", "sgd", "adamw"]


@pytest.mark.parametrize(
    "parameter",
    [
        Float(1e-5, 1e-1, log=True),
        Float(0.12345, 987.65, log=True),
        Float(1.0, 1.001, log=True),
        Float(0.0, 0.5),
        Float(-2.0, 2.0),
        Float(0.12345, 0.98765),
        Int(1, 8),
        Int(0, 16),
        Int(16, 1024, log=True),
        Int(1, 20, log=True),
        Int(0, 100_000),
    ],
)
def test_every_grid_value_is_valid_and_the_bounds_are_offered(parameter: Float | Int) -> None:
    grid = grids(answer_schema(Space({"p": parameter}), 1))["p"]
    assert 9 <= len(grid) <= 17 or grid == list(range(parameter.low, parameter.high + 1))
    assert grid == sorted(set(grid))
    assert (grid[0], grid[-1]) == (parameter.low, parameter.high)
    kind = int if isinstance(parameter, Int) else float
    assert all(type(value) is kind and parameter.validate("p", value) == value for value in grid)


def test_small_int_ranges_are_offered_whole() -> None:
    assert grids(answer_schema(SPACE, 1))["layers"] == [1, 2, 3, 4, 5, 6, 7, 8]


def test_log_grids_are_log_spaced_and_linear_grids_evenly_spaced() -> None:
    grid = grids(answer_schema(SPACE, 1))
    log_steps = [math.log(b / a) for a, b in pairwise(grid["lr"])]
    assert max(log_steps) / min(log_steps) < 1.05
    assert grid["lr"][:4] == [1e-05, 2.15e-05, 4.64e-05, 0.0001]  # rounded for the model
    width_steps = [math.log(b / a) for a, b in pairwise(grid["width"])]
    assert max(width_steps) / min(width_steps) < 1.1
    assert grid["dropout"] == [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5]


def test_the_prompt_describes_the_task_and_every_parameter() -> None:
    system, user = build_messages(SPACE, TASK, 4)
    assert system["role"] == "system" and "only" in system["content"]
    assert "JSON" in system["content"]
    text = user["content"]
    assert user["role"] == "user"
    assert TASK.description in text
    assert 'minimize the metric "val_error" (lower is better)' in text
    assert '"epochs" goes from 1 to 81' in text
    assert "- lr: a real number from 1e-05 to 0.1, on a log scale" in text
    assert "- layers: an integer from 1 to 8\n" in text
    assert "- width: an integer from 16 to 1024, on a log scale" in text
    assert "- dropout: a real number from 0 to 0.5\n" in text
    assert '- optimizer: one of "adam", "sgd", "adamw"' in text
    assert "4 diverse, promising configurations" in text
    maximize = TaskDescription("", "accuracy", "maximize", "steps", 100, 10_000)
    assert "maximize the metric" in build_messages(SPACE, maximize, 4)[1]["content"]


def test_the_prompt_hash_is_stable_and_changes_with_the_question() -> None:
    messages = build_messages(SPACE, TASK, 4)
    schema = answer_schema(SPACE, 4)
    first = prompt_hash("smollm2", messages, schema)
    assert first == prompt_hash("smollm2", build_messages(SPACE, TASK, 4), answer_schema(SPACE, 4))
    assert len(first) == 64 and int(first, 16) >= 0
    other_task = dataclasses.replace(TASK, description="A GPT-2 on OpenWebText.")
    assert prompt_hash("smollm2", build_messages(SPACE, other_task, 4), schema) != first
    assert prompt_hash("smollm2", build_messages(SPACE, TASK, 5), schema) != first
    assert prompt_hash("qwen", messages, schema) != first
    assert prompt_hash("smollm2", messages, answer_schema(SPACE, 5)) != first


# ---------------------------------------------------------------- asking an endpoint


def test_an_unreachable_endpoint_gives_an_error_not_an_exception(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = LLMSettings(
        base_url="http://127.0.0.1:9/v1", model="m", timeout_seconds=2, retries=0
    )
    exchange = ask(settings, SPACE, TASK)
    assert exchange.error is not None
    assert exchange.error.startswith("LLM endpoint http://127.0.0.1:9/v1 unreachable: ")
    assert "\n" not in exchange.error
    assert exchange.raw_answer is None and exchange.accepted == [] and exchange.rejected == []
    assert exchange.seconds < 10
    assert exchange.prompt_hash == prompt_hash(
        "m", build_messages(SPACE, TASK, 5), answer_schema(SPACE, 5)
    )
    assert exchange.error in warnings(caplog)


def test_auto_falls_back_to_json_object_with_the_schema(
    stub: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = stub(answer(*GOOD), refuse_json_schema=True)
    monkeypatch.setenv("HPO_TEST_LLM_KEY", "sk-test")
    settings = LLMSettings(
        base_url=endpoint.base_url,
        model="smollm2",
        api_key_env="HPO_TEST_LLM_KEY",
        n_configs=3,
        retries=0,
        temperature=0.5,
        seed=7,
    )
    exchange = ask(settings, SPACE, TASK)
    assert exchange.error is None
    assert (exchange.accepted, exchange.rejected) == (GOOD, [])
    assert exchange.raw_answer == answer(*GOOD)
    schema = answer_schema(SPACE, 3)
    assert exchange.response_format == {"type": "json_object", "schema": schema}
    (first, key), (second, _) = endpoint.requests
    assert first["response_format"]["type"] == "json_schema"
    assert first["response_format"]["json_schema"]["schema"] == schema
    assert second["response_format"] == {"type": "json_object", "schema": schema}
    assert key == "Bearer sk-test"
    assert (second["model"], second["temperature"], second["seed"]) == ("smollm2", 0.5, 7)
    assert second["messages"] == build_messages(SPACE, TASK, 3)
    assert second["max_tokens"] >= 3 * len(json.dumps(GOOD[0], indent=2))
    assert "refused response_format json_schema (HTTP 500); trying json_object" in warnings(caplog)


@pytest.mark.parametrize("setting", ["json_schema", "json_object"])
def test_a_fixed_format_is_sent_alone_with_a_placeholder_key(stub: Any, setting: str) -> None:
    endpoint = stub(answer(*GOOD[:2]))
    settings = LLMSettings(
        base_url=endpoint.base_url,
        model="m",
        api_key_env="",
        n_configs=2,
        response_format=setting,
    )
    exchange = ask(settings, SPACE, TASK)
    assert exchange.error is None and exchange.accepted == GOOD[:2]
    [(body, key)] = endpoint.requests
    assert body["response_format"]["type"] == setting == exchange.response_format["type"]
    assert key == "Bearer not-needed"


def test_an_http_error_with_no_fallback_left_is_reported(
    stub: Any, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = stub(answer(*GOOD), refuse_json_schema=True)
    settings = LLMSettings(
        base_url=endpoint.base_url, model="m", response_format="json_schema", retries=0
    )
    exchange = ask(settings, SPACE, TASK)
    assert exchange.error == (
        f"LLM endpoint {endpoint.base_url} answered HTTP 500: json_schema is not supported"
    )
    assert exchange.response_format is not None
    assert exchange.response_format["type"] == "json_schema"
    assert exchange.raw_answer is None and exchange.accepted == []
    assert "LLM warm start failed" in warnings(caplog)


def test_a_rambling_answer_is_stored_with_its_rejection(stub: Any) -> None:
    raw = "I think Adam with a learning rate of 3e-4 is a good start."
    endpoint = stub(raw)
    exchange = ask(LLMSettings(base_url=endpoint.base_url, model="m"), SPACE, TASK)
    assert exchange.error is None and exchange.raw_answer == raw
    assert exchange.accepted == [] and exchange.rejected[0]["reason"] == "the answer is not JSON"
