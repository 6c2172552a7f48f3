"""Fixtures for the dashboard's browser tests: a real study, a real ``hpo dashboard``, Chromium.

The store is filled by a real coordinator (in this process) and the client loop, the way a
worker would: ``hyperband`` in ``stopping`` mode over three brackets, so the study has
completed trials, trials stopped at rungs, promotions, a failed trial, an enqueued one
(source ``user``), the configurations of an LLM prior (the coordinator asks the real
SmolLM2 server of ``tests.conftest.llm_server`` and records the exchange, as for any study)
and, at the end, one trial left running for the live-update test. The dashboard is the real
``python -m hpo dashboard`` in a subprocess, on a free port.

The browser is the system's Chromium (Debian's ``chromium`` and ``chromium-driver``) driven
by Selenium without Selenium Manager (nothing is downloaded). Without them the tests skip
with the reason, unless ``HPO_REQUIRE_BROWSER=1``, which turns the skip into a failure.
"""

from __future__ import annotations

import importlib.util
import math
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import hpo
from hpo.client import Client, Study, Trial
from hpo.coordinator.server import Coordinator, start_coordinator
from tests.conftest import hpo_dashboard

CHROMIUM = os.environ.get("HPO_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("HPO_CHROMEDRIVER", "/usr/bin/chromedriver")
REQUIRE_BROWSER = os.environ.get("HPO_REQUIRE_BROWSER") == "1"

STUDY = "mlp-digits"
FINISHED_STUDY = "baseline-random"
# The failed trial's reason carries markup: the pages must show it as text, never run it.
FAIL_REASON = 'RuntimeError: CUDA out of memory <img src=x onerror="document.body.dataset.pwned=1">'
SPACE = {
    "learning_rate": hpo.Float(1e-4, 0.3, log=True),
    "units": hpo.Int(16, 256, log=True),
    "activation": hpo.Categorical(["relu", "tanh", "gelu"]),
    "dropout": hpo.Float(0.0, 0.5),
}
# Rungs at 1, 3, 9 and 27 epochs: four brackets.
RESOURCE = {"r_min": 1, "r_max": 27, "eta": 3, "resource_name": "epochs"}
FINISHED_TRIALS = 45
ENQUEUED = {"learning_rate": 0.01, "units": 64, "activation": "gelu", "dropout": 0.2}
# The study's LLM prior: two configurations asked of the test server's model (SmolLM2-135M;
# it answers in 5-10 s on two cores, generously bounded here).
LLM_CONFIGS = 2


def llm_prior(base_url: str) -> dict[str, Any]:
    return {
        "kind": "llm",
        "base_url": base_url,
        "model": "smollm2",
        "n_configs": LLM_CONFIGS,
        "timeout_seconds": 180,
        "retries": 1,
    }


def loss(config: dict[str, Any], epoch: float) -> float:
    """A smooth, deterministic validation loss: best near lr 1e-2, 64 units, dropout 0.2."""
    base = (
        0.3 * (math.log10(config["learning_rate"]) + 2) ** 2
        + 0.05 * abs(math.log2(config["units"]) - 6)
        + 0.8 * (config["dropout"] - 0.2) ** 2
        + {"relu": 0.0, "tanh": 0.06, "gelu": 0.02}[config["activation"]]
    )
    return round(base + 0.9 / math.sqrt(epoch), 6)


def train(trial: Trial) -> None:
    """The client loop's body: one report per epoch until the coordinator says stop."""
    with trial:
        for epoch in range(int(trial.resume_from) + 1, int(trial.resource) + 1):
            if trial.report(epoch, loss(trial.config, epoch)).should_stop:
                break


@dataclass
class FilledStudy:
    url: str  # the dashboard's base URL
    db: str  # the store's URL
    name: str
    client: Client
    study: Study
    running: Trial  # reported once at epoch 1, still running: the live test reports it
    running_value: float  # its report
    failed_number: int
    enqueued_number: int


def _fill(client: Client, llm_url: str) -> tuple[Study, Trial, float, int, int]:
    # A small finished study, so the list shows more than one state.
    baseline = client.create_study(
        FINISHED_STUDY, SPACE, algorithm="random", max_trials=3, metric="val_loss", **RESOURCE
    )
    while (trial := baseline.suggest()) is not None:
        train(trial)

    study = client.create_study(
        STUDY,
        SPACE,
        algorithm="hyperband",
        asha_mode="stopping",
        max_trials=FINISHED_TRIALS + 15,  # stays running: one trial is left running
        metric="val_loss",
        description="MLP on digits, filled by tests/browser/conftest.py",
        seed=7,
        priors=[llm_prior(llm_url)],
        **RESOURCE,
    )
    # Enqueued while the LLM is asked: it runs first, then the LLM's proposals (the first
    # suggest waits for the answer).
    study.enqueue(ENQUEUED)
    failed_number = enqueued_number = -1
    for index in range(FINISHED_TRIALS):
        trial = study.suggest()
        assert trial is not None
        if trial.config == ENQUEUED:
            enqueued_number = trial.number
        if index >= 4 and failed_number < 0:
            # One trial fails after its first report (when that report lets it go on).
            with trial:
                if not trial.report(1, loss(trial.config, 1)).should_stop:
                    trial.fail(FAIL_REASON)
                    failed_number = trial.number
        else:
            train(trial)
    # The trial left running reports just below the best result at epoch 1 (rung 0): the best
    # result of a rung always continues (stopping mode), so it stays running; the live test
    # then reports at epoch 2, between rungs.
    running = study.suggest()
    assert running is not None
    at_rung_0 = [
        r.value for t in study.trials(include_reports=True) for r in t.reports if r.rung == 0
    ]
    running_value = round(min(at_rung_0) - 0.01, 6)
    assert not running.report(1, running_value).should_stop
    assert failed_number >= 0 and enqueued_number >= 0
    return study, running, running_value, failed_number, enqueued_number


@pytest.fixture(scope="session")
def browser_binaries() -> None:
    reasons = []
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if missing:
        reasons.append(
            f"{' and '.join(missing)} not found: install Debian's chromium and chromium-driver "
            "(or set HPO_CHROMIUM / HPO_CHROMEDRIVER)"
        )
    if importlib.util.find_spec("selenium") is None:
        reasons.append("selenium is not installed (pip install -e '.[dev]')")
    if reasons:
        message = "; ".join(reasons)
        if REQUIRE_BROWSER:
            pytest.fail(f"HPO_REQUIRE_BROWSER=1 but {message}")
        pytest.skip(message)


@pytest.fixture(scope="module")
def filled(
    browser_binaries: None, llm_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FilledStudy]:
    """A coordinator with the studies above, and the dashboard serving the same store."""
    directory = tmp_path_factory.mktemp("dashboard")
    db = f"sqlite:///{directory / 'hpo.db'}"
    # A long lease: the trial left running must stay running for the whole module.
    coordinator: Coordinator = start_coordinator(db, "127.0.0.1", 0, lease_seconds=3600)
    client = Client(coordinator.address, timeout=30)
    try:
        study, running, running_value, failed_number, enqueued_number = _fill(client, llm_server)
        with hpo_dashboard(db, directory / "dashboard.log") as url:
            yield FilledStudy(
                url,
                db,
                STUDY,
                client,
                study,
                running,
                running_value,
                failed_number,
                enqueued_number,
            )
    finally:
        client.close()
        coordinator.stop(grace=1)


@pytest.fixture(scope="module")
def driver(browser_binaries: None) -> Iterator[Any]:
    """Headless Chromium, 1400x2000 so a screenshot shows the plots."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,2000",
    ):
        options.add_argument(argument)
    # The console is read after each page: a JavaScript error fails the test.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    browser.set_page_load_timeout(60)
    try:
        yield browser
    finally:
        browser.quit()
