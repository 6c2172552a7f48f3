"""The LLM warm start of a study: ask once, or replay an earlier answer to the same question.

A study's ``llm`` prior is resolved once, when the study starts: the question
(the study's description, metric, resource and space, in the words of
:func:`hpo.priors.llm.build_messages`) is hashed, and if the store already
holds a successful answer to the same question for the same model, that answer
is parsed again instead of calling the model. So a study re-created from its
spec, on a machine without the model, proposes the same configurations; and a
study's proposals can always be traced to the exchange that produced them.

In the coordinator, :class:`WarmStarts` runs this in background threads, so
creating a study never waits on an endpoint; meanwhile Suggest answers "wait".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from hpo.errors import PermissionDeniedError
from hpo.priors.endpoints import LLMEndpoints
from hpo.priors.llm import (
    LLMExchange,
    LLMSettings,
    TaskDescription,
    answer_schema,
    ask,
    build_messages,
    new_exchange,
    parse_answer,
    prompt_hash,
)
from hpo.priors.sources import PriorKind
from hpo.space import Space
from hpo.spec import StudySpec
from hpo.study_store import StoredAnswer, StudyStore

Ask = Callable[[LLMSettings, Space, TaskDescription], LLMExchange]

log = logging.getLogger(__name__)


def task_description(spec: StudySpec) -> TaskDescription:
    return TaskDescription(
        description=spec.description,
        metric=spec.objective.metric,
        direction=spec.objective.direction.value,
        resource_name=spec.resource.name,
        r_min=spec.resource.r_min,
        r_max=spec.resource.r_max,
    )


def question_hash(settings: LLMSettings, spec: StudySpec) -> str:
    """The replay key of ``settings``' question about ``spec``."""
    messages = build_messages(spec.space, task_description(spec), settings.n_configs)
    return prompt_hash(settings.model, messages, answer_schema(spec.space, settings.n_configs))


def warm_start(
    settings: LLMSettings,
    spec: StudySpec,
    earlier: StoredAnswer | None,
    ask_model: Ask = ask,
) -> tuple[LLMExchange, int | None]:
    """The exchange for this study's question, and the id of the one it replays (if any)."""
    if earlier is None:
        return ask_model(settings, spec.space, task_description(spec)), None
    started = time.perf_counter()
    n = settings.n_configs
    accepted, rejected = parse_answer(spec.space, earlier.raw_answer, n)
    exchange = LLMExchange(
        base_url=settings.base_url,
        model=settings.model,
        messages=build_messages(spec.space, task_description(spec), n),
        response_format=earlier.response_format,
        prompt_hash=question_hash(settings, spec),
        raw_answer=earlier.raw_answer,
        accepted=accepted,
        rejected=rejected,
        error=None,
        seconds=time.perf_counter() - started,
    )
    return exchange, earlier.id


def allowed_ask(endpoints: LLMEndpoints, ask_model: Ask, where: str) -> Ask:
    """``ask_model``, behind the operator's rule: where the rule does not allow the endpoint or
    the key, nothing is sent and the exchange records why."""

    def checked(settings: LLMSettings, space: Space, task: TaskDescription) -> LLMExchange:
        try:
            endpoints.check(settings, where)
        except PermissionDeniedError as refused:
            exchange = new_exchange(settings, space, task)
            exchange.error = f"not sent: {refused}"
            return exchange
        return ask_model(settings, space, task)

    return checked


# Stores an exchange for (study id, prior index), with the id of the one it replays, and the
# proposals it accepted, in one transaction of the study.
Record = Callable[[int, int, LLMExchange, "int | None"], None]


class WarmStarts:
    """The coordinator's LLM warm starts: one background job per study, at most
    ``threads`` asking at once (each waits on an HTTP endpoint, not on this machine)."""

    def __init__(
        self,
        store: StudyStore,
        record: Record,
        ask_model: Ask | None,
        endpoints: LLMEndpoints,
        threads: int = 2,
    ):
        self._store = store
        self._record = record
        self._ask = ask_model or ask
        # Checked again before every question: a study stored before the operator's rule
        # changed must not send a key the rule no longer allows.
        self._endpoints = endpoints
        self._threads = threads
        self._running: dict[int, Future[None]] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._guard = threading.Lock()

    def start(self, study_id: int, spec: StudySpec, answered: frozenset[int]) -> None:
        """Resolve the spec's LLM priors not in ``answered``, unless a job already does."""
        pending = [
            index
            for index, source in enumerate(spec.priors)
            if source.kind is PriorKind.LLM and index not in answered
        ]
        if not pending:
            return
        with self._guard:
            if study_id in self._running:
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="hpo-warm-start")
            future = self._pool.submit(self._run, study_id, spec, pending)
            self._running[study_id] = future
        future.add_done_callback(lambda done: self._done(study_id, spec.name, done))

    def running(self, study_id: int) -> bool:
        with self._guard:
            return study_id in self._running

    def close(self) -> None:
        """Stop (the coordinator's shutdown): queued jobs are cancelled, answers in flight
        dropped; a restarted coordinator asks again."""
        with self._guard:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _done(self, study_id: int, name: str, future: Future[None]) -> None:
        with self._guard:
            self._running.pop(study_id, None)
        error = None if future.cancelled() else future.exception()
        if error is not None:
            log.error("study %s: LLM warm start failed: %s", name, error, exc_info=error)

    def _run(self, study_id: int, spec: StudySpec, indexes: list[int]) -> None:
        for index in indexes:
            settings = spec.priors[index].llm
            assert settings is not None
            earlier = self._store.earlier_answer(question_hash(settings, spec))
            exchange, replayed_from = warm_start(
                settings, spec, earlier, allowed_ask(self._endpoints, self._ask, f"priors[{index}]")
            )
            self._record(study_id, index, exchange, replayed_from)
            if exchange.error is not None:
                log.warning(
                    "study %s: LLM warm start without proposals (%s); the study runs on",
                    spec.name,
                    exchange.error,
                )
            else:
                log.info(
                    "study %s: the LLM proposed %d configurations (%d rejected)%s",
                    spec.name,
                    len(exchange.accepted),
                    len(exchange.rejected),
                    f", replayed from exchange {replayed_from}" if replayed_from else "",
                )
