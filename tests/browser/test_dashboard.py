"""The dashboard's pages in a real browser, over a real study and the real ``hpo dashboard``.

Every wait is on a DOM condition (WebDriverWait), never a bare sleep: the pages say when
they are done through ``body[data-ready]``, ``body[data-version]``, each plot's
``data-points`` and the table's ``aria-busy``.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hpo.auth import generate_secret
from hpo.client import TrialRecord
from hpo.priors.llm import SYSTEM_MESSAGE
from tests.browser.conftest import (
    FAIL_REASON,
    FINISHED_STUDY,
    SPACE,
    FilledStudy,
)
from tests.conftest import REPOSITORY, hpo_dashboard

pytestmark = pytest.mark.e2e

WAIT = 60  # seconds: generous, for two cores shared with the study and the server
PLOTS = (
    "plot-history-time",
    "plot-history-resource",
    "plot-curves",
    "plot-rungs",
    "plot-parcoords",
    "plot-scatter",
    "plot-importance",
)
SCREENSHOT = REPOSITORY / "docs" / "img" / "dashboard-study.png"
UPDATE_SCREENSHOT = "HPO_UPDATE_SCREENSHOT"
# Where the test run's artifacts (the study page's screenshot) are kept for people and CI.
ARTIFACTS = Path(os.environ.get("HPO_TEST_ARTIFACTS") or REPOSITORY / "tests" / "artifacts")

# One column of the trial table, as the raw values the cells carry (data-value).
COLUMN = """
return [...document.querySelectorAll(
  '#trials tbody tr[data-number] td[data-field="' + arguments[0] + '"]'
)].map((td) => td.dataset.value);
"""


def wait(driver: Any, condition: Callable[[Any], Any], timeout: float = WAIT) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)


def js(driver: Any, script: str, *args: Any) -> Any:
    return driver.execute_script(script, *args)


def open_page(driver: Any, url: str) -> None:
    """Load a page and wait until every panel of its first load has rendered."""
    driver.get(url)
    wait(driver, lambda d: js(d, "return document.body.dataset.ready") == "1")


def console_errors(driver: Any) -> list[str]:
    """JavaScript errors (and failed requests) logged since the last call."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


@pytest.fixture
def page(driver: Any) -> Iterator[Any]:
    """The browser, checked after the test: the page logged no error."""
    console_errors(driver)  # drop what earlier tests left
    yield driver
    assert console_errors(driver) == []


def numbers(driver: Any) -> list[int]:
    return [int(value) for value in js(driver, COLUMN, "number")]


def table_settled(driver: Any) -> bool:
    return js(driver, "return !document.getElementById('trials').hasAttribute('aria-busy')")


def trials(filled: FilledStudy) -> list[TrialRecord]:
    return filled.study.trials()


def best_value(filled: FilledStudy) -> float:
    best = filled.study.best()
    assert best is not None
    return best.value


def clear_and_type(driver: Any, selector: str, text: str) -> None:
    from selenium.webdriver.common.by import By

    field = driver.find_element(By.CSS_SELECTOR, selector)
    field.clear()
    if text:
        field.send_keys(text)


# ---------------------------------------------------------------- the study list


def test_the_study_list_shows_each_study(filled: FilledStudy, page: Any) -> None:
    from selenium.webdriver.common.by import By

    open_page(page, filled.url + "/")
    row = page.find_element(By.CSS_SELECTOR, f'#studies tr[data-study="{filled.name}"]')
    assert row.find_element(By.CSS_SELECTOR, "td.name a").text == filled.name
    assert row.find_element(By.CSS_SELECTOR, "td.state").get_attribute("data-value") == "running"
    assert row.find_element(By.CSS_SELECTOR, "td.trials").text == str(len(trials(filled)))
    best = row.find_element(By.CSS_SELECTOR, "td.best").get_attribute("data-value")
    assert float(best) == pytest.approx(best_value(filled))
    assert row.find_element(By.CSS_SELECTOR, "td.workers").text == "1"  # the running trial's

    finished = page.find_element(By.CSS_SELECTOR, f'#studies tr[data-study="{FINISHED_STUDY}"]')
    assert finished.find_element(By.CSS_SELECTOR, "td.state").text == "finished"
    assert finished.find_element(By.CSS_SELECTOR, "td.trials").text == "3"

    # The name links to the study page.
    row.find_element(By.CSS_SELECTOR, "td.name a").click()
    wait(page, lambda d: js(d, "return document.body.dataset.ready") == "1")
    assert page.current_url == f"{filled.url}/studies/{filled.name}"
    assert page.find_element(By.ID, "study-name").text == filled.name


