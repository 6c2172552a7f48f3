"""Conversion between hpo's domain objects and the wire contract (``hpo.v1``).

Used by the client and by the coordinator, so it stays in the light core.
Decoding validates: a malformed message raises
:class:`~hpo.errors.InvalidArgumentError` naming the field, including enum
numbers this version does not know (proto3 enums are open on the wire).
Repeated fields are counted against their limits (:mod:`hpo.validation`)
before their entries are decoded, so a message packed with entries is refused
for the price of one ``len``. (Bytes that are no message at all are answered
by :mod:`hpo.coordinator.decoding`.)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp

from hpo.errors import InvalidArgumentError
from hpo.outcomes import (
    MAX_CONSTRAINTS,
    MAX_METRICS,
    MAX_OBJECTIVES,
    ConstraintOp,
    Cost,
    CostSource,
)
from hpo.priors.sources import Confidence, PriorKind, PriorSource
from hpo.records import ReportRecord, TrialRecord
from hpo.space import Categorical, Config, Float, Int, Parameter, ParamValue, Space
from hpo.spec import (
    Algorithm,
    AshaMode,
    BracketSplit,
    DecisionBasis,
    Direction,
    Objective,
    Resource,
    StudySpec,
)
from hpo.v1 import hpo_pb2 as pb
from hpo.validation import (
    MAX_CHOICES,
    MAX_ENQUEUED,
    MAX_PARAMETERS,
    MAX_PRIOR_CONFIGS,
    MAX_PRIORS,
    MAX_RUNGS,
    MAX_SCALE_VARIABLES,
    MAX_STATE_FILTERS,
    MAX_TRANSFER_STUDIES,
    check_count,
    member,
)
from hpo.vocabulary import TrialState

E = TypeVar("E")

DIRECTIONS = {
    pb.DIRECTION_UNSPECIFIED: Direction.MINIMIZE,
    pb.MINIMIZE: Direction.MINIMIZE,
    pb.MAXIMIZE: Direction.MAXIMIZE,
}
CONSTRAINT_OPS = {
    pb.AT_MOST: ConstraintOp.AT_MOST,
    pb.AT_LEAST: ConstraintOp.AT_LEAST,
}
COST_SOURCES = {
    pb.COST_SOURCE_UNSPECIFIED: CostSource.METRIC,
    pb.COST_METRIC: CostSource.METRIC,
    pb.COST_WALL_TIME: CostSource.WALL_TIME,
    pb.COST_RESOURCE: CostSource.RESOURCE,
}
ALGORITHMS = {
    pb.ALGORITHM_UNSPECIFIED: Algorithm.GP_HYPERBAND,
    pb.RANDOM: Algorithm.RANDOM,
    pb.ASHA: Algorithm.ASHA,
    pb.HYPERBAND: Algorithm.HYPERBAND,
    pb.GP_HYPERBAND: Algorithm.GP_HYPERBAND,
}
BRACKET_SPLITS = {
    pb.BRACKET_SPLIT_UNSPECIFIED: BracketSplit.LEARNED,
    pb.HYPERBAND_SPLIT: BracketSplit.HYPERBAND,
    pb.LEARNED_SPLIT: BracketSplit.LEARNED,
}
ASHA_MODES = {
    pb.ASHA_MODE_UNSPECIFIED: AshaMode.PROMOTION,
    pb.PROMOTION: AshaMode.PROMOTION,
    pb.STOPPING: AshaMode.STOPPING,
}
DECISION_BASES = {
    pb.DECISION_BASIS_UNSPECIFIED: DecisionBasis.RUNG,
    pb.RUNG_VALUE: DecisionBasis.RUNG,
    pb.CURVE: DecisionBasis.CURVE,
}
TRIAL_STATES = {
    pb.TRIAL_RUNNING: TrialState.RUNNING,
    pb.TRIAL_PAUSED: TrialState.PAUSED,
    pb.TRIAL_COMPLETED: TrialState.COMPLETED,
    pb.TRIAL_STOPPED: TrialState.STOPPED,
    pb.TRIAL_FAILED: TrialState.FAILED,
    pb.TRIAL_PENDING: TrialState.PENDING,
}
STUDY_STATES = {
    "running": pb.STUDY_RUNNING,
    "finished": pb.STUDY_FINISHED,
    "stopped": pb.STUDY_STOPPED,
}
CONFIDENCES = {
    pb.CONFIDENCE_UNSPECIFIED: Confidence.MEDIUM,
    pb.LOW: Confidence.LOW,
    pb.MEDIUM: Confidence.MEDIUM,
    pb.HIGH: Confidence.HIGH,
}


def _decode_enum(table: Mapping[int, E], field: str, number: int) -> E:
    try:
        return table[number]
    except KeyError:
        raise InvalidArgumentError(field, f"unknown enum value {number}") from None


def _encode_enum(table: Mapping[int, Any], member: object) -> int:
    """The wire number of ``member`` (the first one, so UNSPECIFIED aliases are never sent)."""
    return next(number for number, value in table.items() if value == member and number != 0)


def encode_trial_state(state: TrialState | str) -> int:
    return _encode_enum(TRIAL_STATES, TrialState(state))


def decode_trial_state(number: int, field: str = "state") -> TrialState:
    return _decode_enum(TRIAL_STATES, field, number)


def decode_trial_states(numbers: Sequence[int], field: str = "states") -> list[TrialState]:
    """A filter of trial states, each named once: the store gets one bind parameter per
    state, and a database caps those (PostgreSQL at 65,535, SQLite at 32,766 by default),
    so a long list must not reach it."""
    check_count(field, numbers, MAX_STATE_FILTERS)
    states = [
        decode_trial_state(number, f"{field}[{index}]") for index, number in enumerate(numbers)
    ]
    return list(dict.fromkeys(states))


# ---------------------------------------------------------------- values


def value_to_proto(value: ParamValue) -> pb.Value:
    if isinstance(value, bool):
        return pb.Value(bool_value=value)
    if isinstance(value, int):
        return pb.Value(int_value=value)
    if isinstance(value, float):
        return pb.Value(double_value=value)
    if isinstance(value, str):
        return pb.Value(string_value=value)
    raise TypeError(f"cannot send {value!r} ({type(value).__name__}): use a number, string or bool")


def value_from_proto(message: pb.Value, field: str) -> ParamValue:
    kind = message.WhichOneof("kind")
    if kind is None:
        raise InvalidArgumentError(field, "has no value")
    value: ParamValue = getattr(message, kind)
    if kind == "double_value" and not math.isfinite(value):  # type: ignore[arg-type]
        raise InvalidArgumentError(field, f"must be finite, got {value}")
    return value


def config_to_proto(config: Mapping[str, ParamValue]) -> dict[str, pb.Value]:
    return {name: value_to_proto(value) for name, value in config.items()}


def config_from_proto(config: Mapping[str, pb.Value], field: str = "config") -> Config:
    check_count(field, config, MAX_PARAMETERS)
    return {name: value_from_proto(value, member(field, name)) for name, value in config.items()}


def timestamp(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    message = Timestamp()
    message.FromDatetime(moment.astimezone(timezone.utc))
    return message


def from_timestamp(message: Timestamp) -> datetime:
    return message.ToDatetime(tzinfo=timezone.utc)


def decode_timestamp(message: Timestamp, field: str) -> datetime:
    """A request's timestamp, refused naming ``field`` when it is not a valid moment (the
    seconds must lie within years 1 to 9999, the nanoseconds within a second)."""
    try:
        return from_timestamp(message)
    except (ValueError, OverflowError):
        raise InvalidArgumentError(
            field, f"is not a valid timestamp (seconds {message.seconds}, nanos {message.nanos})"
        ) from None


# ---------------------------------------------------------------- space and spec


def space_to_proto(space: Space) -> pb.SearchSpace:
    message = pb.SearchSpace()
    for name, parameter in space.items():
        entry = message.parameters.add(name=name)
        if isinstance(parameter, Float):
            entry.float.CopyFrom(
                pb.FloatParameter(low=parameter.low, high=parameter.high, log=parameter.log)
            )
        elif isinstance(parameter, Int):
            entry.int.CopyFrom(
                pb.IntParameter(low=parameter.low, high=parameter.high, log=parameter.log)
            )
        else:
            entry.categorical.choices.extend(value_to_proto(choice) for choice in parameter.choices)
    return message


def _parameter_from_proto(message: pb.Parameter, field: str) -> Parameter:
    kind = message.WhichOneof("kind")
    if kind == "float":
        return Float(message.float.low, message.float.high, message.float.log)
    if kind == "int":
        return Int(message.int.low, message.int.high, message.int.log)
    if kind == "categorical":
        check_count(f"{field}.choices", message.categorical.choices, MAX_CHOICES)
        return Categorical(
            [
                value_from_proto(choice, f"{field}.choices[{index}]")
                for index, choice in enumerate(message.categorical.choices)
            ]
        )
    raise InvalidArgumentError(field, "must be a float, int or categorical parameter")


def space_from_proto(message: pb.SearchSpace) -> Space:
    check_count("space", message.parameters, MAX_PARAMETERS)
    parameters: dict[str, Parameter] = {}
    for index, entry in enumerate(message.parameters):
        field = member("space", entry.name or index)
        if entry.name in parameters:
            raise InvalidArgumentError(field, "is defined twice")
        parameters[entry.name] = _parameter_from_proto(entry, field)
    return Space(parameters)


def spec_to_proto(spec: StudySpec) -> pb.StudySpec:
    return pb.StudySpec(
        name=spec.name,
        description=spec.description,
        space=space_to_proto(spec.space),
        objective=_objective_to_proto(spec.objective),
        resource=pb.Resource(
            name=spec.resource.name,
            r_min=spec.resource.r_min,
            r_max=spec.resource.r_max,
            eta=spec.resource.eta,
            earlier_r_max=spec.resource.earlier_r_max,
        ),
        algorithm=_encode_enum(ALGORITHMS, spec.algorithm),
        asha_mode=_encode_enum(ASHA_MODES, spec.asha_mode),
        max_trials=spec.max_trials,
        seed=spec.seed,
        bracket_split=_encode_enum(BRACKET_SPLITS, spec.bracket_split),
        deterministic=spec.deterministic,
        priors=[prior_to_proto(prior) for prior in spec.priors],
        enqueue=[pb.Configuration(values=config_to_proto(config)) for config in spec.enqueue],
        # One objective travels in `objective` alone, as it did before there could be more.
        objectives=[_objective_to_proto(objective) for objective in spec.objectives]
        if len(spec.objectives) > 1
        else [],
        metrics=spec.metrics,
        constraints=[
            pb.Constraint(
                metric=constraint.metric,
                op=_encode_enum(CONSTRAINT_OPS, constraint.op),
                bound=constraint.bound,
            )
            for constraint in spec.constraints
        ],
        cost=None
        if spec.cost is None
        else pb.Cost(metric=spec.cost.metric, source=_encode_enum(COST_SOURCES, spec.cost.source)),
        decision=_encode_enum(DECISION_BASES, spec.decision),
        scale=spec.scale,
        scale_parameters=spec.scale_parameters,
        family=spec.family,
    )


def _objective_to_proto(objective: Objective) -> pb.Objective:
    return pb.Objective(
        metric=objective.metric, direction=_encode_enum(DIRECTIONS, objective.direction)
    )


def _objective_from_proto(message: pb.Objective, field: str) -> dict[str, Any]:
    """The objective's fields; the spec validates them and names ``field`` in its errors."""
    return {
        "metric": message.metric or "value",
        "direction": _decode_enum(DIRECTIONS, f"{field}.direction", message.direction),
    }


