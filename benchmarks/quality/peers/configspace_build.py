"""The protocol's space as a ConfigSpace ``ConfigurationSpace``, for the runners whose library
uses ConfigSpace (SMAC, DEHB). Standard library, ConfigSpace and the sibling protocol module
only: it runs in a peer environment."""

from __future__ import annotations

from typing import Any

from ConfigSpace import Categorical, ConfigurationSpace, Float, Integer
from protocol import CATEGORICAL, FLOAT, INT, choice_labels


def build_configspace(
    space: list[dict[str, Any]], seed: int
) -> tuple[ConfigurationSpace, dict[str, list[str]]]:
    """The configuration space, and each categorical's string labels (ConfigSpace wants
    strings; :func:`protocol.wire_config` maps a label back to its choice's index)."""
    labels: dict[str, list[str]] = {}
    configspace = ConfigurationSpace(seed=seed)
    for parameter in space:
        name, kind = parameter["name"], parameter["kind"]
        bounds = (parameter.get("low"), parameter.get("high"))
        if kind == FLOAT:
            configspace.add(Float(name, bounds, log=parameter["log"]))
        elif kind == INT:
            configspace.add(Integer(name, bounds, log=parameter["log"]))
        else:
            assert kind == CATEGORICAL, kind
            labels[name] = choice_labels(parameter["choices"])
            configspace.add(Categorical(name, labels[name]))
    return configspace, labels
