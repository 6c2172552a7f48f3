"""The dashboard's scaling laws (``/api/studies/{name}/scaling``, docs/dashboard.md) over a real
store, SQLite and PostgreSQL, filled by a real coordinator: a family of studies at four scales
(and one at a new scale that started from the laws' proposal), a family over two scale
variables, a family with one scale, and a study of no family.

The route answers the coordinator's own fit (``FitScaling``, ``client.fit_scaling``) and its
proposal at the study's scale, with each law's line and interval sampled along each variable;
a family that cannot be fitted yet answers the reason (200, ``{"family", "error"}``); a study
of no family answers ``{"family": null}`` (200, not a 404: the study exists, it has no laws).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from hpo.client import Client
from hpo.coordinator.server import start_coordinator
from hpo.dashboard import views
from hpo.dashboard.app import create_app
from hpo.errors import FailedPreconditionError
from hpo.scaling.laws import ParameterLaw
from hpo.space import Float

SPACE = {"lr": Float(1e-5, 1.0, log=True), "warmup": Float(0.0, 0.2)}
# The family "lm": the best learning rate falls as n_params ** -0.4; warm-up does not move.
SCALES = (1e6, 4e6, 1.6e7, 6.4e7)
TARGET = 1e9  # the scale of "lm-target", which starts from the laws' proposal
# The family "grid" varies n_params and n_tokens; its "grid-target" gives only n_params.
GRID = ((1e6, 2e7), (1e6, 8e7), (4e6, 2e7), (4e6, 8e7), (1.6e7, 3.2e8))
TRIALS = 30
PLAIN, SOLO = "plain", "solo-1"


def best_lr(n_params: float, n_tokens: float = 2e7) -> float:
    return 0.03 * (n_params / 1e6) ** -0.4 * (n_tokens / 2e7) ** -0.15


def loss(config: dict[str, Any], best: float, rng: np.random.Generator) -> float:
    miss = math.log(config["lr"]) - math.log(best)
    return 1.0 + miss**2 + (config.get("warmup", 0.1) - 0.1) ** 2 + 0.02 * rng.normal()


def fill(client: Client) -> None:
    """The families: "lm" at four scales and "lm-target" started from its laws' proposal,
    "grid" over two variables and "grid-target" giving one, "solo" of one scale, and a study
    of no family. The browser test (tests/browser/test_dashboard_scaling.py) draws the same."""
    for n_params in SCALES:
        scale = {"n_params": n_params}
        run(client, f"lm-{int(n_params)}", SPACE, best_lr(n_params), scale=scale, family="lm")
    target = {"r_min": 1, "r_max": 1, "algorithm": "random", "scale": {"n_params": TARGET}}
    client.create_study(
        "lm-target", SPACE, family="lm", priors=[{"kind": "scaling", "family": "lm"}], **target
    )
    lr = {"lr": SPACE["lr"]}
    for n_params, n_tokens in GRID:
        scale = {"n_params": n_params, "n_tokens": n_tokens}
        best = best_lr(n_params, n_tokens)
        run(client, f"grid-{int(n_params)}-{int(n_tokens)}", lr, best, scale=scale, family="grid")
    client.create_study("grid-target", lr, family="grid", **target)
    run(client, SOLO, SPACE, best_lr(1e6), scale={"n_params": 1e6}, family="solo")
    run(client, PLAIN, SPACE, best_lr(1e6))


def run(client: Client, name: str, space: dict[str, Any], best: float, **spec: Any) -> None:
    """A random-search study of ``TRIALS`` trials at one scale, every trial at full resource."""
    rng = np.random.default_rng(len(name))
    study = client.create_study(
        name, space, r_min=1, r_max=1, algorithm="random", max_trials=TRIALS, **spec
    )
    while (trial := study.suggest()) is not None:
        trial.report(1, loss(trial.config, best, rng))
        trial.complete()


@dataclass
class World:
    client: Client
    api: TestClient

    def get(self, path: str, status: int = 200) -> Any:
        response = self.api.get(f"/api{path}")
        assert response.status_code == status, response.text
        return response.json()

    def scaling(self, study: str) -> dict[str, Any]:
        return self.get(f"/studies/{study}/scaling")  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def world(module_store_url: str) -> Iterator[World]:
    coordinator = start_coordinator(module_store_url, "127.0.0.1", 0, lease_seconds=600)
    try:
        with Client(coordinator.address, timeout=30) as client:
            fill(client)
            with TestClient(create_app(module_store_url, anonymous=True, warm_up_studies=0)) as api:
                yield World(client, api)
    finally:
        coordinator.stop(grace=1)


def check_lines(document: dict[str, Any], ranges: dict[str, tuple[float, float]]) -> None:
    """Every law's line along each variable: ``SCALING_SAMPLES`` scales evenly spaced in log
    over ``ranges[variable]``, the others held at ``held``, each with the law's prediction."""
    held = document["held"]
    assert set(document["lines"]) == set(document["fit"]["laws"])
    for parameter, lines in document["lines"].items():
        law = ParameterLaw.from_json(document["fit"]["laws"][parameter])
        assert set(lines) == set(ranges)
        for variable, samples in lines.items():
            xs = [sample["x"] for sample in samples]
            low, high = ranges[variable]
            assert len(xs) == views.SCALING_SAMPLES
            assert (xs[0], xs[-1]) == (pytest.approx(low), pytest.approx(high))
            steps = np.diff(np.log(xs))
            assert steps == pytest.approx(np.full(len(steps), steps[0]))
            for sample in samples:
                expected = law.predict({**held, variable: sample["x"]})
                got = (sample["estimate"], sample["lower"], sample["upper"])
                assert got == pytest.approx(expected)
                assert sample["lower"] <= sample["estimate"] <= sample["upper"]


