"""The LLM warm start against a real OpenAI-compatible server: llama.cpp serving SmolLM2-135M.

A 135M model proposes weak configurations; these tests check the whole path
(prompt, constrained decoding, parsing, validation) against a real server, not
the quality of the proposals. Each call generates for 5-10 s on two cores, so
the first answer is shared by the tests that only read it.
"""

from __future__ import annotations

import dataclasses

import pytest

from hpo.priors.llm import LLMExchange, TaskDescription, answer_schema, ask
from hpo.priors.llm_settings import LLMSettings
from hpo.space import Categorical, Float, Int, Space

SPACE = Space(
    {
        "learning_rate": Float(1e-5, 1e-1, log=True),
        "num_layers": Int(1, 8),
        "optimizer": Categorical(["adam", "sgd", "adamw"]),
    }
)
TASK = TaskDescription(
    description="A small convolutional network trained on CIFAR-10.",
    metric="val_accuracy",
    direction="maximize",
    resource_name="epochs",
    r_min=1,
    r_max=27,
)
N_CONFIGS = 3


def settings(base_url: str, response_format: str) -> LLMSettings:
    return LLMSettings(
        base_url=base_url,
        model="smollm2",
        n_configs=N_CONFIGS,
        timeout_seconds=120,
        retries=0,
        response_format=response_format,
    )


@pytest.fixture(scope="module")
def auto_exchange(llm_server: str) -> LLMExchange:
    return ask(settings(llm_server, "auto"), SPACE, TASK)


def assert_answered(exchange: LLMExchange) -> None:
    assert exchange.error is None
    assert exchange.raw_answer
    assert len(exchange.accepted) == N_CONFIGS, (exchange.raw_answer, exchange.rejected)
    for config in exchange.accepted:
        assert SPACE.validate(config) == config


def test_auto_falls_back_to_json_object_and_gets_n_valid_configurations(
    auto_exchange: LLMExchange,
) -> None:
    assert_answered(auto_exchange)
    # llama.cpp's server refuses OpenAI's json_schema with HTTP 500.
    assert auto_exchange.response_format == {
        "type": "json_object",
        "schema": answer_schema(SPACE, N_CONFIGS),
    }


def test_the_same_call_gives_the_same_answer(llm_server: str, auto_exchange: LLMExchange) -> None:
    again = ask(settings(llm_server, "auto"), SPACE, TASK)
    assert again.error is None
    assert again.raw_answer == auto_exchange.raw_answer
    assert again.prompt_hash == auto_exchange.prompt_hash


def test_json_object_works_directly(llm_server: str, auto_exchange: LLMExchange) -> None:
    exchange = ask(settings(llm_server, "json_object"), SPACE, TASK)
    assert_answered(exchange)
    assert exchange.response_format == auto_exchange.response_format
    # Same question, same format, same seed: the probe with json_schema changed nothing.
    assert exchange.raw_answer == auto_exchange.raw_answer
    assert dataclasses.replace(exchange, seconds=0) == dataclasses.replace(auto_exchange, seconds=0)
