"""Ask an OpenAI-compatible chat endpoint for promising configurations of a search space.

The LLM warm start (zero-shot, as in LLAMBO) describes the study in words and
asks for K diverse, promising configurations. Any server that speaks the
chat-completions API will do: vLLM, Ollama, a llama.cpp server, a hosted API.

Two facts about real servers shape this module:

* Servers disagree on how to constrain an answer to a JSON schema. vLLM and
  hosted APIs take OpenAI's ``{"type": "json_schema", ...}``; llama.cpp's
  Python server answers that with HTTP 500 and wants ``{"type":
  "json_object", "schema": ...}``. ``response_format="auto"`` tries the first
  and falls back to the second.
* Grammars built from a schema do not enforce ``minimum``/``maximum``, so each
  numeric parameter is offered as an ``enum`` grid of in-range values; and
  whatever the schema, every answer is validated and repaired here
  (:func:`parse_answer`), because a model, or a server that ignores the
  schema, can send anything.

:func:`ask` never raises for endpoint or answer problems: a warm start is an
optional help, so a dead endpoint or a rambling model becomes an
:class:`LLMExchange` with ``error`` set or items in ``rejected``, logged, and
the study goes on without it. The ``openai`` package is imported inside
:func:`ask` only, so the spec and a worker's light install do not need it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hpo.errors import InvalidArgumentError
from hpo.priors.llm_settings import RESPONSE_FORMATS, LLMSettings
from hpo.space import Categorical, Config, Float, Int, Parameter, ParamValue, Space

if TYPE_CHECKING:
    import openai

logger = logging.getLogger(__name__)

# Grid sizes: enough values to tell regions apart, few enough for a small model's grammar.
LINEAR_GRID_POINTS = 11
LOG_GRID_POINTS = 13
# An int range with at most this many values is offered whole.
MAX_WHOLE_INT_VALUES = 17
SIGNIFICANT_DIGITS = 3
# Stands in for the key of local servers, which need none (the client insists on one).
PLACEHOLDER_API_KEY = "not-needed"
# Tokens beyond the configurations themselves: the wrapping object, a model's stray spaces.
ANSWER_TOKEN_SLACK = 64
MAX_ERROR_LENGTH = 500
SYSTEM_MESSAGE = (
    "You are an expert in machine learning and hyperparameter optimization. "
    "Answer only with one JSON object, without prose, comments or code fences."
)


@dataclass(frozen=True)
class TaskDescription:
    """What the study optimises, in the words the model reads."""

    description: str
    metric: str
    direction: str
    resource_name: str
    r_min: float
    r_max: float


@dataclass
class LLMExchange:
    """One question and its answer, kept whole so a warm start can be traced and replayed."""

    base_url: str
    model: str
    messages: list[dict[str, str]]
    response_format: dict[str, Any] | None
    prompt_hash: str
    raw_answer: str | None
    accepted: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0


# ---------------------------------------------------------------- the question


def build_messages(space: Space, task: TaskDescription, n_configs: int) -> list[dict[str, str]]:
    """The chat messages asking for ``n_configs`` configurations of ``space`` for ``task``."""
    return [
        {"role": "system", "content": SYSTEM_MESSAGE},
        {"role": "user", "content": _user_prompt(space, task, n_configs)},
    ]


def _user_prompt(space: Space, task: TaskDescription, n_configs: int) -> str:
    better = "lower" if task.direction == "minimize" else "higher"
    example = ", ".join(f'"{name}": ...' for name in space)
    lines = [
        "We are tuning the hyperparameters of a machine learning model.",
        f"Task: {task.description.strip() or '(no description given)'}",
        f'Objective: {task.direction} the metric "{task.metric}" ({better} is better).',
        f'Training budget: the resource "{task.resource_name}" goes from {_number(task.r_min)} '
        f"to {_number(task.r_max)}; promising configurations are trained up to "
        f"{_number(task.r_max)}, so prefer configurations that do well with the full budget.",
        "",
        "Hyperparameters:",
        *(_describe_parameter(name, parameter) for name, parameter in space.items()),
        "",
        f"Propose {n_configs} diverse, promising configurations. Each sets every "
        "hyperparameter above to a value inside its range. Base them on what usually works "
        "for this kind of task, and spread them over different plausible regions instead of "
        "repeating one guess.",
        f'Answer with a JSON object {{"configurations": [{{{example}}}, ...]}} holding '
        f"exactly {n_configs} configurations.",
    ]
    return "\n".join(lines)


def _describe_parameter(name: str, parameter: Parameter) -> str:
    if isinstance(parameter, Categorical):
        choices = ", ".join(json.dumps(choice) for choice in parameter.choices)
        return f"- {name}: one of {choices}"
    kind = "an integer" if isinstance(parameter, Int) else "a real number"
    scale = ", on a log scale (think in orders of magnitude)" if parameter.log else ""
    return f"- {name}: {kind} from {_number(parameter.low)} to {_number(parameter.high)}{scale}"


def _number(value: float) -> str:
    """A bound as the model should read it: ``1e-05``, ``0.1``, ``64``, never ``64.0``."""
    number = float(value)
    return str(int(number)) if number.is_integer() else json.dumps(number)


def answer_schema(space: Space, n_configs: int) -> dict[str, Any]:
    """The JSON schema of an answer: exactly ``n_configs`` full configurations.

    Numeric parameters are ``enum`` grids, not ``minimum``/``maximum``: the
    grammars servers build from a schema ignore numeric bounds, and a grid also
    keeps a small model from inventing long, meaningless digits.
    """
    item = {
        "type": "object",
        "properties": {name: _parameter_schema(parameter) for name, parameter in space.items()},
        "required": list(space),
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "configurations": {
                "type": "array",
                "minItems": n_configs,
                "maxItems": n_configs,
                "items": item,
            }
        },
        "required": ["configurations"],
    }


def _parameter_schema(parameter: Parameter) -> dict[str, Any]:
    if isinstance(parameter, Categorical):
        return {"enum": list(parameter.choices)}
    return {"enum": numeric_grid(parameter)}


def numeric_grid(parameter: Float | Int) -> list[Any]:
    """In-range values offered for a numeric parameter, evenly (or log-evenly) spaced.

    Inner values are rounded so the model reads ``0.001`` rather than
    ``0.0010000000000000002``, and clamped so that rounding never leaves the
    bounds: every value offered is valid.
    """
    low, high = parameter.low, parameter.high
    if isinstance(parameter, Int) and high - low + 1 <= MAX_WHOLE_INT_VALUES:
        return list(range(int(low), int(high) + 1))
    if parameter.log:
        rounded = _log_grid(float(low), float(high))
    else:
        rounded = _linear_grid(float(low), float(high))
    # The bounds themselves are offered exactly: rounding must not narrow the range.
    rounded = [float(low), *rounded[1:-1], float(high)]
    if isinstance(parameter, Int):
        return sorted({min(max(round(x), int(low)), int(high)) for x in rounded})
    return sorted({min(max(x, float(low)), float(high)) for x in rounded})


def _log_grid(low: float, high: float) -> list[float]:
    """Log-spaced points with as few significant digits as keep them apart."""
    points = np.geomspace(low, high, LOG_GRID_POINTS)
    for digits in range(SIGNIFICANT_DIGITS, 17):
        rounded = [float(f"{x:.{digits}g}") for x in points]
        if len(set(rounded)) == len(rounded):
            break
    return rounded


def _linear_grid(low: float, high: float) -> list[float]:
    """Evenly spaced points rounded to the range's scale: [-2, 2] holds 0.0, not 4.4e-16."""
    decimals = SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(high - low))
    return [round(float(x), decimals) for x in np.linspace(low, high, LINEAR_GRID_POINTS)]


