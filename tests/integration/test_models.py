"""The coordinator's background model process: real spawned processes, real BoTorch fits."""

from __future__ import annotations

import logging
import os
import select
from collections.abc import Callable
from pathlib import Path

import pytest

from hpo.client import Client
from hpo.coordinator.fit_process import ModelManager
from hpo.coordinator.server import Coordinator, start_coordinator
from hpo.local import LocalAssignment, LocalStudy
from hpo.samplers.gp import FitResult
from hpo.samplers.gp_fit import fit_and_propose
from hpo.samplers.model_input import MIN_RESULTS, ModelInput
from hpo.space import Float, Int, Space
from hpo.spec import Resource, StudySpec
from tests.conftest import ServeProcess
from tests.local_runs import model_expected, seed_giving_model

SPACE = {"x": Float(-2, 2), "n": Int(1, 16, log=True)}
FIT_SECONDS = 120


def loss(config: dict, resource: float) -> float:
    return (config["x"] - 0.5) ** 2 + abs(config["n"] - 4) / 16 + 1 / resource


def _die_on_the_first_fit(data: ModelInput, warm: dict | None) -> FitResult:
    """A fit whose process dies on the first snapshot (it runs in the spawned process)."""
    if data.n_results == MIN_RESULTS:
        os._exit(3)
    return fit_and_propose(data, warm)


def test_new_trials_take_the_models_candidates_once_a_fit_is_done(
    coordinator: Coordinator, client: Client
) -> None:
    # A seed whose portfolio gives trial MIN_RESULTS to the model whatever its trust.
    study = client.create_study("gp", SPACE, r_min=1, r_max=1, seed=seed_giving_model(MIN_RESULTS))
    for _ in range(MIN_RESULTS):
        with study.suggest() as trial:
            assert trial.record.source == "random"
            trial.report(1, loss(trial.config, 1))
    assert coordinator.models.wait_idle(FIT_SECONDS)
    with study.suggest() as trial:
        assert trial.record.source == "model"
        trial.report(1, loss(trial.config, 1))


def test_a_dead_model_process_costs_a_log_line_and_is_replaced(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Trial MIN_RESULTS + 1 is the first after the replacement process's fit.
    seed = seed_giving_model(MIN_RESULTS + 1)
    spec = StudySpec(name="dies", space=Space(SPACE), resource=Resource(1, 1), seed=seed)
    models = ModelManager(fit=_die_on_the_first_fit)
    study = LocalStudy(spec, models)
    try:
        with caplog.at_level(logging.WARNING, logger="hpo.coordinator.fit_process"):
            for _ in range(MIN_RESULTS):
                job = study.suggest("w")
                assert isinstance(job, LocalAssignment)
                study.report(job.number, 1, loss(job.config, 1))
                study.complete(job.number)
            assert models.wait_idle(FIT_SECONDS)
        assert "the model process died" in caplog.text
        job = study.suggest("w")  # no pool: sampled at random, and no crash
        assert isinstance(job, LocalAssignment) and job.source == "random"
        study.report(job.number, 1, loss(job.config, 1))  # a new result: a fit, a new process
        study.complete(job.number)
        assert models.wait_idle(FIT_SECONDS)
        job = study.suggest("w")
        assert isinstance(job, LocalAssignment) and job.source == "model"
    finally:
        models.close()


def test_a_deterministic_study_repeats_its_suggestions_over_the_server(tmp_path: Path) -> None:
    """One worker, a fixed seed: two coordinators on fresh stores hand out the same sequence
    of configurations and resources (the GP included: suggest waits for its due fit)."""

    def sequence(db: Path) -> list[tuple]:
        coordinator = start_coordinator(f"sqlite:///{db}", port=0)
        try:
            with Client(coordinator.address) as client:
                study = client.create_study(
                    "repeat", SPACE, r_min=1, r_max=9, seed=7, max_trials=14, deterministic=True
                )
                seen = []
                while (trial := study.suggest()) is not None:
                    with trial:
                        seen.append(
                            (trial.number, trial.config, trial.resource, trial.record.source)
                        )
                        trial.report(trial.resource, loss(trial.config, trial.resource))
                return seen
        finally:
            coordinator.stop()

    first = sequence(tmp_path / "first.db")
    assert first == sequence(tmp_path / "second.db")
    # Each assignment adds one result. Suggest waits for the fit due on the results so far, so
    # once MIN_RESULTS results exist every new trial the portfolio gives the model is the
    # model's (and every one before is random).
    started: dict[int, tuple[int, str]] = {}  # trial -> (results before it started, source)
    for index, (number, *_, source) in enumerate(first):
        started.setdefault(number, (index, source))
    assert {source for index, source in started.values() if index < MIN_RESULTS} == {"random"}
    later = {number: source for number, (index, source) in started.items() if index >= MIN_RESULTS}
    assert "model" in later.values()
    for number, source in later.items():
        expected = model_expected(7, number)
        if expected is not None:
            assert source == ("model" if expected else "random"), number


def _children(pid: int) -> set[int]:
    """The processes ``pid`` started (Linux: /proc/PID/task/*/children)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(child) for child in (task / "children").read_text().split())
    return found


def _wait_for_exit(pid: int, timeout: float) -> bool:
    """Whether process ``pid`` (not our child) ends within ``timeout`` seconds."""
    try:
        descriptor = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([descriptor], [], [], timeout)[0])
    finally:
        os.close(descriptor)


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs Linux pidfds")
def test_the_model_process_dies_with_a_killed_coordinator(
    serve: Callable[..., ServeProcess], tmp_path: Path
) -> None:
    """SIGKILL of ``hpo serve`` left its model process (and its resource tracker) running for
    good, reparented to init (issue 15, defect 4)."""
    coordinator = serve(f"sqlite:///{tmp_path / 'hpo.db'}")
    with Client(coordinator.address) as client:
        # deterministic: the suggest after MIN_RESULTS results waits for the fit, so the model
        # process exists when it returns.
        study = client.create_study("gp", SPACE, r_min=1, r_max=1, seed=3, deterministic=True)
        for _ in range(MIN_RESULTS + 1):
            with study.suggest() as trial:
                trial.report(1, loss(trial.config, 1))
    spawned = _children(coordinator.process.pid)
    assert spawned, "the coordinator started no model process"
    coordinator.kill()
    alive = [pid for pid in spawned if not _wait_for_exit(pid, 30)]
    assert alive == [], f"still running after the coordinator was killed: {alive}"
