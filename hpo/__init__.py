"""hpo: a hyperparameter-optimization service.

The light core (this package without ``hpo.storage`` and the coordinator)
is what training code and workers import.
"""

from hpo.client import BestTrial, Client, Decision, Study, Trial
from hpo.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    HpoError,
    InvalidArgumentError,
    NotFoundError,
)
from hpo.records import TrialRecord
from hpo.space import Categorical, Float, Int, Space
from hpo.spec import StudySpec
from hpo.trial_api import TrialContext, current_trial, report

__version__ = "0.1.0"

__all__ = [
    "AlreadyExistsError",
    "BestTrial",
    "Categorical",
    "Client",
    "Decision",
    "FailedPreconditionError",
    "Float",
    "HpoError",
    "Int",
    "InvalidArgumentError",
    "NotFoundError",
    "Space",
    "Study",
    "StudySpec",
    "Trial",
    "TrialContext",
    "TrialRecord",
    "current_trial",
    "report",
]