def _constraint_from_proto(message: pb.Constraint, field: str) -> dict[str, Any]:
    if message.op == pb.CONSTRAINT_OP_UNSPECIFIED:
        raise InvalidArgumentError(f"{field}.op", "is required: AT_MOST or AT_LEAST")
    return {
        "metric": message.metric,
        "op": _decode_enum(CONSTRAINT_OPS, f"{field}.op", message.op),
        "bound": message.bound,
    }


def _cost_from_proto(message: pb.StudySpec) -> Cost | None:
    if not message.HasField("cost"):
        return None
    source = _decode_enum(COST_SOURCES, "cost.source", message.cost.source)
    return Cost(metric=message.cost.metric, source=source)


def spec_from_proto(message: pb.StudySpec) -> StudySpec:
    """Decode and validate a spec; unset fields take the documented defaults."""
    if not message.HasField("resource"):
        raise InvalidArgumentError("resource", "is required (r_min, r_max, eta)")
    resource = message.resource
    check_count("resource.earlier_r_max", resource.earlier_r_max, MAX_RUNGS)
    check_count("priors", message.priors, MAX_PRIORS)
    check_count("enqueue", message.enqueue, MAX_ENQUEUED)
    check_count("objectives", message.objectives, MAX_OBJECTIVES)
    check_count("metrics", message.metrics, MAX_METRICS)
    check_count("constraints", message.constraints, MAX_CONSTRAINTS)
    check_count("scale", message.scale, MAX_SCALE_VARIABLES)
    check_count("scale_parameters", message.scale_parameters, MAX_SCALE_VARIABLES)
    return StudySpec(
        name=message.name,
        description=message.description,
        space=space_from_proto(message.space),
        objective=Objective(**_objective_from_proto(message.objective, "objective")),
        objectives=[
            _objective_from_proto(objective, f"objectives[{index}]")
            for index, objective in enumerate(message.objectives)
        ],
        metrics=list(message.metrics),
        constraints=[
            _constraint_from_proto(constraint, f"constraints[{index}]")
            for index, constraint in enumerate(message.constraints)
        ],
        cost=_cost_from_proto(message),
        resource=Resource(
            r_min=resource.r_min,
            r_max=resource.r_max,
            eta=resource.eta or 3.0,
            name=resource.name or "resource",
            earlier_r_max=tuple(resource.earlier_r_max),
        ),
        algorithm=_decode_enum(ALGORITHMS, "algorithm", message.algorithm),
        asha_mode=_decode_enum(ASHA_MODES, "asha_mode", message.asha_mode),
        max_trials=message.max_trials,
        seed=message.seed,
        bracket_split=_decode_enum(BRACKET_SPLITS, "bracket_split", message.bracket_split),
        deterministic=message.deterministic,
        decision=_decode_enum(DECISION_BASES, "decision", message.decision),
        scale=dict(message.scale),
        scale_parameters=list(message.scale_parameters),
        family=message.family,
        priors=[
            prior_from_proto(prior, f"priors[{index}]")
            for index, prior in enumerate(message.priors)
        ],
        enqueue=[
            config_from_proto(config.values, f"enqueue[{index}]")
            for index, config in enumerate(message.enqueue)
        ],
    )


