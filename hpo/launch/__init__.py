"""Launchers: start ``hpo worker`` daemons for a study on an engine the user already runs.

``hpo launch ray`` runs each worker as a Ray task, ``hpo launch slurm`` as a task of an
``sbatch`` job array; ``deploy/kubernetes/`` holds the manifests for Kubernetes, where the
workers are an Indexed Job (docs/clusters.md). A launcher only starts the unchanged worker
daemon (``python -m hpo worker``) where the engine gives it GPUs: the trial loop, the pinning
and the failure handling stay in :mod:`hpo.workers`. The engine's GPU assignment reaches the
trials through ``CUDA_VISIBLE_DEVICES``, which Ray and Slurm both set for the process they
start, so a launcher never passes ``--gpus`` (whose ids would be the node's, not the ones the
engine granted).

This package imports neither Ray nor Slurm tooling at import time: ``hpo.cli`` loads it for
every command, and the light core must not need Ray.
"""
