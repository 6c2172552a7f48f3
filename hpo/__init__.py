"""hpo: a hyperparameter-optimization service."""
