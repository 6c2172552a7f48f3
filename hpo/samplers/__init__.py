"""Where new configurations come from."""

from hpo.samplers.base import Sampler
from hpo.samplers.gp import GPSampler, InlineModels, ModelSource
from hpo.samplers.random import RandomSampler
from hpo.spec import StudySpec


def make_sampler(spec: StudySpec, models: ModelSource) -> Sampler:
    """The sampler a study's algorithm names: the GP sampler (random until the model has
    data) for gp-hyperband, uniform random sampling for the others."""
    if spec.algorithm.uses_model:
        return GPSampler(models, RandomSampler())
    return RandomSampler()


__all__ = ["GPSampler", "InlineModels", "ModelSource", "RandomSampler", "Sampler", "make_sampler"]
