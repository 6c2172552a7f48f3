"""hpo: a hyperparameter-optimization service.

The light core (this package without ``hpo.storage`` and the coordinator)
is what training code and workers import.
"""

from hpo.aio_client import AsyncClient, AsyncStudy, AsyncTrial
from hpo.client import (
    BestTrial,
    Client,
    Decision,
    DecisionAction,
    Finished,
    ParetoTrial,
    Study,
    Trial,
    Wait,
)
from hpo.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    HpoError,
    InvalidArgumentError,
    NotFoundError,
)
from hpo.outcomes import Constraint, Cost, Objective
from hpo.records import TrialRecord
from hpo.space import Categorical, Float, Int, Space
from hpo.spec import StudySpec
from hpo.trial_api import TrialContext, current_trial, report

__version__ = "0.1.0"

__all__ = [
    "AlreadyExistsError",
    "AsyncClient",
    "AsyncStudy",
    "AsyncTrial",
    "BestTrial",
    "Categorical",
    "Client",
    "Constraint",
    "Cost",
    "Decision",
    "DecisionAction",
    "FailedPreconditionError",
    "Finished",
    "Float",
    "HpoError",
    "Int",
    "InvalidArgumentError",
    "NotFoundError",
    "Objective",
    "ParetoTrial",
    "Space",
    "Study",
    "StudySpec",
    "Trial",
    "TrialContext",
    "TrialRecord",
    "Wait",
    "current_trial",
    "report",
]