# ---------------------------------------------------------------- the study page


def test_the_study_page_draws_every_panel(filled: FilledStudy, page: Any) -> None:
    from selenium.webdriver.common.by import By

    open_page(page, f"{filled.url}/studies/{filled.name}")
    points = {
        plot: int(page.find_element(By.ID, plot).get_attribute("data-points")) for plot in PLOTS
    }
    assert all(count > 0 for count in points.values()), points
    assert all(
        page.find_element(By.ID, plot).get_attribute("class").split().count("plot") == 1
        for plot in PLOTS
    )
    # The learning curves hold every report of the most recent trials: here, all of them.
    records = filled.study.trials(include_reports=True)
    assert points["plot-curves"] == sum(len(record.reports) for record in records)
    # Each plot's cells were drawn: by Chart.js (one chart per canvas) or, for the parallel
    # coordinates, by hand (a painted canvas). The scatter panel has a cell per parameter.
    charts = js(
        page,
        "return Object.fromEntries([...document.querySelectorAll('.plot')].map((plot) => [plot.id,"
        " [...plot.querySelectorAll('.chart-cell > canvas:first-child')].filter((canvas) =>"
        " canvas.width > 0 && (Chart.getChart(canvas) || canvas.parentNode.dataset.painted))"
        ".length]))",
    )
    parameters = len(SPACE)
    assert charts == {plot: parameters if plot == "plot-scatter" else 1 for plot in PLOTS}

    # Header: state, counts, best, version.
    assert page.find_element(By.ID, "study-name").text == filled.name
    assert page.find_element(By.ID, "study-trials").text == str(len(records))
    counts = {
        button.get_attribute("data-state"): button.text
        for button in page.find_elements(By.CSS_SELECTOR, "#study-counts button.count")
    }
    failed = sum(record.state.value == "failed" for record in records)
    assert counts["failed"] == f"failed {failed}" and counts["running"] == "running 1"
    best = page.find_element(By.CSS_SELECTOR, "#study-best strong").get_attribute("data-value")
    assert float(best) == pytest.approx(best_value(filled))
    assert js(page, "return document.body.dataset.version") == str(
        json.loads(_get(filled, f"/api/studies/{filled.name}/version"))["version"]
    )

    # Rungs: the promotion thresholds table, one row per (bracket, rung); a bar for each rung
    # some trial reached.
    reached = js(
        page,
        "return [...document.querySelectorAll('#rungs-table tbody tr')]"
        ".map((tr) => Number(tr.cells[3].textContent))",
    )
    assert len(reached) > 1 and points["plot-rungs"] == sum(count > 0 for count in reached)

    # Priors: the enqueued configuration and the LLM's, with the trials that ran them (the
    # exchange itself: test_the_priors_panel_shows_the_llm_exchange).
    proposals = page.find_element(By.ID, "proposals").text
    assert "user" in proposals and f"#{filled.enqueued_number}" in proposals
    ran = [p.trial_number for p in filled.study.priors().proposals if p.source == "llm"]
    assert ran and all(f"#{number}" in proposals for number in ran)

    # Trial table: one row per trial (they fit on one page), the configuration shown.
    assert sorted(numbers(page)) == sorted(record.number for record in records)
    config = page.find_element(By.CSS_SELECTOR, '#trials tr[data-number="0"] td.config').text
    assert "learning_rate=" in config and "activation=" in config

    # Export links: trials and reports, CSV and JSON; one of them downloads.
    links = [a.get_attribute("href") for a in page.find_elements(By.CSS_SELECTOR, "a.export")]
    assert len(links) == 4 and all("/export?" in link for link in links)
    csv = next(link for link in links if "format=csv" in link and "table=trials" in link)
    with urllib.request.urlopen(csv, timeout=30) as response:
        assert response.status == 200
        assert "number" in response.read().decode().splitlines()[0]


