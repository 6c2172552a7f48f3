"""Trainer callbacks that report to hpo: :mod:`hpo.integrations.lightning` (PyTorch Lightning)
and :mod:`hpo.integrations.transformers` (Hugging Face ``Trainer``); see docs/integrations.md.

Each module imports its framework at the top, so import the one you use; nothing else in hpo
imports them, and a worker needs neither framework (extras ``hpo[lightning]`` and
``hpo[transformers]``).
"""
