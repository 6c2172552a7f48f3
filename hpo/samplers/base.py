"""What every sampler offers the service: a configuration for a new trial, and its provenance."""

from __future__ import annotations

from typing import Protocol

from hpo.space import Config
from hpo.state import StudyState


class Sampler(Protocol):
    def propose(self, state: StudyState, number: int) -> tuple[Config, str]:
        """The configuration of new trial ``number`` and where it came from (``source``)."""
        ...
