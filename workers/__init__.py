"""The worker daemon (installed as ``hpo.workers``): claims trials, runs them, streams reports.

It depends only on the client and the wire contract, so a GPU node needs just
the light ``hpo`` core.
"""

from hpo.workers.daemon import Worker, WorkerSummary

__all__ = ["Worker", "WorkerSummary"]
