"""Multi-fidelity control: which trial runs next, and how far."""

from hpo.schedulers.asha import Asha, reopened_by_extension
from hpo.schedulers.base import (
    Job,
    NewTrial,
    Promote,
    ReportDecision,
    Resume,
    Scheduler,
    StudyFinished,
    WaitForResults,
)
from hpo.schedulers.rungs import hyperband_brackets, rung_levels

__all__ = [
    "Asha",
    "Job",
    "NewTrial",
    "Promote",
    "ReportDecision",
    "Resume",
    "Scheduler",
    "StudyFinished",
    "WaitForResults",
    "hyperband_brackets",
    "reopened_by_extension",
    "rung_levels",
]
