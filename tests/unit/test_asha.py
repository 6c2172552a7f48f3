"""ASHA decisions (Li et al., "A System for Massively Parallel Hyperparameter Tuning").

A small driver applies decisions to an in-memory StudyState the way the
service applies them to the store, so the scheduler is tested on its own.
"""

from __future__ import annotations

import pytest

from hpo import engine
from hpo.algorithms import make_scheduler
from hpo.schedulers import Asha, NewTrial, Promote, StudyFinished, WaitForResults
from hpo.schedulers.rungs import hyperband_brackets
from hpo.space import Float, Space
from hpo.spec import Algorithm, AshaMode, Objective, Resource, StudySpec
from hpo.state import StudyState
from hpo.vocabulary import Action, TrialState


def make_spec(**overrides: object) -> StudySpec:
    fields: dict = {
        "name": "s",
        "space": Space({"x": Float(0, 1)}),
        "resource": Resource(1, 81, 3),
        "algorithm": Algorithm.ASHA,
    }
    fields.update(overrides)
    return StudySpec(**fields)


class Driver:
    """Applies scheduler decisions through hpo.engine, as the service does, without a
    database, with the trials' configurations and brackets chosen by the test."""

    def __init__(self, spec: StudySpec) -> None:
        self.state = StudyState(spec)
        self.asha = make_scheduler(spec)

    def start(self, bracket: int = 0, worker: str = "w") -> int:
        number = self.state.next_number
        target_rung = self.asha.first_target_rung(bracket)
        engine.apply(
            self.state,
            [engine.TrialStarted(number, {"x": 0.0}, bracket, target_rung, "random", worker)],
        )
        return number

    def promote(self, job: Promote, worker: str = "w") -> None:
        assert self.state.trials[job.number].promotable
        engine.apply(self.state, [engine.reassignment(job, worker)])

    def report(self, number: int, resource: float, value: float):
        decision = self.asha.on_report(self.state, number, resource, value)
        engine.apply(self.state, engine.report_effects(decision, number, resource, value))
        return decision

    def release(self, number: int) -> None:
        engine.apply(self.state, [engine.Released(number)])

    def run_to_target(self, number: int, value: float) -> None:
        """Report ``value`` at the trial's target rung and release it, as a worker does."""
        trial = self.state.trials[number]
        self.report(number, self.asha.levels[trial.target_rung], value)
        self.release(number)


@pytest.mark.parametrize(
    "bracket", hyperband_brackets(Resource(1, 81, 3)), ids=lambda b: f"s={b.s}"
)
def test_promotions_reproduce_successive_halving(bracket) -> None:
    """With every result of a rung in before its promotions, ASHA keeps exactly Hyperband's n_i."""
    driver = Driver(make_spec(max_trials=bracket.n[0]))
    quality = {}
    for _ in range(bracket.n[0]):
        number = driver.start(bracket.asha_bracket)
        quality[number] = (number * 37) % bracket.n[0]  # a fixed permutation of ranks
        driver.run_to_target(number, quality[number])
    while not isinstance(job := driver.asha.next_job(driver.state), StudyFinished):
        assert isinstance(job, Promote), job
        driver.promote(job)
        # Rank-preserving learning curves: a better trial stays better at every rung.
        driver.run_to_target(job.number, quality[job.number] - job.to_rung * 0.01)
    reached = [
        sum(1 for trial in driver.state.trials.values() if trial.rung >= bracket.asha_bracket + i)
        for i in range(len(bracket.n))
    ]
    assert reached == list(bracket.n)
    # The survivors at each rung are the best ones.
    best = sorted(quality, key=quality.get)
    top = [t.number for t in driver.state.trials.values() if t.rung == driver.asha.top_rung]
    assert sorted(top) == sorted(best[: bracket.n[-1]])


def test_nothing_is_promoted_before_eta_results() -> None:
    driver = Driver(make_spec())
    for value in (0.5, 0.4):
        driver.run_to_target(driver.start(), value)
        assert driver.asha.next_job(driver.state) == NewTrial(bracket=0)
    driver.run_to_target(driver.start(), 0.6)
    # Three results at rung 0: the best one (trial 1, value 0.4) is in the top 1/3.
    assert driver.asha.next_job(driver.state) == Promote(number=1, to_rung=1)


