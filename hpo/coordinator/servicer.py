"""The gRPC face of :class:`hpo.service.StudyService`.

Each method decodes its request (validation errors become INVALID_ARGUMENT
naming the field), calls the service, and encodes the answer. Domain errors
map to their status codes; a database that cannot be reached becomes
UNAVAILABLE so clients retry; anything else is logged and reported as
INTERNAL without leaking details.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from hpo import wire
from hpo.auth import TokenRecord, role_from_proto, role_to_proto
from hpo.coordinator.auth import current_caller
from hpo.coordinator.convert import (
    priors_to_proto,
    proposal_to_proto,
    study_to_proto,
)
from hpo.errors import HpoError, InvalidArgumentError, StoreUnavailableError
from hpo.service import Assignment, StudyService, Wait
from hpo.tokens import TokenService
from hpo.v1 import hpo_pb2 as pb
from hpo.v1 import hpo_pb2_grpc

log = logging.getLogger(__name__)

# A ListTrials page ends at this many bytes of trials, whatever its count, well inside the
# 4 MiB message limit: 1,000 trials of a 256-parameter study were 11.6 MB, and the listing
# failed with RESOURCE_EXHAUSTED (issue 15). A single trial larger than this still goes alone.
MAX_PAGE_BYTES = 2 * 1024 * 1024
ENTRY_OVERHEAD_BYTES = 8  # a repeated entry's tag and length

Request = TypeVar("Request")
Response = TypeVar("Response")
Method = Callable[[Any, Request, grpc.ServicerContext], Response]


def _check_request_id(request: Message) -> None:
    """Every mutating request (those with a ``request_id`` field) must carry one: without it a
    retried call could not be told from a new one."""
    if "request_id" in request.DESCRIPTOR.fields_by_name and not request.request_id:  # type: ignore[attr-defined]
        raise InvalidArgumentError(
            "request_id", "is required: a unique id per call, reused only when retrying it"
        )


def _rpc(method: Method[Request, Response]) -> Method[Request, Response]:
    @functools.wraps(method)
    def handle(self: Any, request: Request, context: grpc.ServicerContext) -> Response:
        try:
            _check_request_id(request)  # type: ignore[arg-type]
            return method(self, request, context)
        except StoreUnavailableError as error:
            log.exception("%s: database unavailable", method.__name__)
            self.on_store_error(method.__name__)
            context.abort(error.code, str(error))
        except HpoError as error:
            context.abort(error.code, str(error))
        except Exception:
            log.exception("%s failed", method.__name__)
            context.abort(grpc.StatusCode.INTERNAL, "internal error; see the coordinator log")
        raise AssertionError("context.abort returns only by raising")

    return handle


class CoordinatorServicer(hpo_pb2_grpc.CoordinatorServicer):
    """``on_store_error`` is told the method of each call answered UNAVAILABLE because the
    store failed (the coordinator counts it and checks its health at once)."""

    def __init__(
        self,
        service: StudyService,
        tokens: TokenService,
        on_store_error: Callable[[str], None] = lambda method: None,
    ) -> None:
        self.service = service
        self.tokens = tokens
        self.on_store_error = on_store_error

    @_rpc
    def CreateStudy(self, request: pb.CreateStudyRequest, context: Any) -> pb.Study:
        spec = wire.spec_from_proto(request.spec)
        return study_to_proto(self.service.create_study(spec, request.exist_ok, request.request_id))

    @_rpc
    def GetStudy(self, request: pb.GetStudyRequest, context: Any) -> pb.Study:
        return study_to_proto(self.service.get_study(request.name))

    @_rpc
    def ListStudies(self, request: pb.ListStudiesRequest, context: Any) -> pb.ListStudiesResponse:
        return pb.ListStudiesResponse(
            studies=[study_to_proto(info) for info in self.service.list_studies()]
        )

    @_rpc
    def ExtendStudy(self, request: pb.ExtendStudyRequest, context: Any) -> pb.Study:
        return study_to_proto(
            self.service.extend_study(request.study, request.r_max, request.request_id)
        )

    @_rpc
    def StopStudy(self, request: pb.StopStudyRequest, context: Any) -> pb.Study:
        return study_to_proto(
            self.service.stop_study(request.study, request.reason, request.request_id)
        )

    @_rpc
    def Enqueue(self, request: pb.EnqueueRequest, context: Any) -> pb.EnqueueResponse:
        config = wire.config_from_proto(request.config)
        proposal = self.service.enqueue(request.study, config, request.request_id)
        return pb.EnqueueResponse(proposal=proposal_to_proto(proposal))

    @_rpc
    def GetPriors(self, request: pb.GetPriorsRequest, context: Any) -> pb.GetPriorsResponse:
        return priors_to_proto(self.service.priors(request.study))

    @_rpc
    def Suggest(self, request: pb.SuggestRequest, context: Any) -> pb.SuggestResponse:
        result = self.service.suggest(
            request.study, request.worker_id, request.request_id, context.is_active
        )
        if isinstance(result, Assignment):
            return pb.SuggestResponse(
                assignment=pb.Assignment(
                    trial=wire.trial_to_proto(result.trial),
                    resource=result.resource,
                    resume_from=result.resume_from,
                    r_max=result.r_max,
                    heartbeat_seconds=result.heartbeat_seconds,
                )
            )
        if isinstance(result, Wait):
            return pb.SuggestResponse(wait=pb.Wait(retry_after_seconds=result.retry_after_seconds))
        return pb.SuggestResponse(finished=pb.Finished())

    @_rpc
    def Report(self, request: pb.ReportRequest, context: Any) -> pb.ReportResponse:
        # A report with metrics carries the objective among them; `value` is the v1 form.
        metrics = dict(request.metrics)
        outcome = self.service.report(
            request.trial_id,
            request.resource,
            None if metrics else request.value,
            request.request_id,
            request.worker_id,
            metrics,
        )
        return pb.ReportResponse(
            action=pb.CONTINUE if outcome.should_continue else pb.STOP,
            next_resource=outcome.next_resource or 0.0,
            trial_state=wire.encode_trial_state(outcome.trial_state),
            reason=outcome.reason,
        )

    @_rpc
    def Complete(self, request: pb.CompleteRequest, context: Any) -> pb.Trial:
        trial = self.service.complete(request.trial_id, request.worker_id, request.request_id)
        return wire.trial_to_proto(trial)

    @_rpc
    def Fail(self, request: pb.FailRequest, context: Any) -> pb.Trial:
        trial = self.service.fail(
            request.trial_id, request.reason, request.worker_id, request.request_id
        )
        return wire.trial_to_proto(trial)

    @_rpc
    def Heartbeat(self, request: pb.HeartbeatRequest, context: Any) -> pb.HeartbeatResponse:
        leases = self.service.heartbeat(request.worker_id, list(request.trial_ids))
        return pb.HeartbeatResponse(
            leases=[
                pb.Lease(
                    trial_id=lease.trial_id,
                    active=lease.active,
                    expires_at=wire.timestamp(lease.expires_at),
                )
                for lease in leases
            ]
        )

    @_rpc
    def ListTrials(self, request: pb.ListTrialsRequest, context: Any) -> pb.ListTrialsResponse:
        states = wire.decode_trial_states(request.states)
        page = self.service.list_trials(
            request.study, states, request.include_reports, request.start_number, request.limit
        )
        response = pb.ListTrialsResponse(more=page.more, next_start_number=page.next_start_number)
        size = 0
        for trial in page.trials:
            message = wire.trial_to_proto(trial)
            size += message.ByteSize() + ENTRY_OVERHEAD_BYTES
            if response.trials and size > MAX_PAGE_BYTES:
                # The page is full by size: the next one starts at this trial.
                response.more = True
                response.next_start_number = trial.number
                break
            response.trials.append(message)
        return response

    @_rpc
    def GetBest(self, request: pb.GetBestRequest, context: Any) -> pb.GetBestResponse:
        max_cost = request.max_cost if request.HasField("max_cost") else None
        best = self.service.best(request.study, max_cost)
        if best is None:
            return pb.GetBestResponse()
        return pb.GetBestResponse(
            trial=wire.trial_to_proto(best.trial),
            value=best.value,
            resource=best.resource,
        )

    @_rpc
    def GetParetoFront(
        self, request: pb.GetParetoFrontRequest, context: Any
    ) -> pb.GetParetoFrontResponse:
        max_cost = request.max_cost if request.HasField("max_cost") else None
        answer = self.service.pareto_front(request.study, max_cost)
        return pb.GetParetoFrontResponse(
            rung=answer.rung,
            trials=[
                pb.ParetoTrial(
                    trial=wire.trial_to_proto(entry.trial),
                    metrics=entry.metrics,
                    resource=entry.resource,
                    feasible=entry.feasible,
                )
                for entry in answer.entries
            ],
        )

    @_rpc
    def FitScaling(self, request: pb.FitScalingRequest, context: Any) -> pb.FitScalingResponse:
        answer = self.service.fit_scaling(request.family, dict(request.scale))
        response = pb.FitScalingResponse(fit_json=json.dumps(answer.fit.to_json()))
        if answer.proposal is not None:
            response.config.CopyFrom(
                pb.Configuration(values=wire.config_to_proto(answer.proposal.config))
            )
            response.proposal_json = json.dumps(answer.proposal.to_json())
        return response

    # ------------------------------------------------------------ tokens (admin)

    @_rpc
    def CreateToken(self, request: pb.CreateTokenRequest, context: Any) -> pb.Token:
        # The secret is hashed by the token service and appears in no log nor answer.
        info = self.tokens.create(
            request.name,
            role_from_proto(request.role),
            request.secret,
            request.request_id,
            expires_at=(
                wire.decode_timestamp(request.expires_at, "expires_at")
                if request.HasField("expires_at")
                else None
            ),
        )
        log.info("token %r (%s) created by %s", info.name, info.role.value, current_caller())
        return _token_to_proto(info)

    @_rpc
    def ListTokens(self, request: pb.ListTokensRequest, context: Any) -> pb.ListTokensResponse:
        return pb.ListTokensResponse(
            tokens=[_token_to_proto(info) for info in self.tokens.list_tokens()]
        )

    @_rpc
    def RevokeToken(self, request: pb.RevokeTokenRequest, context: Any) -> pb.Token:
        info = self.tokens.revoke(request.name, request.request_id)
        log.info("token %r revoked by %s", info.name, current_caller())
        return _token_to_proto(info)


def _token_to_proto(info: TokenRecord) -> pb.Token:
    return pb.Token(
        id=info.id,
        name=info.name,
        role=role_to_proto(info.role),
        created_at=wire.timestamp(info.created_at),
        revoked_at=wire.timestamp(info.revoked_at),
        expires_at=wire.timestamp(info.expires_at),
    )
