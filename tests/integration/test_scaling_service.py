"""Scaling laws over the real coordinator, on SQLite and PostgreSQL (docs/scaling.md): a family
of studies at several scales yields laws with intervals (``FitScaling``, ``hpo scaling fit`` and
``propose``), and a study at a new scale starts from their proposal (a ``scaling`` prior); bad
requests are refused naming the field, and write nothing."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import numpy as np
import pytest
from typer.testing import CliRunner

from hpo.cli import app as cli
from hpo.client import Client
from hpo.coordinator.server import start_coordinator
from hpo.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from hpo.space import Float, Int

SPACE = {"lr": Float(1e-5, 1.0, log=True), "warmup": Float(0.0, 0.2)}
# The family's law: the best learning rate falls as n_params ** -0.4; warm-up does not move.
EXPONENT = -0.4
SCALES = (1e6, 4e6, 1.6e7, 6.4e7)
runner = CliRunner()


def best_lr(n_params: float) -> float:
    return 0.03 * (n_params / 1e6) ** EXPONENT


def loss(config: dict, n_params: float, rng: np.random.Generator) -> float:
    miss = math.log(config["lr"]) - math.log(best_lr(n_params))
    return 1.0 + miss**2 + (config["warmup"] - 0.1) ** 2 + 0.02 * rng.normal()


@pytest.fixture
def family(store_url: str) -> Iterator[Client]:
    """A coordinator whose store holds the family "lm": one random-search study per scale."""
    running = start_coordinator(store_url, "127.0.0.1", 0, lease_seconds=30)
    rng = np.random.default_rng(7)
    try:
        with Client(running.address, timeout=30) as client:
            for n_params in SCALES:
                study = client.create_study(
                    f"lm-{int(n_params)}", SPACE, r_min=1, r_max=1, algorithm="random",
                    max_trials=40, scale={"n_params": n_params}, family="lm",
                )  # fmt: skip
                while (trial := study.suggest()) is not None:
                    trial.report(1, loss(trial.config, n_params, rng))
                    trial.complete()
            yield client
    finally:
        running.stop(grace=1)


def test_a_family_fits_its_law_and_a_new_scale_starts_from_its_proposal(family: Client) -> None:
    laws = family.fit_scaling("lm")
    law = laws.fit["laws"]["lr"]
    low, high = law["intervals"]["n_params"]
    assert law["log"] and low <= EXPONENT <= high
    assert [point["scale"]["n_params"] for point in laws.fit["points"]] == list(SCALES)
    assert laws.config is None and laws.proposal is None

    target = 1e9
    proposed = family.fit_scaling("lm", {"n_params": target})
    assert proposed.config is not None and proposed.proposal is not None
    lower, upper = proposed.proposal["intervals"]["lr"]
    assert lower <= best_lr(target) <= upper
    assert abs(math.log(proposed.config["lr"] / best_lr(target))) < math.log(2)

    study = family.create_study(
        "lm-1e9", SPACE, r_min=1, r_max=9, algorithm="asha", scale={"n_params": target},
        family="lm", priors=[{"kind": "scaling", "family": "lm"}],
    )  # fmt: skip
    first, second = study.suggest(), study.suggest()
    assert first is not None and first.config == proposed.config
    # The laws' proposal trains straight to r_max; the next trial starts at the bottom rung.
    assert (first.resource, first.record.source) == (9, "scaling")
    assert second is not None and second.resource == 1
    proposals = study.priors().proposals
    assert [(p.source, p.config) for p in proposals] == [("scaling", proposed.config)]


def test_the_cli_prints_the_laws_and_the_proposal(family: Client) -> None:
    address = family.address
    fitted = runner.invoke(
        cli, ["scaling", "fit", "--family", "lm", "-c", address, "--format", "json"]
    )
    assert fitted.exit_code == 0, fitted.output
    assert json.loads(fitted.output) == family.fit_scaling("lm").fit
    table = runner.invoke(cli, ["scaling", "fit", "--family", "lm", "-c", address])
    assert table.exit_code == 0 and "exponent of n_params" in table.output
    proposed = runner.invoke(
        cli, ["scaling", "propose", "--family", "lm", "--n-params", "1e9", "-c", address,
              "--format", "json"],
    )  # fmt: skip
    assert proposed.exit_code == 0, proposed.output
    assert json.loads(proposed.output) == family.fit_scaling("lm", {"n_params": 1e9}).proposal
    shown = runner.invoke(
        cli, ["scaling", "propose", "--family", "lm", "--scale", "n_params=1e9", "-c", address]
    )
    assert shown.exit_code == 0 and "lr" in shown.output and "extrapolated" in shown.output


def test_bad_requests_name_the_field_and_write_nothing(family: Client) -> None:
    with pytest.raises(NotFoundError, match="family 'nobody' has no studies"):
        family.fit_scaling("nobody")
    with pytest.raises(InvalidArgumentError, match="^scale: family 'lm' varies n_params"):
        family.fit_scaling("lm", {"n_tokens": 1e9})
    with pytest.raises(InvalidArgumentError, match=r"^scale\.n_params: must be a number > 0"):
        family.fit_scaling("lm", {"n_params": -1.0})
    before = {study.name for study in family.studies()}
    scaling = [{"kind": "scaling", "family": "lm"}]
    with pytest.raises(InvalidArgumentError, match="^scale: a scaling prior proposes"):
        family.create_study("no-scale", SPACE, r_min=1, r_max=1, priors=scaling)
    with pytest.raises(InvalidArgumentError, match=r"^priors\[0\]\.family: family 'thin'"):
        family.create_study(
            "thin-1", SPACE, r_min=1, r_max=1, scale={"n_params": 1e6}, family="thin"
        )
        family.create_study(
            "thin-2", SPACE, r_min=1, r_max=1, scale={"n_params": 1e7},
            priors=[{"kind": "scaling", "family": "thin"}],
        )  # fmt: skip
    assert {study.name for study in family.studies()} == before | {"thin-1"}
    with pytest.raises(FailedPreconditionError, match="family 'thin': "):
        family.fit_scaling("thin")


def test_scale_fields_are_checked_in_the_spec(family: Client) -> None:
    with pytest.raises(InvalidArgumentError, match=r"^scale_parameters\[0\]: 'warmup' is not"):
        family.create_study("bad", SPACE, r_min=1, r_max=1, scale_parameters=["warmup"])
    with pytest.raises(InvalidArgumentError, match=r"^scale\.n_params: must be a number > 0"):
        family.create_study("bad", SPACE, r_min=1, r_max=1, scale={"n_params": 0})
    with pytest.raises(InvalidArgumentError, match="^family: "):
        family.create_study("bad", SPACE, r_min=1, r_max=1, family="no spaces allowed")


def test_a_scale_parameter_gives_each_trial_its_own_scale(family: Client) -> None:
    """``scale_parameters``: one study samples the model size itself (millions of parameters,
    1 to 4); each completed trial is an observation at its own size, so one study holds the
    family's four scale points."""
    rng = np.random.default_rng(3)
    study = family.create_study(
        "sizes", {**SPACE, "size": Int(1, 4)}, r_min=1, r_max=1, algorithm="random",
        max_trials=160, scale_parameters=["size"], family="by-size",
    )  # fmt: skip
    while (trial := study.suggest()) is not None:
        trial.report(1, loss(trial.config, trial.config["size"] * 1e6, rng))
        trial.complete()
    laws = family.fit_scaling("by-size")
    assert laws.fit["variables"] == ["size"] and set(laws.fit["laws"]) == {"lr", "warmup"}
    assert [point["scale"]["size"] for point in laws.fit["points"]] == [1, 2, 3, 4]
    low, high = laws.fit["laws"]["lr"]["intervals"]["size"]
    assert low <= EXPONENT <= high


def test_a_scaling_prior_needs_a_fixed_scale(family: Client) -> None:
    with pytest.raises(InvalidArgumentError, match="^scale_parameters: a scaling prior"):
        family.create_study(
            "both", {**SPACE, "size": Int(1, 4)}, r_min=1, r_max=1, scale={"n_params": 1e9},
            scale_parameters=["size"], priors=[{"kind": "scaling", "family": "lm"}],
        )  # fmt: skip
