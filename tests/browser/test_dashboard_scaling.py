"""The scaling-laws panel of a study of a family, in a real browser over the real
``hpo dashboard`` (docs/dashboard.md): one log-log chart per law with a dot per scale point
(the coordinator's ``FitScaling``), the law and its interval, this study's proposal, the
exponents under each chart, and a choice of scale variable; a family of one scale says why it
has no laws; a study of no family has no panel and asks for none.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from hpo.client import Client
from hpo.coordinator.server import start_coordinator
from tests.browser import test_dashboard
from tests.browser.test_dashboard import PLOTS, js, open_page, wait
from tests.conftest import hpo_dashboard
from tests.integration.test_dashboard_scaling import GRID, PLAIN, SCALES, SOLO, TARGET, fill

pytestmark = pytest.mark.e2e

# The browser, checked after each test: the page logged no error.
page = test_dashboard.page

# Each law's chart: its parameter, data-points, x variable, axis types, datasets as
# [group, [[x, y], ...]], the exponents listed under it, and the tooltip of its first dot.
LAWS = """
return [...document.querySelectorAll('#scaling-laws .scaling-law')].map((law) => {
  const plot = law.querySelector('.plot');
  const chart = Chart.getChart(plot.querySelector('canvas'));
  const dots = chart.data.datasets.find((set) => set.group === 'points');
  return {
    parameter: law.dataset.parameter,
    points: Number(plot.dataset.points),
    variable: plot.dataset.variable,
    x: chart.options.scales.x.type,
    y: chart.options.scales.y.type,
    datasets: chart.data.datasets.map((set) => [set.group, set.data.map((p) => [p.x, p.y])]),
    exponents: [...law.querySelectorAll('.law-exponents li')].map((li) => [li.dataset.variable,
      li.dataset.exponent === undefined ? null : Number(li.dataset.exponent)]),
    text: law.querySelector('.law-text').textContent,
    tooltip: chart.options.plugins.tooltip.callbacks.label({ dataset: dots, raw: dots.data[0] }),
  };
});
"""


@dataclass
class Served:
    url: str
    client: Client


@pytest.fixture(scope="module")
def served(browser_binaries: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The families of tests/integration/test_dashboard_scaling.py, and the dashboard."""
    directory = tmp_path_factory.mktemp("scaling-page")
    db = f"sqlite:///{directory / 'hpo.db'}"
    coordinator = start_coordinator(db, "127.0.0.1", 0, lease_seconds=600)
    client = Client(coordinator.address, timeout=30)
    try:
        fill(client)
        with hpo_dashboard(db, directory / "dashboard.log") as url:
            yield Served(url, client)
    finally:
        client.close()
        coordinator.stop(grace=1)


def laws(driver: Any) -> list[dict[str, Any]]:
    return js(driver, LAWS)  # type: ignore[no-any-return]


def groups(law: dict[str, Any], group: str) -> list[list[list[float]]]:
    return [data for name, data in law["datasets"] if name == group]