def test_the_priors_panel_shows_the_llm_exchange(filled: FilledStudy, page: Any) -> None:
    """The study's LLM prior asked the test server's model once: its exchange, expanded, shows
    the prompt as sent (the system message first) and the configurations it accepted."""
    from selenium.webdriver.common.by import By

    priors = filled.study.priors()
    (exchange,) = priors.exchanges
    accepted = [p.config for p in priors.proposals if p.source == "llm"]
    assert exchange.error is None and accepted and exchange.accepted == len(accepted)

    open_page(page, f"{filled.url}/studies/{filled.name}")
    details = page.find_element(
        By.CSS_SELECTOR, f'#priors details.exchange[data-exchange="{exchange.id}"]'
    )
    summary = details.find_element(By.TAG_NAME, "summary")
    assert "smollm2" in summary.text and f"{len(accepted)} accepted" in summary.text
    assert not details.find_element(By.CSS_SELECTOR, ".message pre").is_displayed()
    summary.click()
    messages = details.find_elements(By.CSS_SELECTOR, ".message")
    roles = [m.find_element(By.CLASS_NAME, "role").text.lower() for m in messages]  # CSS: caps
    assert roles == ["system", "user"]
    assert messages[0].find_element(By.TAG_NAME, "pre").text == SYSTEM_MESSAGE
    assert filled.study.spec.description in messages[1].text  # the task, in the user prompt
    shown = details.find_element(By.XPATH, ".//h4[text()='Accepted']/following-sibling::pre[1]")
    assert json.loads(shown.text) == accepted