# ---------------------------------------------------------------- priors


def prior_to_proto(prior: PriorSource) -> pb.Prior:
    message = pb.Prior(confidence=_encode_enum(CONFIDENCES, prior.confidence), weight=prior.weight)
    if prior.kind is PriorKind.POINT:
        message.point.config.CopyFrom(pb.Configuration(values=config_to_proto(prior.config)))
    elif prior.kind is PriorKind.CONFIGS:
        message.configs.configs.extend(
            pb.Configuration(values=config_to_proto(config)) for config in prior.configs
        )
    elif prior.kind is PriorKind.LLM and prior.llm is not None:
        message.llm.CopyFrom(pb.LLMPrior(**dataclasses.asdict(prior.llm)))
    elif prior.kind is PriorKind.SCALING:
        message.scaling.CopyFrom(pb.ScalingPrior(family=prior.family))
    else:
        message.transfer.CopyFrom(pb.TransferPrior(studies=prior.studies, top_k=prior.top_k))
    return message


def prior_from_proto(message: pb.Prior, field: str) -> dict[str, Any]:
    """The JSON form of a prior entry; the spec validates it against the space."""
    kind = message.WhichOneof("kind")
    if kind is None:
        raise InvalidArgumentError(
            f"{field}.kind", "must be point, configs, llm, transfer or scaling"
        )
    data: dict[str, Any] = {
        "kind": kind,
        "confidence": _decode_enum(CONFIDENCES, f"{field}.confidence", message.confidence).value,
        "weight": message.weight or 1.0,
    }
    if kind == "point":
        data["config"] = config_from_proto(message.point.config.values, f"{field}.config")
    elif kind == "configs":
        check_count(f"{field}.configs", message.configs.configs, MAX_PRIOR_CONFIGS)
        data["configs"] = [
            config_from_proto(config.values, f"{field}.configs[{index}]")
            for index, config in enumerate(message.configs.configs)
        ]
    elif kind == "llm":
        # Zero means the default where zero is not a meaningful value.
        llm = message.llm
        data.update(
            {name: getattr(llm, name) for name in ("base_url", "model", "api_key_env", "retries")},
            temperature=llm.temperature,
            seed=llm.seed,
            **{
                name: getattr(llm, name)
                for name in ("n_configs", "timeout_seconds", "response_format")
                if getattr(llm, name)
            },
        )
    elif kind == "scaling":
        data["family"] = message.scaling.family
    else:
        check_count(f"{field}.studies", message.transfer.studies, MAX_TRANSFER_STUDIES)
        data.update(studies=list(message.transfer.studies), top_k=message.transfer.top_k or 5)
    return data


