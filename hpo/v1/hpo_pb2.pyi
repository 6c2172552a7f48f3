import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Direction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIRECTION_UNSPECIFIED: _ClassVar[Direction]
    MINIMIZE: _ClassVar[Direction]
    MAXIMIZE: _ClassVar[Direction]

class ConstraintOp(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSTRAINT_OP_UNSPECIFIED: _ClassVar[ConstraintOp]
    AT_MOST: _ClassVar[ConstraintOp]
    AT_LEAST: _ClassVar[ConstraintOp]

class CostSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COST_SOURCE_UNSPECIFIED: _ClassVar[CostSource]
    COST_METRIC: _ClassVar[CostSource]
    COST_WALL_TIME: _ClassVar[CostSource]
    COST_RESOURCE: _ClassVar[CostSource]

class Algorithm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALGORITHM_UNSPECIFIED: _ClassVar[Algorithm]
    RANDOM: _ClassVar[Algorithm]
    ASHA: _ClassVar[Algorithm]
    HYPERBAND: _ClassVar[Algorithm]
    GP_HYPERBAND: _ClassVar[Algorithm]

class BracketSplit(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BRACKET_SPLIT_UNSPECIFIED: _ClassVar[BracketSplit]
    HYPERBAND_SPLIT: _ClassVar[BracketSplit]
    LEARNED_SPLIT: _ClassVar[BracketSplit]

class DecisionBasis(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_BASIS_UNSPECIFIED: _ClassVar[DecisionBasis]
    RUNG_VALUE: _ClassVar[DecisionBasis]
    CURVE: _ClassVar[DecisionBasis]

class AshaMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ASHA_MODE_UNSPECIFIED: _ClassVar[AshaMode]
    PROMOTION: _ClassVar[AshaMode]
    STOPPING: _ClassVar[AshaMode]

class Confidence(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONFIDENCE_UNSPECIFIED: _ClassVar[Confidence]
    LOW: _ClassVar[Confidence]
    MEDIUM: _ClassVar[Confidence]
    HIGH: _ClassVar[Confidence]

class StudyState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STUDY_STATE_UNSPECIFIED: _ClassVar[StudyState]
    STUDY_RUNNING: _ClassVar[StudyState]
    STUDY_FINISHED: _ClassVar[StudyState]
    STUDY_STOPPED: _ClassVar[StudyState]

class TrialState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRIAL_STATE_UNSPECIFIED: _ClassVar[TrialState]
    TRIAL_RUNNING: _ClassVar[TrialState]
    TRIAL_PAUSED: _ClassVar[TrialState]
    TRIAL_COMPLETED: _ClassVar[TrialState]
    TRIAL_STOPPED: _ClassVar[TrialState]
    TRIAL_FAILED: _ClassVar[TrialState]
    TRIAL_PENDING: _ClassVar[TrialState]

class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTION_UNSPECIFIED: _ClassVar[Action]
    CONTINUE: _ClassVar[Action]
    STOP: _ClassVar[Action]

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_READER: _ClassVar[Role]
    ROLE_WORKER: _ClassVar[Role]
    ROLE_ADMIN: _ClassVar[Role]
DIRECTION_UNSPECIFIED: Direction
MINIMIZE: Direction
MAXIMIZE: Direction
CONSTRAINT_OP_UNSPECIFIED: ConstraintOp
AT_MOST: ConstraintOp
AT_LEAST: ConstraintOp
COST_SOURCE_UNSPECIFIED: CostSource
COST_METRIC: CostSource
COST_WALL_TIME: CostSource
COST_RESOURCE: CostSource
ALGORITHM_UNSPECIFIED: Algorithm
RANDOM: Algorithm
ASHA: Algorithm
HYPERBAND: Algorithm
GP_HYPERBAND: Algorithm
BRACKET_SPLIT_UNSPECIFIED: BracketSplit
HYPERBAND_SPLIT: BracketSplit
LEARNED_SPLIT: BracketSplit
DECISION_BASIS_UNSPECIFIED: DecisionBasis
RUNG_VALUE: DecisionBasis
CURVE: DecisionBasis
ASHA_MODE_UNSPECIFIED: AshaMode
PROMOTION: AshaMode
STOPPING: AshaMode
CONFIDENCE_UNSPECIFIED: Confidence
LOW: Confidence
MEDIUM: Confidence
HIGH: Confidence
STUDY_STATE_UNSPECIFIED: StudyState
STUDY_RUNNING: StudyState
STUDY_FINISHED: StudyState
STUDY_STOPPED: StudyState
TRIAL_STATE_UNSPECIFIED: TrialState
TRIAL_RUNNING: TrialState
TRIAL_PAUSED: TrialState
TRIAL_COMPLETED: TrialState
TRIAL_STOPPED: TrialState
TRIAL_FAILED: TrialState
TRIAL_PENDING: TrialState
ACTION_UNSPECIFIED: Action
CONTINUE: Action
STOP: Action
ROLE_UNSPECIFIED: Role
ROLE_READER: Role
ROLE_WORKER: Role
ROLE_ADMIN: Role

class Value(_message.Message):
    __slots__ = ("double_value", "int_value", "string_value", "bool_value")
    DOUBLE_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT_VALUE_FIELD_NUMBER: _ClassVar[int]
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    double_value: float
    int_value: int
    string_value: str
    bool_value: bool
    def __init__(self, double_value: _Optional[float] = ..., int_value: _Optional[int] = ..., string_value: _Optional[str] = ..., bool_value: _Optional[bool] = ...) -> None: ...

class FloatParameter(_message.Message):
    __slots__ = ("low", "high", "log")
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LOG_FIELD_NUMBER: _ClassVar[int]
    low: float
    high: float
    log: bool
    def __init__(self, low: _Optional[float] = ..., high: _Optional[float] = ..., log: _Optional[bool] = ...) -> None: ...

class IntParameter(_message.Message):
    __slots__ = ("low", "high", "log")
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LOG_FIELD_NUMBER: _ClassVar[int]
    low: int
    high: int
    log: bool
    def __init__(self, low: _Optional[int] = ..., high: _Optional[int] = ..., log: _Optional[bool] = ...) -> None: ...

class CategoricalParameter(_message.Message):
    __slots__ = ("choices",)
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    choices: _containers.RepeatedCompositeFieldContainer[Value]
    def __init__(self, choices: _Optional[_Iterable[_Union[Value, _Mapping]]] = ...) -> None: ...

class Parameter(_message.Message):
    __slots__ = ("name", "float", "int", "categorical")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FLOAT_FIELD_NUMBER: _ClassVar[int]
    INT_FIELD_NUMBER: _ClassVar[int]
    CATEGORICAL_FIELD_NUMBER: _ClassVar[int]
    name: str
    float: FloatParameter
    int: IntParameter
    categorical: CategoricalParameter
    def __init__(self, name: _Optional[str] = ..., float: _Optional[_Union[FloatParameter, _Mapping]] = ..., int: _Optional[_Union[IntParameter, _Mapping]] = ..., categorical: _Optional[_Union[CategoricalParameter, _Mapping]] = ...) -> None: ...

class SearchSpace(_message.Message):
    __slots__ = ("parameters",)
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    parameters: _containers.RepeatedCompositeFieldContainer[Parameter]
    def __init__(self, parameters: _Optional[_Iterable[_Union[Parameter, _Mapping]]] = ...) -> None: ...

class Objective(_message.Message):
    __slots__ = ("metric", "direction")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    metric: str
    direction: Direction
    def __init__(self, metric: _Optional[str] = ..., direction: _Optional[_Union[Direction, str]] = ...) -> None: ...

class Constraint(_message.Message):
    __slots__ = ("metric", "op", "bound")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    BOUND_FIELD_NUMBER: _ClassVar[int]
    metric: str
    op: ConstraintOp
    bound: float
    def __init__(self, metric: _Optional[str] = ..., op: _Optional[_Union[ConstraintOp, str]] = ..., bound: _Optional[float] = ...) -> None: ...

class Cost(_message.Message):
    __slots__ = ("metric", "source")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    metric: str
    source: CostSource
    def __init__(self, metric: _Optional[str] = ..., source: _Optional[_Union[CostSource, str]] = ...) -> None: ...

class Resource(_message.Message):
    __slots__ = ("name", "r_min", "r_max", "eta", "earlier_r_max")
    NAME_FIELD_NUMBER: _ClassVar[int]
    R_MIN_FIELD_NUMBER: _ClassVar[int]
    R_MAX_FIELD_NUMBER: _ClassVar[int]
    ETA_FIELD_NUMBER: _ClassVar[int]
    EARLIER_R_MAX_FIELD_NUMBER: _ClassVar[int]
    name: str
    r_min: float
    r_max: float
    eta: float
    earlier_r_max: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, name: _Optional[str] = ..., r_min: _Optional[float] = ..., r_max: _Optional[float] = ..., eta: _Optional[float] = ..., earlier_r_max: _Optional[_Iterable[float]] = ...) -> None: ...

class StudySpec(_message.Message):
    __slots__ = ("name", "description", "space", "objective", "resource", "algorithm", "asha_mode", "max_trials", "seed", "bracket_split", "deterministic", "priors", "enqueue", "objectives", "metrics", "constraints", "cost", "decision", "scale", "scale_parameters", "family")
    class ScaleEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SPACE_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    ASHA_MODE_FIELD_NUMBER: _ClassVar[int]
    MAX_TRIALS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    BRACKET_SPLIT_FIELD_NUMBER: _ClassVar[int]
    DETERMINISTIC_FIELD_NUMBER: _ClassVar[int]
    PRIORS_FIELD_NUMBER: _ClassVar[int]
    ENQUEUE_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVES_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    CONSTRAINTS_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    SCALE_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    space: SearchSpace
    objective: Objective
    resource: Resource
    algorithm: Algorithm
    asha_mode: AshaMode
    max_trials: int
    seed: int
    bracket_split: BracketSplit
    deterministic: bool
    priors: _containers.RepeatedCompositeFieldContainer[Prior]
    enqueue: _containers.RepeatedCompositeFieldContainer[Configuration]
    objectives: _containers.RepeatedCompositeFieldContainer[Objective]
    metrics: _containers.RepeatedScalarFieldContainer[str]
    constraints: _containers.RepeatedCompositeFieldContainer[Constraint]
    cost: Cost
    decision: DecisionBasis
    scale: _containers.ScalarMap[str, float]
    scale_parameters: _containers.RepeatedScalarFieldContainer[str]
    family: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., space: _Optional[_Union[SearchSpace, _Mapping]] = ..., objective: _Optional[_Union[Objective, _Mapping]] = ..., resource: _Optional[_Union[Resource, _Mapping]] = ..., algorithm: _Optional[_Union[Algorithm, str]] = ..., asha_mode: _Optional[_Union[AshaMode, str]] = ..., max_trials: _Optional[int] = ..., seed: _Optional[int] = ..., bracket_split: _Optional[_Union[BracketSplit, str]] = ..., deterministic: _Optional[bool] = ..., priors: _Optional[_Iterable[_Union[Prior, _Mapping]]] = ..., enqueue: _Optional[_Iterable[_Union[Configuration, _Mapping]]] = ..., objectives: _Optional[_Iterable[_Union[Objective, _Mapping]]] = ..., metrics: _Optional[_Iterable[str]] = ..., constraints: _Optional[_Iterable[_Union[Constraint, _Mapping]]] = ..., cost: _Optional[_Union[Cost, _Mapping]] = ..., decision: _Optional[_Union[DecisionBasis, str]] = ..., scale: _Optional[_Mapping[str, float]] = ..., scale_parameters: _Optional[_Iterable[str]] = ..., family: _Optional[str] = ...) -> None: ...

class Configuration(_message.Message):
    __slots__ = ("values",)
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.MessageMap[str, Value]
    def __init__(self, values: _Optional[_Mapping[str, Value]] = ...) -> None: ...

class PointPrior(_message.Message):
    __slots__ = ("config",)
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    config: Configuration
    def __init__(self, config: _Optional[_Union[Configuration, _Mapping]] = ...) -> None: ...

class ConfigsPrior(_message.Message):
    __slots__ = ("configs",)
    CONFIGS_FIELD_NUMBER: _ClassVar[int]
    configs: _containers.RepeatedCompositeFieldContainer[Configuration]
    def __init__(self, configs: _Optional[_Iterable[_Union[Configuration, _Mapping]]] = ...) -> None: ...

class LLMPrior(_message.Message):
    __slots__ = ("base_url", "model", "api_key_env", "n_configs", "timeout_seconds", "retries", "response_format", "temperature", "seed")
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    API_KEY_ENV_FIELD_NUMBER: _ClassVar[int]
    N_CONFIGS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FORMAT_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    base_url: str
    model: str
    api_key_env: str
    n_configs: int
    timeout_seconds: float
    retries: int
    response_format: str
    temperature: float
    seed: int
    def __init__(self, base_url: _Optional[str] = ..., model: _Optional[str] = ..., api_key_env: _Optional[str] = ..., n_configs: _Optional[int] = ..., timeout_seconds: _Optional[float] = ..., retries: _Optional[int] = ..., response_format: _Optional[str] = ..., temperature: _Optional[float] = ..., seed: _Optional[int] = ...) -> None: ...

class TransferPrior(_message.Message):
    __slots__ = ("studies", "top_k")
    STUDIES_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    studies: _containers.RepeatedScalarFieldContainer[str]
    top_k: int
    def __init__(self, studies: _Optional[_Iterable[str]] = ..., top_k: _Optional[int] = ...) -> None: ...

class ScalingPrior(_message.Message):
    __slots__ = ("family",)
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    family: str
    def __init__(self, family: _Optional[str] = ...) -> None: ...

class Prior(_message.Message):
    __slots__ = ("confidence", "weight", "point", "configs", "llm", "transfer", "scaling")
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    POINT_FIELD_NUMBER: _ClassVar[int]
    CONFIGS_FIELD_NUMBER: _ClassVar[int]
    LLM_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_FIELD_NUMBER: _ClassVar[int]
    SCALING_FIELD_NUMBER: _ClassVar[int]
    confidence: Confidence
    weight: float
    point: PointPrior
    configs: ConfigsPrior
    llm: LLMPrior
    transfer: TransferPrior
    scaling: ScalingPrior
    def __init__(self, confidence: _Optional[_Union[Confidence, str]] = ..., weight: _Optional[float] = ..., point: _Optional[_Union[PointPrior, _Mapping]] = ..., configs: _Optional[_Union[ConfigsPrior, _Mapping]] = ..., llm: _Optional[_Union[LLMPrior, _Mapping]] = ..., transfer: _Optional[_Union[TransferPrior, _Mapping]] = ..., scaling: _Optional[_Union[ScalingPrior, _Mapping]] = ...) -> None: ...

class TrialCounts(_message.Message):
    __slots__ = ("running", "paused", "completed", "stopped", "failed", "pending")
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    STOPPED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    running: int
    paused: int
    completed: int
    stopped: int
    failed: int
    pending: int
    def __init__(self, running: _Optional[int] = ..., paused: _Optional[int] = ..., completed: _Optional[int] = ..., stopped: _Optional[int] = ..., failed: _Optional[int] = ..., pending: _Optional[int] = ...) -> None: ...

class Study(_message.Message):
    __slots__ = ("id", "spec", "state", "created_at", "counts")
    ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    id: int
    spec: StudySpec
    state: StudyState
    created_at: _timestamp_pb2.Timestamp
    counts: TrialCounts
    def __init__(self, id: _Optional[int] = ..., spec: _Optional[_Union[StudySpec, _Mapping]] = ..., state: _Optional[_Union[StudyState, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., counts: _Optional[_Union[TrialCounts, _Mapping]] = ...) -> None: ...

class CreateStudyRequest(_message.Message):
    __slots__ = ("spec", "exist_ok", "request_id")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    EXIST_OK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    spec: StudySpec
    exist_ok: bool
    request_id: str
    def __init__(self, spec: _Optional[_Union[StudySpec, _Mapping]] = ..., exist_ok: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetStudyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ExtendStudyRequest(_message.Message):
    __slots__ = ("study", "r_max", "request_id")
    STUDY_FIELD_NUMBER: _ClassVar[int]
    R_MAX_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    study: str
    r_max: float
    request_id: str
    def __init__(self, study: _Optional[str] = ..., r_max: _Optional[float] = ..., request_id: _Optional[str] = ...) -> None: ...

class StopStudyRequest(_message.Message):
    __slots__ = ("study", "reason", "request_id")
    STUDY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    study: str
    reason: str
    request_id: str
    def __init__(self, study: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ListStudiesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListStudiesResponse(_message.Message):
    __slots__ = ("studies",)
    STUDIES_FIELD_NUMBER: _ClassVar[int]
    studies: _containers.RepeatedCompositeFieldContainer[Study]
    def __init__(self, studies: _Optional[_Iterable[_Union[Study, _Mapping]]] = ...) -> None: ...

class ReportRecord(_message.Message):
    __slots__ = ("resource", "value", "rung", "created_at", "metrics")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    RUNG_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    resource: float
    value: float
    rung: int
    created_at: _timestamp_pb2.Timestamp
    metrics: _containers.ScalarMap[str, float]
    def __init__(self, resource: _Optional[float] = ..., value: _Optional[float] = ..., rung: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metrics: _Optional[_Mapping[str, float]] = ...) -> None: ...

class Trial(_message.Message):
    __slots__ = ("id", "study", "number", "config", "state", "bracket", "rung", "target_resource", "last_resource", "last_value", "source", "worker_id", "fail_reason", "created_at", "updated_at", "reports", "retries", "last_metrics")
    class ConfigEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...
    class LastMetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    STUDY_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    BRACKET_FIELD_NUMBER: _ClassVar[int]
    RUNG_FIELD_NUMBER: _ClassVar[int]
    TARGET_RESOURCE_FIELD_NUMBER: _ClassVar[int]
    LAST_RESOURCE_FIELD_NUMBER: _ClassVar[int]
    LAST_VALUE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    FAIL_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    LAST_METRICS_FIELD_NUMBER: _ClassVar[int]
    id: int
    study: str
    number: int
    config: _containers.MessageMap[str, Value]
    state: TrialState
    bracket: int
    rung: int
    target_resource: float
    last_resource: float
    last_value: float
    source: str
    worker_id: str
    fail_reason: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    reports: _containers.RepeatedCompositeFieldContainer[ReportRecord]
    retries: int
    last_metrics: _containers.ScalarMap[str, float]
    def __init__(self, id: _Optional[int] = ..., study: _Optional[str] = ..., number: _Optional[int] = ..., config: _Optional[_Mapping[str, Value]] = ..., state: _Optional[_Union[TrialState, str]] = ..., bracket: _Optional[int] = ..., rung: _Optional[int] = ..., target_resource: _Optional[float] = ..., last_resource: _Optional[float] = ..., last_value: _Optional[float] = ..., source: _Optional[str] = ..., worker_id: _Optional[str] = ..., fail_reason: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reports: _Optional[_Iterable[_Union[ReportRecord, _Mapping]]] = ..., retries: _Optional[int] = ..., last_metrics: _Optional[_Mapping[str, float]] = ...) -> None: ...

class SuggestRequest(_message.Message):
    __slots__ = ("study", "worker_id", "request_id")
    STUDY_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    study: str
    worker_id: str
    request_id: str
    def __init__(self, study: _Optional[str] = ..., worker_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("trial", "resource", "resume_from", "r_max", "heartbeat_seconds")
    TRIAL_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    RESUME_FROM_FIELD_NUMBER: _ClassVar[int]
    R_MAX_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    trial: Trial
    resource: float
    resume_from: float
    r_max: float
    heartbeat_seconds: float
    def __init__(self, trial: _Optional[_Union[Trial, _Mapping]] = ..., resource: _Optional[float] = ..., resume_from: _Optional[float] = ..., r_max: _Optional[float] = ..., heartbeat_seconds: _Optional[float] = ...) -> None: ...

class Wait(_message.Message):
    __slots__ = ("retry_after_seconds",)
    RETRY_AFTER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    retry_after_seconds: float
    def __init__(self, retry_after_seconds: _Optional[float] = ...) -> None: ...

class Finished(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SuggestResponse(_message.Message):
    __slots__ = ("assignment", "wait", "finished")
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    assignment: Assignment
    wait: Wait
    finished: Finished
    def __init__(self, assignment: _Optional[_Union[Assignment, _Mapping]] = ..., wait: _Optional[_Union[Wait, _Mapping]] = ..., finished: _Optional[_Union[Finished, _Mapping]] = ...) -> None: ...

class ReportRequest(_message.Message):
    __slots__ = ("trial_id", "resource", "value", "request_id", "worker_id", "metrics")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    trial_id: int
    resource: float
    value: float
    request_id: str
    worker_id: str
    metrics: _containers.ScalarMap[str, float]
    def __init__(self, trial_id: _Optional[int] = ..., resource: _Optional[float] = ..., value: _Optional[float] = ..., request_id: _Optional[str] = ..., worker_id: _Optional[str] = ..., metrics: _Optional[_Mapping[str, float]] = ...) -> None: ...

class ReportResponse(_message.Message):
    __slots__ = ("action", "next_resource", "trial_state", "reason")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    NEXT_RESOURCE_FIELD_NUMBER: _ClassVar[int]
    TRIAL_STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    action: Action
    next_resource: float
    trial_state: TrialState
    reason: str
    def __init__(self, action: _Optional[_Union[Action, str]] = ..., next_resource: _Optional[float] = ..., trial_state: _Optional[_Union[TrialState, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class CompleteRequest(_message.Message):
    __slots__ = ("trial_id", "request_id", "worker_id")
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    trial_id: int
    request_id: str
    worker_id: str
    def __init__(self, trial_id: _Optional[int] = ..., request_id: _Optional[str] = ..., worker_id: _Optional[str] = ...) -> None: ...

class FailRequest(_message.Message):
    __slots__ = ("trial_id", "reason", "request_id", "worker_id")
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    trial_id: int
    reason: str
    request_id: str
    worker_id: str
    def __init__(self, trial_id: _Optional[int] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ..., worker_id: _Optional[str] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("worker_id", "trial_ids")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    TRIAL_IDS_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    trial_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, worker_id: _Optional[str] = ..., trial_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class Lease(_message.Message):
    __slots__ = ("trial_id", "active", "expires_at")
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    trial_id: int
    active: bool
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, trial_id: _Optional[int] = ..., active: _Optional[bool] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("leases",)
    LEASES_FIELD_NUMBER: _ClassVar[int]
    leases: _containers.RepeatedCompositeFieldContainer[Lease]
    def __init__(self, leases: _Optional[_Iterable[_Union[Lease, _Mapping]]] = ...) -> None: ...

class EnqueueRequest(_message.Message):
    __slots__ = ("study", "config", "request_id")
    class ConfigEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...
    STUDY_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    study: str
    config: _containers.MessageMap[str, Value]
    request_id: str
    def __init__(self, study: _Optional[str] = ..., config: _Optional[_Mapping[str, Value]] = ..., request_id: _Optional[str] = ...) -> None: ...

class EnqueueResponse(_message.Message):
    __slots__ = ("proposal",)
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    proposal: Proposal
    def __init__(self, proposal: _Optional[_Union[Proposal, _Mapping]] = ...) -> None: ...

class GetPriorsRequest(_message.Message):
    __slots__ = ("study",)
    STUDY_FIELD_NUMBER: _ClassVar[int]
    study: str
    def __init__(self, study: _Optional[str] = ...) -> None: ...

class Proposal(_message.Message):
    __slots__ = ("id", "position", "config", "source", "run_first", "trial_number")
    class ConfigEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    RUN_FIRST_FIELD_NUMBER: _ClassVar[int]
    TRIAL_NUMBER_FIELD_NUMBER: _ClassVar[int]
    id: int
    position: int
    config: _containers.MessageMap[str, Value]
    source: str
    run_first: bool
    trial_number: int
    def __init__(self, id: _Optional[int] = ..., position: _Optional[int] = ..., config: _Optional[_Mapping[str, Value]] = ..., source: _Optional[str] = ..., run_first: _Optional[bool] = ..., trial_number: _Optional[int] = ...) -> None: ...

class LLMExchange(_message.Message):
    __slots__ = ("id", "base_url", "model", "prompt_hash", "messages_json", "response_format_json", "raw_answer", "accepted", "rejected", "error", "replayed_from", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROMPT_HASH_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_JSON_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FORMAT_JSON_FIELD_NUMBER: _ClassVar[int]
    RAW_ANSWER_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FROM_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: int
    base_url: str
    model: str
    prompt_hash: str
    messages_json: str
    response_format_json: str
    raw_answer: str
    accepted: int
    rejected: int
    error: str
    replayed_from: int
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., base_url: _Optional[str] = ..., model: _Optional[str] = ..., prompt_hash: _Optional[str] = ..., messages_json: _Optional[str] = ..., response_format_json: _Optional[str] = ..., raw_answer: _Optional[str] = ..., accepted: _Optional[int] = ..., rejected: _Optional[int] = ..., error: _Optional[str] = ..., replayed_from: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetPriorsResponse(_message.Message):
    __slots__ = ("proposals", "exchanges", "warming_up")
    PROPOSALS_FIELD_NUMBER: _ClassVar[int]
    EXCHANGES_FIELD_NUMBER: _ClassVar[int]
    WARMING_UP_FIELD_NUMBER: _ClassVar[int]
    proposals: _containers.RepeatedCompositeFieldContainer[Proposal]
    exchanges: _containers.RepeatedCompositeFieldContainer[LLMExchange]
    warming_up: bool
    def __init__(self, proposals: _Optional[_Iterable[_Union[Proposal, _Mapping]]] = ..., exchanges: _Optional[_Iterable[_Union[LLMExchange, _Mapping]]] = ..., warming_up: _Optional[bool] = ...) -> None: ...

class ListTrialsRequest(_message.Message):
    __slots__ = ("study", "states", "include_reports", "start_number", "limit")
    STUDY_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_REPORTS_FIELD_NUMBER: _ClassVar[int]
    START_NUMBER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    study: str
    states: _containers.RepeatedScalarFieldContainer[TrialState]
    include_reports: bool
    start_number: int
    limit: int
    def __init__(self, study: _Optional[str] = ..., states: _Optional[_Iterable[_Union[TrialState, str]]] = ..., include_reports: _Optional[bool] = ..., start_number: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ListTrialsResponse(_message.Message):
    __slots__ = ("trials", "more", "next_start_number")
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    NEXT_START_NUMBER_FIELD_NUMBER: _ClassVar[int]
    trials: _containers.RepeatedCompositeFieldContainer[Trial]
    more: bool
    next_start_number: int
    def __init__(self, trials: _Optional[_Iterable[_Union[Trial, _Mapping]]] = ..., more: _Optional[bool] = ..., next_start_number: _Optional[int] = ...) -> None: ...

class GetBestRequest(_message.Message):
    __slots__ = ("study", "max_cost")
    STUDY_FIELD_NUMBER: _ClassVar[int]
    MAX_COST_FIELD_NUMBER: _ClassVar[int]
    study: str
    max_cost: float
    def __init__(self, study: _Optional[str] = ..., max_cost: _Optional[float] = ...) -> None: ...

class GetBestResponse(_message.Message):
    __slots__ = ("trial", "value", "resource")
    TRIAL_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    trial: Trial
    value: float
    resource: float
    def __init__(self, trial: _Optional[_Union[Trial, _Mapping]] = ..., value: _Optional[float] = ..., resource: _Optional[float] = ...) -> None: ...

class GetParetoFrontRequest(_message.Message):
    __slots__ = ("study", "max_cost")
    STUDY_FIELD_NUMBER: _ClassVar[int]
    MAX_COST_FIELD_NUMBER: _ClassVar[int]
    study: str
    max_cost: float
    def __init__(self, study: _Optional[str] = ..., max_cost: _Optional[float] = ...) -> None: ...

class ParetoTrial(_message.Message):
    __slots__ = ("trial", "metrics", "resource", "feasible")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    TRIAL_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    FEASIBLE_FIELD_NUMBER: _ClassVar[int]
    trial: Trial
    metrics: _containers.ScalarMap[str, float]
    resource: float
    feasible: bool
    def __init__(self, trial: _Optional[_Union[Trial, _Mapping]] = ..., metrics: _Optional[_Mapping[str, float]] = ..., resource: _Optional[float] = ..., feasible: _Optional[bool] = ...) -> None: ...

class GetParetoFrontResponse(_message.Message):
    __slots__ = ("trials", "rung")
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    RUNG_FIELD_NUMBER: _ClassVar[int]
    trials: _containers.RepeatedCompositeFieldContainer[ParetoTrial]
    rung: int
    def __init__(self, trials: _Optional[_Iterable[_Union[ParetoTrial, _Mapping]]] = ..., rung: _Optional[int] = ...) -> None: ...

class FitScalingRequest(_message.Message):
    __slots__ = ("family", "scale")
    class ScaleEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    family: str
    scale: _containers.ScalarMap[str, float]
    def __init__(self, family: _Optional[str] = ..., scale: _Optional[_Mapping[str, float]] = ...) -> None: ...

class FitScalingResponse(_message.Message):
    __slots__ = ("fit_json", "config", "proposal_json")
    FIT_JSON_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    PROPOSAL_JSON_FIELD_NUMBER: _ClassVar[int]
    fit_json: str
    config: Configuration
    proposal_json: str
    def __init__(self, fit_json: _Optional[str] = ..., config: _Optional[_Union[Configuration, _Mapping]] = ..., proposal_json: _Optional[str] = ...) -> None: ...

class Token(_message.Message):
    __slots__ = ("id", "name", "role", "created_at", "revoked_at", "expires_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    role: Role
    created_at: _timestamp_pb2.Timestamp
    revoked_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateTokenRequest(_message.Message):
    __slots__ = ("name", "role", "secret", "request_id", "expires_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    role: Role
    secret: str
    request_id: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., secret: _Optional[str] = ..., request_id: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListTokensRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTokensResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[Token]
    def __init__(self, tokens: _Optional[_Iterable[_Union[Token, _Mapping]]] = ...) -> None: ...

class RevokeTokenRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...