def test_the_panel_draws_each_law_with_the_family_points(served: Served, page: Any) -> None:
    from selenium.webdriver.common.by import By

    open_page(page, f"{served.url}/studies/lm-target")
    assert page.find_element(By.ID, "panel-scaling").is_displayed()
    assert page.find_element(
        By.CSS_SELECTOR, 'nav button[data-target="panel-scaling"]'
    ).is_displayed()
    assert not page.find_element(By.ID, "scaling-error").is_displayed()
    answer = served.client.fit_scaling("lm", {"n_params": TARGET})
    fit, proposal = answer.fit, answer.proposal
    assert proposal is not None
    assert page.find_element(By.ID, "scaling-x").get_attribute("value") == "n_params"

    shown = laws(page)
    assert [law["parameter"] for law in shown] == list(fit["laws"])
    for law in shown:
        name = law["parameter"]
        # One dot per scale point, at its scale and estimated optimum.
        (dots,) = groups(law, "points")
        expected = [[p["scale"]["n_params"], p["estimates"][name]] for p in fit["points"]]
        assert law["points"] == len(SCALES) == len(dots)
        assert sorted(dots) == sorted(expected)
        # The law from the smallest point to this study's scale, its interval (lower, upper),
        # and the proposal at this study's scale.
        (line,) = groups(law, "law")
        assert (line[0][0], line[-1][0]) == (pytest.approx(SCALES[0]), pytest.approx(TARGET))
        assert len(groups(law, "interval")) == 2
        assert groups(law, "study") == [[[TARGET, pytest.approx(proposal["estimates"][name])]]]
        assert law["x"] == "logarithmic"
        assert law["y"] == ("logarithmic" if fit["laws"][name]["log"] else "linear")
        # Under the chart: each exponent with its interval.
        exponents = fit["laws"][name]["exponents"]
        assert law["exponents"] == [["n_params", exponents.get("n_params")]]
        assert "at this study's scale" in law["text"]
        first = fit["points"][0]
        assert f"studies: {first['studies'][0]}" in law["tooltip"]
        assert f"{first['count']} results" in " ".join(law["tooltip"])
    # The learning rate's law falls with the scale, and says so under its chart.
    (lr,) = (law for law in shown if law["parameter"] == "lr")
    assert fit["laws"]["lr"]["intervals"]["n_params"][1] < 0
    assert "exponent of n_params" in lr["text"] and "90% interval" in lr["text"]


def test_the_variable_can_be_chosen(served: Served, page: Any) -> None:
    """A family over two variables: the lines follow the chosen one, the other held at the
    largest scale point's (the study gives n_params only, so it has no proposal)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    open_page(page, f"{served.url}/studies/grid-target")
    select = Select(page.find_element(By.ID, "scaling-x"))
    assert [option.get_attribute("value") for option in select.options] == [
        "n_params",
        "n_tokens",
    ]
    assert (
        "n_tokens 3.2e8 (the largest scale point's)"
        in page.find_element(By.ID, "scaling-held").text
    )
    (law,) = laws(page)
    assert law["points"] == len(GRID) and groups(law, "study") == []
    select.select_by_value("n_tokens")
    wait(page, lambda d: laws(d)[0]["variable"] == "n_tokens")
    (law,) = laws(page)
    (dots,) = groups(law, "points")
    assert sorted(x for x, _ in dots) == sorted(n_tokens for _, n_tokens in GRID)
    assert "n_params 1e9 (this study's)" in page.find_element(By.ID, "scaling-held").text


def test_a_family_of_one_scale_says_why_it_has_no_laws(served: Served, page: Any) -> None:
    from selenium.webdriver.common.by import By

    open_page(page, f"{served.url}/studies/{SOLO}")
    reason = page.find_element(By.ID, "scaling-error")
    assert reason.is_displayed()
    assert "cannot be fitted yet: family 'solo': all " in reason.text
    assert "2 or more distinct scales" in reason.text
    assert not page.find_element(By.ID, "scaling-body").is_displayed()
    assert js(page, "return document.querySelectorAll('.scaling-law').length") == 0


def test_a_study_of_no_family_has_no_panel(served: Served, page: Any) -> None:
    from selenium.webdriver.common.by import By

    open_page(page, f"{served.url}/studies/{PLAIN}")
    assert js(page, "return document.getElementById('panel-scaling')") is None
    assert not page.find_element(
        By.CSS_SELECTOR, 'nav button[data-target="panel-scaling"]'
    ).is_displayed()
    plots = js(page, "return [...document.querySelectorAll('.plot')].map((plot) => plot.id)")
    assert sorted(plots) == sorted(PLOTS)
    asked = js(
        page,
        "return performance.getEntriesByType('resource').map((entry) => entry.name)"
        ".filter((name) => new URL(name).pathname.endsWith('/scaling'))",
    )
    assert asked == []
