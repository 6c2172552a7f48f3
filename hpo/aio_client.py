"""The asyncio client of an hpo coordinator, on ``grpc.aio``.

    async with hpo.AsyncClient("127.0.0.1:50051") as client:
        study = await client.get_study("mlp")
        while not isinstance(answer := await study.try_suggest(), hpo.Finished):
            if isinstance(answer, hpo.Wait):
                await asyncio.sleep(answer.retry_after_seconds)
                continue
            async with answer as trial:      # heartbeats; fails the trial if the block raises
                decision = await trial.report(trial.resource, await evaluate(trial.config))

For programs that drive many trials at once from one event loop (a scheduler, a simulator, an
asyncio service), where the blocking :class:`hpo.Client` would need a thread per trial. It is
the same client: the requests it sends, how it decodes the answers, the retry policy, the
token, TLS, the Suggest deadline and the errors (:mod:`hpo.errors`) all come from
:mod:`hpo.client`; only the waiting differs. Create it inside the event loop that uses it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
import grpc.aio

from hpo import errors
from hpo.client import (
    BestTrial,
    ClientBase,
    Decision,
    Finished,
    ParetoTrial,
    StudyBase,
    TrialBase,
    Wait,
    best_answer,
    best_request,
    create_study_request,
    heartbeat_request,
    leases_answer,
    pareto_answer,
    pareto_request,
    remote_error,
    suggest_answer,
    suggest_request,
    suggest_timeout,
)
from hpo.records import TrialRecord
from hpo.spec import StudySpec
from hpo.v1 import hpo_pb2 as pb


class AsyncTrial(TrialBase):
    """An assignment this client holds, as :class:`hpo.Trial` but with coroutines: a report
    whose answer ends the assignment releases it unless held (``hold``), ``complete()`` is
    idempotent, and ``async with trial:`` heartbeats it from a task until the block ends, then
    completes it (or fails it when the block raises)."""

    def __init__(
        self, client: AsyncClient, assignment: pb.Assignment, *, hold: bool = False
    ) -> None:
        super().__init__(assignment, client.worker_id, hold)
        self._client = client
        self._lease_keeper: asyncio.Task[None] | None = None

    async def report(
        self,
        resource: float,
        value: float | Mapping[str, float],
        request_id: str | None = None,
        *,
        hold: bool | None = None,
    ) -> Decision:
        """Record ``value`` at ``resource`` (see :meth:`hpo.Trial.report`)."""
        decision = Decision.from_proto(
            await self._client.call("Report", self._report_request(resource, value, request_id))
        )
        if self._releases_after(decision, hold):
            try:
                await self.complete()
            except errors.HpoError as error:
                self._release_failed(decision, error)
        return decision

    async def complete(self, request_id: str | None = None) -> TrialRecord:
        """This assignment is done; once it is over, the record its end got (nothing is
        sent)."""
        if self._ended is not None:
            return self._ended
        await self._stop_heartbeats()
        return self._end(await self._client.call("Complete", self._complete_request(request_id)))

    async def fail(self, reason: str, request_id: str | None = None) -> TrialRecord:
        await self._stop_heartbeats()
        return self._end(await self._client.call("Fail", self._fail_request(reason, request_id)))

    async def __aenter__(self) -> AsyncTrial:
        """Heartbeat the trial until the block ends: a step longer than the lease must not send
        the trial to another worker."""
        self._lease_keeper = asyncio.create_task(
            self._heartbeat(), name=f"hpo-trial-{self.number}-heartbeat"
        )
        return self

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                held = await self._client.heartbeat([self.id])
            except errors.HpoError as error:
                self._heartbeat_failed(error)
                continue
            if not self._still_held(held):
                return

    async def _stop_heartbeats(self) -> None:
        if self._lease_keeper is not None:
            self._lease_keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lease_keeper
            self._lease_keeper = None

    async def __aexit__(self, *exc_info: object) -> None:
        end = self._ending(exc_info[1], self.complete, self.fail)
        if end is not None:
            await end()


class AsyncStudy(StudyBase):
    """A study on the coordinator, as last fetched."""

    def __init__(self, client: AsyncClient, message: pb.Study) -> None:
        super().__init__(message)
        self._client = client

    async def refresh(self) -> AsyncStudy:
        return await self._client.get_study(self.name)

    async def try_suggest(self, request_id: str | None = None) -> AsyncTrial | Wait | Finished:
        """One Suggest call (see :meth:`hpo.Study.try_suggest`)."""
        response = await self._client.call(
            "Suggest",
            suggest_request(self.name, self._client.worker_id, request_id),
            timeout=suggest_timeout(self._client.timeout, self.spec.deterministic),
        )
        return suggest_answer(response, lambda assignment: AsyncTrial(self._client, assignment))

    async def suggest(
        self, cancel: asyncio.Event | None = None, request_id: str | None = None
    ) -> AsyncTrial | None:
        """The next assignment, waiting while running trials may still create work; None
        when the study hands out no more work or ``cancel`` is set while waiting (see
        :meth:`hpo.Study.suggest`)."""
        cancelled = cancel or asyncio.Event()
        while True:
            answer = await self.try_suggest(request_id)
            request_id = None  # after a wait, the next call is a new request
            if not isinstance(answer, Wait):
                return answer if isinstance(answer, AsyncTrial) else None
            try:
                await asyncio.wait_for(cancelled.wait(), answer.retry_after_seconds)
            except TimeoutError:
                continue
            return None

    async def best(self, max_cost: float | None = None) -> BestTrial | None:
        """The best value at the highest rung reached so far (see :meth:`hpo.Study.best`)."""
        return best_answer(await self._client.call("GetBest", best_request(self.name, max_cost)))

    async def pareto_front(self, max_cost: float | None = None) -> list[ParetoTrial]:
        """The non-dominated trials at the highest rung with a feasible result."""
        return pareto_answer(
            await self._client.call("GetParetoFront", pareto_request(self.name, max_cost))
        )


class AsyncClient(ClientBase):
    """A connection to a coordinator for asyncio programs (the options:
    :class:`hpo.client.ClientBase`). Close it (or use ``async with``) when done."""

    transport = grpc.aio

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def call(self, method: str, request: Any, timeout: float | None = None) -> Any:
        """Call an RPC of the Coordinator service, raising hpo's errors instead of gRPC's;
        ``timeout`` replaces the client's for this call."""
        try:
            return await getattr(self._stub, method)(request, **self._call_options(timeout))
        except grpc.RpcError as error:
            raise remote_error(error) from None

    async def create_study_from_spec(self, spec: StudySpec, exist_ok: bool = False) -> AsyncStudy:
        """Create a study (with ``exist_ok``, find the one with this spec)."""
        message = await self.call("CreateStudy", create_study_request(spec, exist_ok))
        return AsyncStudy(self, message)

    async def get_study(self, name: str) -> AsyncStudy:
        return AsyncStudy(self, await self.call("GetStudy", pb.GetStudyRequest(name=name)))

    async def heartbeat(self, trial_ids: Sequence[int]) -> dict[int, bool]:
        """Extend the leases of ``trial_ids``; the answer says which this worker still holds."""
        return leases_answer(
            await self.call("Heartbeat", heartbeat_request(self.worker_id, trial_ids))
        )
