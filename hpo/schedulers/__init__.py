"""Multi-fidelity control: which trial runs next, and how far."""

from hpo.schedulers.asha import (
    Asha,
    Job,
    NewTrial,
    Promote,
    ReportDecision,
    Resume,
    StudyFinished,
    WaitForResults,
    make_scheduler,
    reopened_by_extension,
)
from hpo.schedulers.rungs import hyperband_brackets, rung_levels

__all__ = [
    "Asha",
    "Job",
    "NewTrial",
    "Promote",
    "ReportDecision",
    "Resume",
    "StudyFinished",
    "WaitForResults",
    "hyperband_brackets",
    "make_scheduler",
    "reopened_by_extension",
    "rung_levels",
]