def prompt_hash(model: str, messages: Sequence[Mapping[str, str]], schema: Any) -> str:
    """The replay key of a question: the same model asked the same thing under the same schema.

    It leaves out the endpoint, the key and the timing on purpose: the same
    model served elsewhere gives an answer that can stand in for this one.
    """
    canonical = json.dumps(
        {"model": model, "messages": list(messages), "schema": schema},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- the answer


class _Rejected(Exception):
    """An answer item that cannot be repaired; the message is the reason stored with it."""


def parse_answer(
    space: Space, raw: str, n_configs: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Valid, distinct configurations from a model's text, and the items dropped with reasons.

    Never raises: whatever a model sends ends up in one of the two lists.
    Repairs what a model plausibly means (JSON inside prose or fences, a bare
    list, numbers as strings, values just past a bound, floats for ints) and
    rejects what has no safe reading (a missing parameter, an unknown choice).
    """
    try:
        items = _answer_items(space, _first_json_value(raw))
    except _Rejected as error:
        logger.warning("LLM answer rejected: %s", error)
        return [], [{"item": raw, "reason": str(error)}]
    accepted: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        try:
            config = _repair_item(space, item, f"configurations[{index}]")
            key = json.dumps(config, sort_keys=True)
            if key in seen:
                raise _Rejected("duplicate")
            if len(accepted) == n_configs:
                raise _Rejected(f"beyond the {n_configs} configurations asked for")
        except _Rejected as error:
            logger.warning("LLM answer: configurations[%d] rejected: %s", index, error)
            rejected.append({"item": item, "reason": str(error)})
            continue
        seen.add(key)
        accepted.append(config)
    return accepted, rejected


def _first_json_value(raw: str) -> Any:
    """The answer's JSON value, or the first one found in prose or code fences around it."""
    if not isinstance(raw, str):
        raise _Rejected(f"the answer is not text: {raw!r}")
    # RecursionError: a model can nest brackets deeper than the decoder's stack.
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        pass
    decoder = json.JSONDecoder()
    for start, char in enumerate(raw):
        if char in "{[":
            try:
                value, _ = decoder.raw_decode(raw, start)
            except (ValueError, RecursionError):
                continue
            logger.warning("LLM answer: took the JSON value at character %d out of the text", start)
            return value
    raise _Rejected("the answer is not JSON")


def _answer_items(space: Space, value: Any) -> list[Any]:
    if isinstance(value, Mapping) and isinstance(value.get("configurations"), list):
        return list(value["configurations"])
    if isinstance(value, list):
        logger.warning("LLM answer: a bare list instead of {'configurations': [...]}; taken")
        return value
    if isinstance(value, Mapping) and set(value) & set(space):
        logger.warning("LLM answer: a single configuration instead of a list; taken")
        return [value]
    raise _Rejected("the answer holds no 'configurations' list")


def _repair_item(space: Space, item: Any, where: str) -> Config:
    if not isinstance(item, Mapping):
        raise _Rejected(f"not an object: {item!r}")
    for name in item:
        if name not in space:
            logger.warning("LLM answer: %s: dropped unknown parameter %r", where, name)
    missing = [name for name in space if name not in item]
    if missing:
        raise _Rejected(f"missing parameter {missing[0]!r}")
    repaired = {
        name: _repair_value(parameter, item[name], f"{where}.{name}")
        for name, parameter in space.items()
    }
    try:
        return space.validate(repaired, where)
    except InvalidArgumentError as error:
        raise _Rejected(str(error)) from error


def _repair_value(parameter: Parameter, value: Any, where: str) -> ParamValue:
    if isinstance(parameter, Categorical):
        return _repair_choice(parameter, value, where)
    number = _as_number(value, where)
    low, high = parameter.low, parameter.high
    if number < low or number > high:
        clipped = min(max(number, low), high)
        logger.warning(
            "LLM answer: %s: %r is outside [%s, %s]; clipped to %s",
            where,
            value,
            low,
            high,
            clipped,
        )
        number = clipped
    if isinstance(parameter, Int):
        if not float(number).is_integer():
            logger.warning("LLM answer: %s: %r rounded to an integer", where, value)
        return int(round(number))
    return float(number)


def _as_number(value: Any, where: str) -> float:
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise _Rejected(f"{where}: {value!r} is not a number") from None
        logger.warning("LLM answer: %s: the number %r was sent as a string", where, value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an int of hundreds of digits
            raise _Rejected(f"{where}: {value!r} is not a finite number") from None
    else:
        raise _Rejected(f"{where}: {value!r} is not a number")
    if not math.isfinite(number):
        raise _Rejected(f"{where}: {value!r} is not a finite number")
    return number


def _repair_choice(parameter: Categorical, value: Any, where: str) -> ParamValue:
    try:
        return parameter.validate(where, value)
    except InvalidArgumentError:
        pass
    for choice in parameter.choices:
        if _means(value, choice):
            logger.warning("LLM answer: %s: %r taken as the choice %r", where, value, choice)
            return choice
    raise _Rejected(f"{where}: {value!r} is not one of {list(parameter.choices)!r}")


def _means(value: Any, choice: ParamValue) -> bool:
    """Whether ``value`` plainly means ``choice``: "64" or 64.0 for 64, "true" for true."""
    if isinstance(value, str):
        return value.strip() == json.dumps(choice)
    numbers = (int, float)
    return (
        isinstance(value, numbers)
        and isinstance(choice, numbers)
        and not isinstance(value, bool)
        and not isinstance(choice, bool)
        and value == choice
    )


# ---------------------------------------------------------------- the request


def new_exchange(settings: LLMSettings, space: Space, task: TaskDescription) -> LLMExchange:
    """The question ``settings`` ask about ``space`` and ``task``, not answered yet."""
    messages = build_messages(space, task, settings.n_configs)
    return LLMExchange(
        base_url=settings.base_url,
        model=settings.model,
        messages=messages,
        response_format=None,
        prompt_hash=prompt_hash(settings.model, messages, answer_schema(space, settings.n_configs)),
        raw_answer=None,
    )


def ask(settings: LLMSettings, space: Space, task: TaskDescription) -> LLMExchange:
    """Ask the endpoint once (with the client's retries) and keep the whole exchange.

    An unreachable endpoint, a timeout or an HTTP error gives an exchange with
    ``error`` set and a WARNING in the log, never an exception: the study goes
    on without its warm start.
    """
    started = time.perf_counter()
    exchange = new_exchange(settings, space, task)
    formats = _formats_to_try(settings.response_format, answer_schema(space, settings.n_configs))
    if importlib.util.find_spec("openai") is None:
        exchange.error = "the openai package is not installed (pip install openai)"
    else:
        _converse(settings, space, exchange, formats)
    if exchange.error is not None:
        logger.warning("LLM warm start failed: %s", exchange.error)
    exchange.seconds = time.perf_counter() - started
    return exchange


def _formats_to_try(setting: str, schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``response_format`` values to send, in order, for a ``response_format`` setting."""
    json_schema = {
        "type": "json_schema",
        "json_schema": {"name": "configurations", "schema": schema},
    }
    json_object = {"type": "json_object", "schema": schema}
    by_setting = {
        "json_schema": [json_schema],
        "json_object": [json_object],
        "auto": [json_schema, json_object],
    }
    if setting not in by_setting:
        raise ValueError(f"response_format must be one of {RESPONSE_FORMATS}, got {setting!r}")
    return by_setting[setting]


def _converse(
    settings: LLMSettings, space: Space, exchange: LLMExchange, formats: list[dict[str, Any]]
) -> None:
    """Send the question and fill in ``exchange``'s answer, or its error."""
    import openai

    client = openai.OpenAI(
        base_url=settings.base_url,
        api_key=os.environ.get(settings.api_key_env) or PLACEHOLDER_API_KEY,
        timeout=settings.timeout_seconds,
        max_retries=settings.retries,
    )
    max_tokens = _max_tokens(space, settings.n_configs)
    try:
        with client:
            raw = _send(client, settings, exchange, formats, max_tokens)
    except openai.OpenAIError as error:
        exchange.error = _describe_error(settings, error)
        return
    if raw is None:
        exchange.error = f"LLM endpoint {settings.base_url} answered without any message text"
        return
    exchange.raw_answer = raw
    exchange.accepted, exchange.rejected = parse_answer(space, raw, settings.n_configs)


def _send(
    client: openai.OpenAI,
    settings: LLMSettings,
    exchange: LLMExchange,
    formats: list[dict[str, Any]],
    max_tokens: int,
) -> str | None:
    """The answer's text, trying each format in turn while the server refuses with a status.

    Only an HTTP status moves on to the next format: a server that is down or
    slow would be as down or slow for the next one.
    """
    import openai

    for response_format in formats[:-1]:
        exchange.response_format = response_format
        try:
            return _complete(client, settings, exchange.messages, response_format, max_tokens)
        except openai.APIStatusError as error:
            logger.warning(
                "LLM endpoint %s refused response_format %s (HTTP %s); trying %s",
                settings.base_url,
                response_format["type"],
                error.status_code,
                formats[-1]["type"],
            )
    exchange.response_format = formats[-1]
    return _complete(client, settings, exchange.messages, formats[-1], max_tokens)


def _complete(
    client: openai.OpenAI,
    settings: LLMSettings,
    messages: list[dict[str, str]],
    response_format: dict[str, Any],
    max_tokens: int,
) -> str | None:
    # response_format travels in extra_body: the typed parameter knows only OpenAI's own
    # formats, not llama.cpp's json_object with a schema.
    completion = client.chat.completions.create(
        model=settings.model,
        messages=messages,  # type: ignore[arg-type]
        temperature=settings.temperature,
        seed=settings.seed,
        max_tokens=max_tokens,
        extra_body={"response_format": response_format},
    )
    if not completion.choices:
        return None
    return completion.choices[0].message.content


def _max_tokens(space: Space, n_configs: int) -> int:
    """Room for ``n_configs`` configurations written out at length, one token per character.

    Generous on purpose: an answer cut short is lost whole, while the limit
    only has to stay inside the server's context.
    """
    longest = sum(
        len(name) + max(len(json.dumps(value)) for value in _parameter_schema(parameter)["enum"])
        for name, parameter in space.items()
    )
    # Per parameter: quotes, colon, comma and indentation; per configuration: braces, newlines.
    per_config = longest + 12 * len(space) + 8
    return ANSWER_TOKEN_SLACK + n_configs * per_config


def _describe_error(settings: LLMSettings, error: Exception) -> str:
    """One line saying what went wrong with the endpoint, for the log and the stored exchange."""
    import openai

    url = settings.base_url
    tries = f" (after {settings.retries + 1} tries)" if settings.retries else ""
    if isinstance(error, openai.APITimeoutError):
        message = f"LLM endpoint {url} timed out after {settings.timeout_seconds:g} s{tries}"
    elif isinstance(error, openai.APIConnectionError):
        message = f"LLM endpoint {url} unreachable: {error.__cause__ or error}{tries}"
    elif isinstance(error, openai.APIStatusError):
        detail = _status_detail(error)
        message = f"LLM endpoint {url} answered HTTP {error.status_code}" + (
            f": {detail}" if detail else ""
        )
    else:
        message = f"LLM endpoint {url} failed: {error}"
    return " ".join(message.split())[:MAX_ERROR_LENGTH]


def _status_detail(error: openai.APIStatusError) -> str:
    """The server's own words in a status error, without the client's ``Error code: 500 - ``."""
    return error.message.removeprefix(f"Error code: {error.status_code}").removeprefix(" - ")