def test_hovering_a_parallel_coordinates_line_names_its_trial(
    filled: FilledStudy, page: Any
) -> None:
    """The hand-painted parallel coordinates: the pointer on a line shows that trial."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    open_page(page, f"{filled.url}/studies/{filled.name}")
    overlay = page.find_element(By.CSS_SELECTOR, "#plot-parcoords canvas.overlay")
    tip = page.find_element(By.CSS_SELECTOR, "#plot-parcoords .plot-tooltip")
    assert not tip.is_displayed()
    height = overlay.size["height"]
    # Down a vertical through the first gap between axes (offsets from the centre), until
    # the pointer is on a line.
    x = -overlay.size["width"] // 2 + 90
    for y in range(-height // 2 + 12, height // 2 - 28, 3):
        ActionChains(page).move_to_element_with_offset(overlay, x, y).perform()
        if tip.is_displayed():
            break
    assert tip.is_displayed(), "no line under the pointer anywhere on the vertical"
    lines = tip.text.splitlines()
    numbers = {record.number for record in trials(filled)}
    assert lines[0].startswith("trial #") and int(lines[0][len("trial #") :]) in numbers
    assert lines[1].startswith("learning_rate = ") and lines[-1].startswith("val_loss = ")
    ActionChains(page).move_to_element_with_offset(overlay, 0, -height // 2 - 20).perform()
    assert not tip.is_displayed()


def test_a_header_click_sorts_the_table_on_the_server(filled: FilledStudy, page: Any) -> None:
    from selenium.webdriver.common.by import By

    open_page(page, f"{filled.url}/studies/{filled.name}")
    records = trials(filled)

    def expected(descending: bool) -> list[int]:
        # The API's order: empty values last either way, ties by number.
        valued = [r for r in records if r.last_value is not None]
        valued.sort(key=lambda r: (-r.last_value if descending else r.last_value, r.number))
        empty = sorted(r.number for r in records if r.last_value is None)
        return [r.number for r in valued] + empty

    header = page.find_element(By.CSS_SELECTOR, 'th[data-sort="last_value"]')
    header.click()  # minimize: best (lowest) first
    wait(page, lambda d: table_settled(d) and numbers(d) == expected(descending=False))
    assert header.get_attribute("aria-sort") == "ascending"
    values = [float(v) for v in js(page, COLUMN, "last_value") if v != ""]
    assert values == sorted(values)

    header.click()  # the same header again: the other way
    wait(page, lambda d: table_settled(d) and numbers(d) == expected(descending=True))
    assert header.get_attribute("aria-sort") == "descending"

    page.find_element(By.CSS_SELECTOR, 'th[data-sort="number"]').click()
    wait(page, lambda d: table_settled(d) and numbers(d) == sorted(r.number for r in records))
    # The query is kept in the URL fragment: a reload shows the same order.
    assert "sort=" not in page.current_url  # number ascending is the default
    page.find_element(By.CSS_SELECTOR, 'th[data-sort="number"]').click()
    wait(page, lambda d: numbers(d) == sorted((r.number for r in records), reverse=True))
    assert "order=desc" in page.current_url


def test_filters_narrow_the_rows(filled: FilledStudy, page: Any) -> None:
    open_page(page, f"{filled.url}/studies/{filled.name}")
    records = trials(filled)

    def shows(expected: list[int]) -> None:
        wait(page, lambda d: table_settled(d) and sorted(numbers(d)) == sorted(expected))

    clear_and_type(page, "#filter-state", "failed")
    shows([filled.failed_number])

    # Half-typed, the value is not a state: a hint, and the rows stay as they were.
    page.find_element("id", "filter-state").send_keys(",compl")
    wait(page, lambda d: "is not one of" in d.find_element("id", "trials-status").text)
    assert numbers(page) == [filled.failed_number]
    page.find_element("id", "filter-state").send_keys("eted")
    shows([r.number for r in records if r.state.value in ("failed", "completed")])
    assert 1 < len(numbers(page)) < len(records)

    clear_and_type(page, "#filter-state", "")
    clear_and_type(page, "#filter-source", "user")
    shows([filled.enqueued_number])

    # Free text matches the configuration (and the worker id).
    clear_and_type(page, "#filter-source", "")
    clear_and_type(page, "#filter-q", "gelu")
    gelu = [r.number for r in records if r.config["activation"] == "gelu"]
    shows(gelu)
    assert 0 < len(gelu) < len(records)

    # The header's state counts are filters too.
    clear_and_type(page, "#filter-q", "")
    page.find_element("css selector", '#study-counts button[data-state="running"]').click()
    shows([filled.running.number])
    assert page.find_element("id", "filter-state").get_attribute("value") == "running"


def test_untrusted_text_is_shown_as_text(filled: FilledStudy, page: Any) -> None:
    """A failure reason with markup (as any worker may send) is displayed, never parsed."""
    from selenium.webdriver.common.by import By

    open_page(page, f"{filled.url}/studies/{filled.name}")
    row = page.find_element(By.CSS_SELECTOR, f'#trials tr[data-number="{filled.failed_number}"]')
    state = row.find_element(By.CSS_SELECTOR, 'td[data-field="state"]')
    assert state.get_attribute("title") == FAIL_REASON
    row.click()  # the detail row: full configuration and the failure
    detail = wait(page, lambda d: d.find_element(By.CSS_SELECTOR, "#trials tr.detail pre.error"))
    assert detail.text == FAIL_REASON
    assert js(page, "return document.querySelectorAll('#trials img').length") == 0
    assert js(page, "return document.body.dataset.pwned") is None


def test_a_screenshot_of_the_study_page(filled: FilledStudy, page: Any) -> None:
    """A picture of the real page, 1400 px wide, before the live test adds to the study; kept
    as a test artifact (in $HPO_TEST_ARTIFACTS, else tests/artifacts/; the path is printed),
    and copied to the README's picture with HPO_UPDATE_SCREENSHOT=1."""
    open_page(page, f"{filled.url}/studies/{filled.name}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    artifact = ARTIFACTS / "dashboard-study.png"
    artifact.unlink(missing_ok=True)  # a picture from an earlier run must not pass for this one
    assert page.save_screenshot(str(artifact))
    print(f"screenshot of the study page: {artifact}")
    width, height = struct.unpack(">II", artifact.read_bytes()[16:24])  # the PNG header
    assert width >= 1200 and height >= 1500
    if os.environ.get(UPDATE_SCREENSHOT) == "1":  # refresh the README's picture on purpose only
        shutil.copyfile(artifact, SCREENSHOT)


def test_a_running_study_updates_in_place(filled: FilledStudy, page: Any) -> None:
    """A report while the page is open: the version moves and the table and the learning
    curves show the new value, without a page reload."""
    from selenium.webdriver.common.by import By

    open_page(page, f"{filled.url}/studies/{filled.name}")
    number = filled.running.number
    cell = f'#trials tr[data-number="{number}"] td[data-field="last_value"]'
    before = float(page.find_element(By.CSS_SELECTOR, cell).get_attribute("data-value"))
    assert before == filled.running_value
    version = js(page, "return document.body.dataset.version")
    curve_points = int(page.find_element(By.ID, "plot-curves").get_attribute("data-points"))
    js(page, "window.notReloaded = true")

    new_value = round(filled.running_value - 0.0123, 6)
    decision = filled.running.report(2, new_value)  # between rungs 1 and 3: it continues
    assert not decision.should_stop

    def attribute(selector: str, name: str) -> Callable[[Any], str]:
        return lambda d: d.find_element(By.CSS_SELECTOR, selector).get_attribute(name)

    wait(page, lambda d: js(d, "return document.body.dataset.version") != version)
    wait(page, lambda d: attribute(cell, "data-value")(d) == str(new_value))
    wait(page, lambda d: attribute("#plot-curves", "data-points")(d) == str(curve_points + 1))
    assert js(page, "return window.notReloaded") is True
    assert int(js(page, "return document.body.dataset.version")) > int(version)


# ---------------------------------------------------------------- tokens


@pytest.fixture
def guarded_dashboard(filled: FilledStudy, tmp_path: Path) -> Iterator[str]:
    """A second dashboard on all interfaces: not loopback, so /api needs a token."""
    with hpo_dashboard(filled.db, tmp_path / "guarded.log", "--host", "0.0.0.0") as url:
        yield url.replace("0.0.0.0", "127.0.0.1")


def test_a_token_form_appears_when_the_api_needs_one(
    filled: FilledStudy, guarded_dashboard: str, driver: Any
) -> None:
    from selenium.webdriver.common.by import By

    secret = generate_secret()
    filled.client.create_token("dashboard-reader", "reader", secret)
    driver.get(guarded_dashboard + "/")
    field = wait(driver, lambda d: d.find_element(By.ID, "token-input"))
    assert "token" in driver.find_element(By.ID, "auth").text
    field.send_keys(secret)
    driver.find_element(By.CSS_SELECTOR, "#auth button[type=submit]").click()
    wait(driver, lambda d: js(d, "return document.body.dataset.ready") == "1")
    assert driver.find_element(By.CSS_SELECTOR, f'tr[data-study="{filled.name}"]')
    assert not driver.find_element(By.ID, "auth").is_displayed()
    # Kept for the tab: the study page loads without asking again.
    open_page(driver, f"{guarded_dashboard}/studies/{filled.name}")
    assert not driver.find_element(By.ID, "auth").is_displayed()
    js(driver, "sessionStorage.clear()")
    console_errors(driver)  # the first, refused, requests are logged as errors: expected


def _get(filled: FilledStudy, path: str) -> str:
    with urllib.request.urlopen(filled.url + path, timeout=30) as response:
        return response.read().decode()
