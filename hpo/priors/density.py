"""A prior over a search space: weighted components around believed-good configurations.

A component is a configuration (possibly partial: the parameters it leaves out
are uniform) and a confidence. In the unit cube (:meth:`hpo.space.Space.to_unit`,
so log parameters are spread on a log scale) a numeric parameter follows a
normal centred on the component's value and truncated to [0, 1], whose spread
the confidence sets; a categorical parameter keeps the component's choice with a
probability the confidence sets and spreads the rest evenly. The prior is the
weighted mixture of its components: a user's point with "high" confidence is
one sharp component, ten LLM proposals are ten components of a tenth of the
weight each.

The prior can be sampled (PriorBand's prior draws) and its log density taken at
unit-cube points (πBO's acquisition weight); both are plain numpy (no scipy: the
client imports this module on GPU nodes, which install only the light core), so
a prior travels to the model process with the rest of a fit's data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hpo.priors.sources import Confidence
from hpo.space import Categorical, Config, ParamValue, Space
from hpo.vocabulary import Source

# Standard deviation of a numeric parameter around the component's value, in unit-cube units.
SPREAD = {Confidence.LOW: 0.25, Confidence.MEDIUM: 0.12, Confidence.HIGH: 0.05}
# How much of the probability a categorical choice takes beyond its uniform share 1/k.
CHOICE_STRENGTH = {Confidence.LOW: 0.25, Confidence.MEDIUM: 0.5, Confidence.HIGH: 0.8}


@dataclass(frozen=True)
class Component:
    """One mode of a prior: ``center`` (parameters it omits are uniform), its width and
    weight, and the provenance its draws carry (``prior``, ``llm``, ``transfer``...)."""

    center: Mapping[str, ParamValue]
    spread: float
    choice_strength: float
    weight: float
    source: str

    @classmethod
    def around(
        cls,
        center: Mapping[str, ParamValue],
        confidence: Confidence,
        weight: float,
        source: str,
    ) -> Component:
        return cls(center, SPREAD[confidence], CHOICE_STRENGTH[confidence], weight, source)


@dataclass(frozen=True)
class _Numeric:
    offset: int
    center: float | None  # None: uniform


@dataclass(frozen=True)
class _Choice:
    offset: int
    size: int
    chosen: int | None  # None: uniform


class Prior:
    """A mixture of :class:`Component` over ``space``; weights are normalised here."""

    def __init__(self, space: Space, components: Sequence[Component]) -> None:
        if not components:
            raise ValueError("a prior needs at least one component")
        self.space = space
        self.components = tuple(components)
        weights = np.array([component.weight for component in components], dtype=float)
        self.weights = weights / weights.sum()
        self._parts = [self._layout(component) for component in components]

    def with_uniform(self, share: float) -> Prior:
        """This prior mixed with the uniform distribution, which takes ``share`` of the weight:
        its log density is then at least ``log(share)`` everywhere, so a wrong prior can only
        cost a bounded penalty wherever it is evaluated."""
        total = float(sum(component.weight for component in self.components))
        uniform = Component({}, 1.0, 0.0, total * share / (1.0 - share), Source.RANDOM)
        return Prior(self.space, [*self.components, uniform])

    def _layout(self, component: Component) -> list[_Numeric | _Choice]:
        """Where each parameter of the component sits in the unit cube, and its centre there."""
        parts: list[_Numeric | _Choice] = []
        offset = 0
        for name, parameter in self.space.items():
            value = component.center.get(name)
            if isinstance(parameter, Categorical):
                chosen = (
                    None if name not in component.center else parameter.encode(value).index(1.0)
                )
                parts.append(_Choice(offset, parameter.dims, chosen))
            else:
                center = None if value is None else parameter.encode(value)[0]
                parts.append(_Numeric(offset, center))
            offset += parameter.dims
        return parts

    def log_density(self, units: np.ndarray) -> np.ndarray:
        """The prior's log density at each row of ``units`` (n, dims): numeric coordinates
        as a density on [0, 1], categorical blocks as the probability of their argmax."""
        units = np.atleast_2d(np.asarray(units, dtype=float))
        per_component = np.stack(
            [
                self._component_log_density(component, parts, units)
                for component, parts in zip(self.components, self._parts, strict=True)
            ]
        )
        weighted = per_component + np.log(self.weights)[:, None]
        top = weighted.max(axis=0)
        return top + np.log(np.exp(weighted - top).sum(axis=0))

    @staticmethod
    def _component_log_density(
        component: Component, parts: list[_Numeric | _Choice], units: np.ndarray
    ) -> np.ndarray:
        total = np.zeros(len(units))
        for part in parts:
            if isinstance(part, _Choice):
                chosen = units[:, part.offset : part.offset + part.size].argmax(axis=1)
                total += np.log(_choice_probabilities(part, component.choice_strength)[chosen])
            elif part.center is not None:
                total += _truncated_log_pdf(units[:, part.offset], part.center, component.spread)
        return total

    def sample(self, rng: np.random.Generator) -> tuple[Config, str]:
        """A configuration drawn from the mixture, and the source of the component it came from."""
        index = int(rng.choice(len(self.components), p=self.weights))
        component = self.components[index]
        unit = np.empty(self.space.dims)
        for part in self._parts[index]:
            if isinstance(part, _Choice):
                probabilities = _choice_probabilities(part, component.choice_strength)
                block = np.zeros(part.size)
                block[rng.choice(part.size, p=probabilities)] = 1.0
                unit[part.offset : part.offset + part.size] = block
            elif part.center is None:
                unit[part.offset] = rng.random()
            else:
                unit[part.offset] = _truncated_draw(part.center, component.spread, rng)
        return self.space.from_unit(unit), component.source


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _truncated_log_pdf(units: np.ndarray, center: float, spread: float) -> np.ndarray:
    """Log density on [0, 1] of a normal around ``center`` truncated to [0, 1]."""
    mass = _normal_cdf((1.0 - center) / spread) - _normal_cdf(-center / spread)
    z = (units - center) / spread
    return -0.5 * z**2 - math.log(spread * math.sqrt(2.0 * math.pi) * mass)


def _truncated_draw(center: float, spread: float, rng: np.random.Generator) -> float:
    """A draw of that truncated normal, by rejection: with the centre inside [0, 1] and a
    spread of at most 0.25, at least about half the draws land inside."""
    while True:
        draw = rng.normal(center, spread)
        if 0.0 <= draw <= 1.0:
            return float(draw)


def _choice_probabilities(part: _Choice, strength: float) -> np.ndarray:
    uniform = np.full(part.size, 1.0 / part.size)
    if part.chosen is None:
        return uniform
    probabilities = uniform * (1.0 - strength)
    probabilities[part.chosen] += strength
    return probabilities


def config_components(
    configs: Sequence[Config], confidence: Confidence, weight: float, source: str
) -> list[Component]:
    """A list of configurations as components sharing ``weight`` equally."""
    return [
        Component.around(config, confidence, weight / len(configs), source) for config in configs
    ]