# ---------------------------------------------------------------- undecodable requests


# ---------------------------------------------------------------- trials


def trial_to_proto(record: TrialRecord) -> pb.Trial:
    message = pb.Trial(
        id=record.id,
        study=record.study,
        number=record.number,
        config=config_to_proto(record.config),
        state=encode_trial_state(record.state),
        bracket=record.bracket,
        rung=record.rung,
        target_resource=record.target_resource,
        source=record.source,
        worker_id=record.worker_id,
        fail_reason=record.fail_reason,
        retries=record.retries,
        created_at=timestamp(record.created_at),
        updated_at=timestamp(record.updated_at),
        reports=[
            pb.ReportRecord(
                resource=report.resource,
                value=report.value,
                rung=-1 if report.rung is None else report.rung,
                created_at=timestamp(report.created_at),
                metrics=report.metrics,
            )
            for report in record.reports
        ],
        last_metrics=record.last_metrics,
    )
    if record.last_resource is not None:
        message.last_resource = record.last_resource
    if record.last_value is not None:
        message.last_value = record.last_value
    return message


def trial_from_proto(message: pb.Trial) -> TrialRecord:
    return TrialRecord(
        id=message.id,
        study=message.study,
        number=message.number,
        config=config_from_proto(message.config),
        state=decode_trial_state(message.state),
        bracket=message.bracket,
        rung=message.rung,
        target_resource=message.target_resource,
        last_resource=message.last_resource if message.HasField("last_resource") else None,
        last_value=message.last_value if message.HasField("last_value") else None,
        source=message.source,
        worker_id=message.worker_id,
        fail_reason=message.fail_reason,
        retries=message.retries,
        created_at=from_timestamp(message.created_at),
        updated_at=from_timestamp(message.updated_at),
        reports=tuple(
            ReportRecord(
                resource=report.resource,
                value=report.value,
                rung=None if report.rung < 0 else report.rung,
                created_at=from_timestamp(report.created_at),
                metrics=dict(report.metrics),
            )
            for report in message.reports
        ),
        last_metrics=dict(message.last_metrics),
    )
