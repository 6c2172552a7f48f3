"""Growing r_max on a live study (iterative deepening Hyperband, Brandt et al.)."""

from __future__ import annotations

import pytest

from hpo.errors import InvalidArgumentError
from hpo.local import LocalAssignment, LocalStudy
from hpo.samplers import InlineModels
from hpo.schedulers import StudyFinished
from hpo.schedulers.rungs import rung_levels
from hpo.space import Float, Space
from hpo.spec import Resource, StudySpec
from hpo.vocabulary import TrialState


def make_spec(**overrides: object) -> StudySpec:
    fields: dict = {
        "name": "deepen",
        "space": Space({"x": Float(0, 1)}),
        "resource": Resource(1, 9, 3),
        "algorithm": "asha",
        "max_trials": 27,
        "seed": 8,
    }
    fields.update(overrides)
    return StudySpec(**fields)


def run_to_the_end(study: LocalStudy) -> list[tuple[int, float, float]]:
    """One worker until the study finishes; value = x, whatever the resource. Returns the
    assignments as (trial, resume_from, resource)."""
    assignments = []
    while isinstance(job := study.suggest("w"), LocalAssignment):
        assignments.append((job.number, job.resume_from, job.resource))
        study.report(job.number, job.resource, float(job.config["x"]))
        study.complete(job.number)
    assert isinstance(job, StudyFinished)
    return assignments


def test_earlier_tops_stay_rungs() -> None:
    assert rung_levels(Resource(1, 10, 3).extended(100)) == (1, 3, 9, 10, 27, 81, 100)
    assert rung_levels(Resource(1, 9, 3).extended(81)) == (1, 3, 9, 27, 81)
    spec = make_spec().extended(27).extended(81)
    assert spec.resource.earlier_r_max == (9, 27)


@pytest.mark.parametrize("r_max", [9, 5, float("nan"), True])
def test_r_max_must_grow(r_max: float) -> None:
    with pytest.raises(InvalidArgumentError) as error:
        make_spec().extended(r_max)
    assert error.value.field == "r_max"


def test_a_spec_created_before_an_extension_still_matches_the_study() -> None:
    spec = make_spec()
    extended = spec.extended(27).extended(81)
    assert extended.matches(spec) and extended.matches(spec.extended(27))
    assert not extended.matches(make_spec(resource=Resource(1, 27, 3)))
    assert not extended.matches(make_spec(seed=9))


@pytest.mark.parametrize(
    ("algorithm", "asha_mode"),
    [
        ("asha", "promotion"),
        ("asha", "stopping"),
        ("hyperband", "promotion"),
        ("hyperband", "stopping"),
        # The scheduler is hyperband's; what differs is where configurations come from.
        ("gp-hyperband", "promotion"),
    ],
)
def test_raising_r_max_continues_the_best_trials_and_reruns_nothing(
    algorithm: str, asha_mode: str
) -> None:
    # Fits once half the data is new (a busy coordinator's pace): a fit per report is slow here.
    models = InlineModels(refit_fraction=0.5)
    study = LocalStudy(make_spec(asha_mode=asha_mode, algorithm=algorithm), models)
    run_to_the_end(study)
    if algorithm == "gp-hyperband":
        assert "model" in {trial.source for trial in study.state.trials.values()}
    at_top = {
        number: (float(trial.config["x"]), number)  # ranked by value, earlier trials win ties
        for number, trial in study.state.trials.items()
        if trial.state is TrialState.COMPLETED
    }
    assert len(at_top) >= 3
    reopened = study.extend(27)
    assert sorted(reopened) == sorted(at_top)
    after = run_to_the_end(study)
    # No new trial (the budget was spent) and no assignment starts below the old top.
    assert study.state.n_trials == 27
    assert all(resume_from == 9 and resource == 27 for _, resume_from, resource in after)
    # The top 1/eta of the trials that reached 9 continue to 27, all brackets together (results
    # at one rung are compared whatever their bracket): the best ones.
    best = sorted(at_top, key=at_top.get)[: len(at_top) // 3]
    continued = sorted({number for number, _, _ in after})
    assert best and continued == sorted(best)
    assert len(after) == len(best), "each continued trial is assigned once"