def test_the_laws_and_points_are_the_coordinators(world: World) -> None:
    document = world.scaling("lm-target")
    laws = world.client.fit_scaling("lm")
    assert document["family"] == "lm" and "error" not in document
    assert document["fit"]["laws"] == laws.fit["laws"]
    assert document["fit"]["points"] == laws.fit["points"]
    assert document["fit"] == laws.fit
    assert [point["scale"] for point in document["fit"]["points"]] == [
        {"n_params": n_params} for n_params in SCALES
    ]
    assert set(document["fit"]["laws"]) == {"lr", "warmup"}
    assert document["fit"]["laws"]["lr"]["log"] and not document["fit"]["laws"]["warmup"]["log"]
    # The study's scale, and the laws' proposal there: FitScaling's, and the configuration the
    # study's scaling prior proposed when it was created (it has no result of its own).
    assert document["scale"] == document["held"] == {"n_params": TARGET}
    proposed = world.client.fit_scaling("lm", {"n_params": TARGET})
    assert document["proposal"] == proposed.proposal
    assert document["proposal"]["config"] == proposed.config
    priors = world.client.get_study("lm-target").priors().proposals
    assert [(p.source, p.config) for p in priors] == [("scaling", proposed.config)]
    # The line runs from the smallest point to the study's scale, where it is the proposal.
    check_lines(document, {"n_params": (SCALES[0], TARGET)})
    end = document["lines"]["lr"]["n_params"][-1]
    assert end["estimate"] == pytest.approx(document["proposal"]["estimates"]["lr"])
    assert [end["lower"], end["upper"]] == pytest.approx(document["proposal"]["intervals"]["lr"])


def test_a_study_inside_the_points_has_its_proposal_and_the_points_range(world: World) -> None:
    document = world.scaling(f"lm-{int(SCALES[1])}")
    assert document["fit"] == world.client.fit_scaling("lm").fit
    scale = {"n_params": SCALES[1]}
    assert document["scale"] == document["held"] == scale
    assert document["proposal"] == world.client.fit_scaling("lm", scale).proposal
    assert document["proposal"]["extrapolation"] == {"n_params": 0.0}
    check_lines(document, {"n_params": (SCALES[0], SCALES[-1])})


def test_a_variable_the_study_lacks_is_held_at_the_largest_point(world: World) -> None:
    """ "grid-target" gives n_params only: no proposal (the laws need n_tokens too), and the
    lines hold n_tokens at the largest scale point's."""
    document = world.scaling("grid-target")
    assert document["fit"] == world.client.fit_scaling("grid").fit
    assert document["fit"]["variables"] == ["n_params", "n_tokens"]
    assert len(document["fit"]["points"]) == len(GRID)
    assert document["scale"] == {"n_params": TARGET} and document["proposal"] is None
    largest = max(GRID, key=lambda scale: scale[0] * scale[1])
    assert document["held"] == {"n_params": TARGET, "n_tokens": largest[1]}
    tokens = [n_tokens for _, n_tokens in GRID]
    check_lines(
        document, {"n_params": (GRID[0][0], TARGET), "n_tokens": (min(tokens), max(tokens))}
    )


def test_a_family_of_one_scale_answers_why_it_has_no_laws(world: World) -> None:
    with pytest.raises(FailedPreconditionError) as refused:
        world.client.fit_scaling("solo")
    document = world.scaling(SOLO)
    assert document == {"family": "solo", "error": str(refused.value)}
    assert document["error"].startswith("family 'solo': all ")
    assert "2 or more distinct scales" in document["error"]


def test_a_study_of_no_family_has_no_laws(world: World) -> None:
    assert world.scaling(PLAIN) == {"family": None}
    assert world.get(f"/studies/{PLAIN}")["study"]["family"] is None
    assert world.get("/studies/lm-target")["study"]["family"] == "lm"
    assert world.get(f"/studies/{SOLO}")["study"]["family"] == "solo"


def test_the_route_takes_no_parameters(world: World) -> None:
    refused = world.get("/studies/lm-target/scaling?scale=1", status=400)
    assert refused["field"] == "scale"
    assert world.get("/studies/nope/scaling", status=404) == {
        "error": "study 'nope' does not exist"
    }


def test_the_view_reads_on_an_engine_as_on_a_connection(world: World) -> None:
    engine = world.api.app.state.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        study = views.load_study(connection, "grid-target")
        on_connection = views.scaling(connection, study)
    assert views.scaling(engine, study) == on_connection == world.scaling("grid-target")
