"""Rows of the trial store as wire messages."""

from __future__ import annotations

import json

from hpo import wire
from hpo.priors.proposals import Proposal
from hpo.service import PriorsInfo, StudyInfo
from hpo.v1 import hpo_pb2 as pb


def study_to_proto(info: StudyInfo) -> pb.Study:
    counts = info.counts
    return pb.Study(
        id=info.id,
        spec=wire.spec_to_proto(info.spec),
        state=wire.STUDY_STATES[info.status],
        created_at=wire.timestamp(info.created_at),
        counts=pb.TrialCounts(
            running=counts.get("running", 0),
            paused=counts.get("paused", 0),
            completed=counts.get("completed", 0),
            stopped=counts.get("stopped", 0),
            failed=counts.get("failed", 0),
            pending=counts.get("pending", 0),
        ),
    )


def proposal_to_proto(proposal: Proposal) -> pb.Proposal:
    return pb.Proposal(
        id=proposal.id,
        position=proposal.position,
        config=wire.config_to_proto(proposal.config),
        source=proposal.source,
        run_first=proposal.run_first,
        trial_number=-1 if proposal.trial_number is None else proposal.trial_number,
    )


def priors_to_proto(info: PriorsInfo) -> pb.GetPriorsResponse:
    return pb.GetPriorsResponse(
        proposals=[proposal_to_proto(proposal) for proposal in info.proposals],
        exchanges=[
            pb.LLMExchange(
                id=exchange.id,
                base_url=exchange.base_url,
                model=exchange.model,
                prompt_hash=exchange.prompt_hash,
                messages_json=json.dumps(list(exchange.messages)),
                response_format_json=json.dumps(exchange.response_format),
                raw_answer=exchange.raw_answer,
                accepted=exchange.accepted,
                rejected=exchange.rejected,
                error=exchange.error,
                replayed_from=exchange.replayed_from or 0,
                created_at=wire.timestamp(exchange.created_at),
            )
            for exchange in info.exchanges
        ],
        warming_up=info.warming_up,
    )
