"""Where new configurations come from."""

from hpo.samplers.random import RandomSampler, make_sampler

__all__ = ["RandomSampler", "make_sampler"]