def test_ties_favour_the_earlier_trial() -> None:
    driver = Driver(make_spec())
    for _ in range(3):
        driver.run_to_target(driver.start(), 1.0)
    assert driver.asha.next_job(driver.state) == Promote(number=0, to_rung=1)


def test_maximize_promotes_the_largest_value() -> None:
    driver = Driver(make_spec(objective=Objective("acc", "maximize")))
    for value in (0.1, 0.9, 0.5):
        driver.run_to_target(driver.start(), value)
    assert driver.asha.next_job(driver.state) == Promote(number=1, to_rung=1)


def test_higher_rungs_are_promoted_first() -> None:
    driver = Driver(make_spec())
    for value in range(1, 10):  # trials 0..8 at rung 0; the top third is 0, 1, 2
        driver.run_to_target(driver.start(), value)
    for expected in (0, 1, 2):
        job = driver.asha.next_job(driver.state)
        assert job == Promote(number=expected, to_rung=1)
        driver.promote(job)
        driver.run_to_target(expected, 0.1 * (expected + 1))
    for value in (0.5, 10, 11):  # 12 results at rung 0: trial 9 joins the top 4
        driver.run_to_target(driver.start(), value)
    # Both trial 0 (best of rung 1) and trial 9 (rung 0) are promotable; rung 1 goes first.
    job = driver.asha.next_job(driver.state)
    assert job == Promote(number=0, to_rung=2)
    driver.promote(job)
    driver.run_to_target(0, 0.05)
    assert driver.asha.next_job(driver.state) == Promote(number=9, to_rung=1)


def test_a_paused_trial_is_promotable_only_once_released() -> None:
    driver = Driver(make_spec())
    first = driver.start()
    driver.report(first, 1, 0.1)  # paused, still held by its worker
    for value in (0.5, 0.6):
        driver.run_to_target(driver.start(), value)
    assert driver.state.trials[first].state is TrialState.PAUSED
    assert driver.asha.next_job(driver.state) == NewTrial(bracket=0)
    driver.release(first)
    assert driver.asha.next_job(driver.state) == Promote(number=first, to_rung=1)


def test_budget_spent_waits_for_held_trials_then_finishes() -> None:
    driver = Driver(make_spec(max_trials=2))
    first, second = driver.start(), driver.start()
    assert driver.asha.next_job(driver.state) == WaitForResults()
    driver.run_to_target(first, 0.1)
    assert driver.asha.next_job(driver.state) == WaitForResults()
    driver.report(second, 1, 0.2)
    assert driver.asha.next_job(driver.state) == WaitForResults()  # paused but still held
    driver.release(second)
    assert driver.asha.next_job(driver.state) == StudyFinished()


def test_promotion_type_pauses_at_the_target_and_continues_between_rungs() -> None:
    driver = Driver(make_spec(resource=Resource(1, 9, 3)))
    number = driver.start()
    decision = driver.report(number, 0.5, 1.0)
    assert (decision.action, decision.rung, decision.next_resource) == (Action.CONTINUE, None, 1)
    decision = driver.report(number, 1, 0.9)
    assert (decision.action, decision.rung) == (Action.PAUSE, 0)


def test_reaching_r_max_completes() -> None:
    driver = Driver(make_spec(resource=Resource(1, 9, 3), asha_mode="stopping"))
    number = driver.start()
    assert driver.report(number, 1, 0.5).action is Action.CONTINUE
    between = driver.report(number, 2, 0.45)
    assert (between.action, between.rung, between.next_resource) == (Action.CONTINUE, None, 3)
    assert driver.report(number, 3, 0.4).action is Action.CONTINUE
    decision = driver.report(number, 9, 0.3)
    assert (decision.action, decision.rung) == (Action.COMPLETE, 2)


