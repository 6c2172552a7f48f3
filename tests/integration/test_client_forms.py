"""The client's forms for event-driven callers, against a real coordinator: the non-blocking
suggest, the explicit actions of a report's answer, the automatic release of an ended
assignment (and holding it), the asyncio client, and the Suggest deadline."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from pathlib import Path

import pytest

import hpo
from hpo import DecisionAction, Finished, Trial, Wait
from hpo.auth import Role, generate_secret
from hpo.client import DETERMINISTIC_SUGGEST_TIMEOUT, Client, Study, suggest_timeout
from hpo.coordinator.fit_process import DETERMINISTIC_WAIT_SECONDS
from hpo.coordinator.server import Coordinator, start_coordinator
from hpo.decider import ADMISSION_WAIT_SECONDS, STUDY_LOCK_TIMEOUT_SECONDS
from hpo.errors import NotFoundError, RemoteError, UnauthenticatedError
from hpo.space import Float, Space
from hpo.spec import Algorithm, Resource, StudySpec
from hpo.tokens import TokenService
from hpo.v1 import hpo_pb2 as pb
from hpo.vocabulary import TrialState
from hpo.workers import Worker
from tests.integration.test_tls import make_pki

SPACE = {"x": Float(-3, 3)}


def make_study(client: Client, name: str, **options: object) -> Study:
    settings: dict = {"r_min": 1, "r_max": 3, "eta": 3, "seed": 5, "algorithm": "asha"}
    settings.update(options)
    return client.create_study(name, SPACE, **settings)


def trial(answer: Trial | Wait | Finished) -> Trial:
    assert isinstance(answer, Trial), answer
    return answer


def records(study: Study) -> dict[int, hpo.TrialRecord]:
    return {record.number: record for record in study.trials()}


# ---------------------------------------------------------------- try_suggest


def test_try_suggest_hands_out_a_trial_then_waits_then_finishes(
    coordinator: Coordinator, client: Client
) -> None:
    # Random search trains each trial to r_max in one assignment; the budget is one trial.
    study = make_study(client, "budget", algorithm="random", max_trials=1)
    first = trial(study.try_suggest())
    assert (first.resume_from, first.resource) == (0, 3)
    # The budget is spent, but the running trial may still create work: wait, not finished.
    waiting = study.try_suggest()
    assert isinstance(waiting, Wait) and waiting.retry_after_seconds > 0
    decision = first.report(3, 0.5)
    assert decision.action is DecisionAction.DONE and decision.state is TrialState.COMPLETED
    assert decision.should_stop and decision.next_resource is None
    assert first.done  # released by the report
    assert isinstance(study.try_suggest(), Finished)
    assert study.refresh().state == "finished"


def test_a_stopped_study_is_finished_and_suggest_says_which_through_refresh(
    client: Client,
) -> None:
    study = make_study(client, "stopped", max_trials=0)
    study.stop("enough")
    assert isinstance(study.try_suggest(), Finished)
    assert study.suggest() is None
    assert study.refresh().state == "stopped"


def test_suggest_returns_none_when_cancelled_while_told_to_wait(client: Client) -> None:
    study = make_study(client, "cancelled", algorithm="random", max_trials=1)
    running = trial(study.try_suggest())
    cancel = threading.Event()
    cancel.set()
    # Told to wait (the one trial runs), the blocking form ends at once on the set event.
    assert study.suggest(cancel=cancel) is None
    assert study.refresh().state == "running" and not running.done


def test_a_repeated_try_suggest_gets_the_same_trial(client: Client) -> None:
    study = make_study(client, "repeat", max_trials=0)
    first = trial(study.try_suggest(request_id="ask-1"))
    again = trial(study.try_suggest(request_id="ask-1"))
    assert again.number == first.number and again.id == first.id
    assert trial(study.try_suggest(request_id="ask-2")).number == first.number + 1


# ---------------------------------------------------------------- actions


def test_promotion_type_pauses_at_the_rung_and_completes_at_r_max(client: Client) -> None:
    study = make_study(client, "promotion", max_trials=3)
    trials = [trial(study.try_suggest()) for _ in range(3)]
    decisions = [t.report(1, value) for t, value in zip(trials, (0.1, 0.5, 0.9), strict=True)]
    for decision in decisions:
        assert decision.action is DecisionAction.PAUSE and decision.state is TrialState.PAUSED
        assert decision.should_stop and decision.next_resource is None
    promoted = trial(study.try_suggest())
    assert promoted.number == trials[0].number and (promoted.resume_from, promoted.resource) == (
        1,
        3,
    )
    done = promoted.report(3, 0.05)
    assert done.action is DecisionAction.DONE and done.state is TrialState.COMPLETED


def test_stopping_type_continues_or_stops_for_good(client: Client) -> None:
    study = make_study(client, "stopping", r_max=9, asha_mode="stopping", max_trials=0)
    good, bad = trial(study.try_suggest()), trial(study.try_suggest())
    going_on = good.report(1, 0.1)
    assert going_on.action is DecisionAction.CONTINUE and not going_on.should_stop
    assert going_on.next_resource == 3 and going_on.state is TrialState.RUNNING
    assert not good.done  # an assignment that goes on is not released
    stopped = bad.report(1, 0.9)  # ranks 2 of 2: only the top one continues
    assert stopped.action is DecisionAction.STOP and stopped.state is TrialState.STOPPED
    assert bad.done


def test_a_trial_of_a_stopped_study_is_told_stop(client: Client) -> None:
    study = make_study(client, "halted", r_max=9, asha_mode="stopping", max_trials=0)
    running = trial(study.try_suggest())
    study.stop("enough")
    decision = running.report(1, 0.1)  # would run on, but the study is stopped
    assert decision.action is DecisionAction.STOP and decision.state is TrialState.STOPPED


# ---------------------------------------------------------------- release and hold


def test_a_pause_releases_the_trial_so_it_is_promoted_without_a_complete(
    coordinator: Coordinator, client: Client
) -> None:
    study = make_study(client, "released", max_trials=3)
    trials = [trial(study.try_suggest()) for _ in range(3)]
    for t, value in zip(trials, (0.1, 0.5, 0.9), strict=True):
        t.report(1, value)  # no complete(), no ``with``
    assert all(record.worker_id == "" for record in records(study).values())
    promoted = trial(study.try_suggest())
    assert promoted.number == trials[0].number and promoted.resume_from == 1
    # Nothing is sent by a complete() after the release: it works on a closed channel and
    # returns what the release got (the trial paused, released).
    with Client(coordinator.address, timeout=10) as other:
        study_elsewhere = make_study(other, "released-closed", max_trials=1)
        alone = trial(study_elsewhere.try_suggest())
        alone.report(1, 0.3)
    record = alone.complete()
    assert record.state is TrialState.PAUSED and record.number == alone.number
    assert alone.complete() is record


def test_a_held_trial_is_released_only_by_complete(client: Client) -> None:
    study = make_study(client, "held", max_trials=3)
    best, *others = [trial(study.try_suggest()) for _ in range(3)]
    held = best.report(1, 0.1, hold=True)
    assert held.action is DecisionAction.PAUSE and not best.done
    others[0].hold = True  # the trial's own setting, for every report
    others[0].report(1, 0.5)
    assert not others[0].done
    others[1].report(1, 0.9)
    assert others[1].done
    # The best is still held by this worker: nothing to promote yet, and the budget is spent.
    assert isinstance(study.try_suggest(), Wait)
    assert records(study)[best.number].worker_id == client.worker_id
    assert best.complete().state is TrialState.PAUSED
    promoted = trial(study.try_suggest())
    assert promoted.number == best.number and promoted.resource == 3


def test_a_with_block_after_an_automatic_release_sends_nothing_more(
    coordinator: Coordinator,
) -> None:
    with Client(coordinator.address, timeout=10) as client:
        study = make_study(client, "with-block", algorithm="random", max_trials=1)
        with trial(study.try_suggest()) as running:
            assert running.report(3, 0.2).action is DecisionAction.DONE
            client.close()  # the block's end must not call the coordinator again
        assert running.done


def test_the_worker_daemon_holds_a_paused_trial_until_its_function_returned(
    client: Client, tmp_path: Path
) -> None:
    study = make_study(client, "daemon", max_trials=1)
    seen: list[tuple[DecisionAction, str]] = []

    def train(context: hpo.TrialContext) -> None:
        decision = hpo.report(1, 0.4)
        # Still inside the trial (its checkpoint may be being written): still held.
        (record,) = study.trials()
        seen.append((decision.action, record.worker_id))

    with Client(client.address, timeout=10, worker_id="daemon-worker") as worker_client:
        summary = Worker(worker_client, study.name, workdir=tmp_path).run_function(train)
    assert summary.completed == 1
    assert seen == [(DecisionAction.PAUSE, "daemon-worker")]
    (record,) = study.trials()
    assert record.state is TrialState.PAUSED and record.worker_id == ""  # released at the end


# ---------------------------------------------------------------- asyncio


async def drive(study: hpo.AsyncStudy, seen: Counter[DecisionAction]) -> None:
    """One asyncio worker: ask without blocking, train a toy curve, act on the actions."""
    while True:
        answer = await study.try_suggest()
        if isinstance(answer, Finished):
            return
        if isinstance(answer, Wait):
            await asyncio.sleep(answer.retry_after_seconds)
            continue
        async with answer as running:
            resource = int(running.resume_from)
            while True:
                resource += 1
                value = (running.config["x"] - 1) ** 2 + 1 / resource
                decision = await running.report(resource, value)
                seen[decision.action] += 1
                if decision.action is not DecisionAction.CONTINUE:
                    assert running.done  # released by the report
                    break


def test_the_async_client_runs_a_study_to_the_end(coordinator: Coordinator) -> None:
    spec = StudySpec(
        name="async-study",
        space=Space(SPACE),
        resource=Resource(r_min=1, r_max=9, eta=3),
        algorithm=Algorithm.ASHA,
        max_trials=9,
        seed=7,
    )
    seen: Counter[DecisionAction] = Counter()

    async def main() -> hpo.AsyncStudy:
        async with hpo.AsyncClient(coordinator.address, timeout=10) as client:
            study = await client.create_study_from_spec(spec)
            async with asyncio.TaskGroup() as workers:
                for _ in range(3):
                    workers.create_task(drive(study, seen))
            with pytest.raises(NotFoundError, match="nope"):
                await client.get_study("nope")
            return await study.refresh()

    study = asyncio.run(main())
    assert study.state == "finished"
    assert study.counts["running"] == study.counts["pending"] == 0
    assert sum(study.counts.values()) == 9
    # Nine trials pause at rung 0; the best are promoted, and one completes at r_max.
    assert seen[DecisionAction.PAUSE] >= 9 and seen[DecisionAction.DONE] >= 1


def test_the_async_client_sends_its_token_over_tls(sqlite_url: str, tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    secure = start_coordinator(
        sqlite_url, "127.0.0.1", 0, tls_cert=pki.cert, tls_key=pki.key, anonymous=False
    )
    secret = generate_secret()
    TokenService(secure.store.sql).create("async-worker", Role.ADMIN, secret)

    async def main() -> None:
        async with hpo.AsyncClient(secure.address, timeout=10, tls_ca=pki.ca, token="") as bare:
            with pytest.raises(UnauthenticatedError):
                await bare.get_study("tls")
        async with hpo.AsyncClient(
            secure.address, timeout=10, tls_ca=pki.ca, token=secret
        ) as client:
            spec = StudySpec("tls", Space(SPACE), Resource(1, 3), algorithm=Algorithm.RANDOM)
            study = await client.create_study_from_spec(spec)
            answer = await study.try_suggest()
            assert isinstance(answer, hpo.AsyncTrial)
            assert (await answer.report(3, 0.5)).action is DecisionAction.DONE
            assert (await answer.complete()).state is TrialState.COMPLETED

    try:
        asyncio.run(main())
    finally:
        secure.stop(grace=1)


# ---------------------------------------------------------------- the Suggest deadline


def test_the_suggest_deadline_outlasts_a_deterministic_studys_longest_wait() -> None:
    longest = DETERMINISTIC_WAIT_SECONDS + STUDY_LOCK_TIMEOUT_SECONDS + ADMISSION_WAIT_SECONDS
    assert suggest_timeout(30.0, deterministic=True) == DETERMINISTIC_SUGGEST_TIMEOUT > longest
    assert suggest_timeout(30.0, deterministic=False) == 30.0
    assert suggest_timeout(900.0, deterministic=True) == 900.0  # never shorter than asked


def test_only_a_deterministic_studys_suggest_gets_the_long_deadline(
    coordinator: Coordinator, client: Client
) -> None:
    make_study(client, "deterministic", deterministic=True)
    make_study(client, "background")
    # A client whose own deadline passes before any answer can come.
    with Client(coordinator.address, timeout=1e-6) as hasty:

        def study(name: str) -> Study:
            return Study(hasty, client.call("GetStudy", pb.GetStudyRequest(name=name)))

        with pytest.raises(RemoteError, match="DEADLINE_EXCEEDED"):
            study("background").try_suggest()
        assert isinstance(study("deterministic").try_suggest(), Trial)


def test_a_decision_reads_its_action_from_the_wire() -> None:
    paused = pb.ReportResponse(action=pb.STOP, trial_state=pb.TRIAL_PAUSED, reason="rung 0")
    assert hpo.Decision.from_proto(paused).action is DecisionAction.PAUSE
    again = pb.ReportResponse(action=pb.STOP, trial_state=pb.TRIAL_RUNNING)  # promoted since
    assert hpo.Decision.from_proto(again).action is DecisionAction.PAUSE
    going = pb.ReportResponse(action=pb.CONTINUE, next_resource=3, trial_state=pb.TRIAL_RUNNING)
    assert hpo.Decision.from_proto(going) == hpo.Decision(
        DecisionAction.CONTINUE, 3.0, TrialState.RUNNING, ""
    )
