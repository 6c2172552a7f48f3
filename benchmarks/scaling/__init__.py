"""The real-family acceptance benchmark of hyperparameter scaling laws (docs/scaling.md).

A one-hidden-layer MLP trained with SGD on scikit-learn's digits at four widths: a family of
studies tunes its learning rate at the three smaller widths over the real coordinator, the
family's laws propose a learning rate at the largest width, and the benchmark checks that
proposal against the largest width's measured near-optimal plateau, and a study warm-started
from it against a cold one. ``python -m benchmarks.scaling`` runs it; README.md has the
commands, the definitions and the results.
"""