def test_stopping_type_keeps_the_top_third() -> None:
    """A trial continues iff it ranks in the top max(1, floor(n/eta)) of the n results so far."""
    driver = Driver(make_spec(asha_mode=AshaMode.STOPPING))
    sequence = [
        (0.5, Action.CONTINUE),  # 1 result: the best of fewer than eta continues
        (0.7, Action.STOP),  # rank 2 of 2, keep 1
        (0.4, Action.CONTINUE),  # rank 1 of 3, keep 1
        (0.45, Action.STOP),  # rank 2 of 4, keep 1
        (0.3, Action.CONTINUE),  # rank 1 of 5, keep 1
        (0.8, Action.STOP),  # rank 6 of 6, keep 2
        (0.35, Action.CONTINUE),  # rank 2 of 7, keep 2
    ]
    for value, action in sequence:
        number = driver.start()
        assert driver.state.trials[number].target_rung == driver.asha.top_rung
        decision = driver.report(number, 1, value)
        assert decision.action is action, (value, decision.reason)
        if action is Action.CONTINUE:
            assert decision.next_resource == 3


def test_stopping_type_never_promotes() -> None:
    driver = Driver(make_spec(asha_mode=AshaMode.STOPPING))
    for value in (1, 2, 3):
        driver.report(driver.start(), 1, value)
    assert driver.asha.next_job(driver.state) == NewTrial(bracket=0)


def test_random_search_trains_every_trial_to_r_max() -> None:
    driver = Driver(make_spec(algorithm=Algorithm.RANDOM, resource=Resource(1, 27, 3)))
    assert driver.asha.levels == (27,)
    numbers = [driver.start() for _ in range(5)]
    for number in numbers:
        for resource in (1, 3, 9):
            decision = driver.report(number, resource, float(number))
            assert decision.action is Action.CONTINUE and decision.rung is None
        assert driver.report(number, 27, float(number)).action is Action.COMPLETE
        driver.release(number)
    assert driver.asha.next_job(driver.state) == NewTrial(bracket=0)


def test_report_does_not_mutate_the_state() -> None:
    driver = Driver(make_spec())
    number = driver.start()
    before = (dict(driver.state.rungs), driver.state.trials[number].state)
    Asha(make_spec()).on_report(driver.state, number, 1, 0.3)
    assert (dict(driver.state.rungs), driver.state.trials[number].state) == before


def brute_force_promotion(driver: Driver) -> Promote | None:
    """The rule as the paper states it: scan each rung's top floor(n/eta), highest rung first,
    where a rung's results are those of every bracket, sorted afresh."""
    state, asha = driver.state, driver.asha
    for rung in range(asha.top_rung - 1, -1, -1):
        results = sorted(
            result
            for (_, at), bracket_results in state.rungs.items()
            if at == rung
            for result in bracket_results
        )
        for result in results[: len(results) // 3]:
            trial = state.trials[result.number]
            if trial.promotable and trial.rung == rung:
                return Promote(result.number, rung + 1)
    return None


@pytest.mark.parametrize("algorithm", ["asha", "hyperband"])
@pytest.mark.parametrize("seed", range(5))
def test_indexed_promotion_matches_the_rule_on_random_studies(seed: int, algorithm: str) -> None:
    """Trials finish in random order and are released late: the promotion found through the
    index is always the one a full scan finds (with Hyperband, over results pooled from every
    bracket)."""
    import random

    rng = random.Random(seed)
    driver = Driver(make_spec(max_trials=120, algorithm=algorithm))
    held: list[int] = []
    running: list[int] = []
    while True:
        expected = brute_force_promotion(driver)
        job = driver.asha.next_job(driver.state)
        if expected is not None:
            assert job == expected
        elif isinstance(job, (WaitForResults, StudyFinished)):
            if not (running or held):
                break
        else:
            assert isinstance(job, NewTrial)
        if isinstance(job, Promote):
            driver.promote(job)
            running.append(job.number)
        elif isinstance(job, NewTrial):
            running.append(driver.start(job.bracket))
        # Randomly finish a running trial at its target, or release a held one.
        if running and (rng.random() < 0.6 or not held):
            number = running.pop(rng.randrange(len(running)))
            trial = driver.state.trials[number]
            driver.report(number, driver.asha.levels[trial.target_rung], rng.random())
            held.append(number)
        elif held:
            driver.release(held.pop(rng.randrange(len(held))))
    assert driver.state.n_trials == 120
