"""The study page of a study with two objectives, a constraint and a cost (tests/pareto_study.py)
in a real browser, over the real ``hpo dashboard``: the Pareto plot draws the coordinator's
front (GetParetoFront) on the axes the viewer picks, the constraint's counts and the
infeasible trials show, and the learning curves show the metric the viewer picks. A study of
one value keeps its page as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import hpo
from hpo.client import Client, Study
from hpo.coordinator.server import start_coordinator
from tests.browser import test_dashboard
from tests.browser.test_dashboard import PLOTS, js, open_page, wait
from tests.conftest import hpo_dashboard
from tests.pareto_study import LATENCY_BOUND, NAME, fill

pytestmark = pytest.mark.e2e

# The browser, checked after each test: the page logged no error.
page = test_dashboard.page

SCALAR = "one-value"
# Each dataset of a chart as {group: [[trial, x, y], ...]}, and its axes' titles.
CHART = """
const chart = Chart.getChart(document.querySelector(arguments[0] + ' canvas'));
return {
  groups: Object.fromEntries(chart.data.datasets.map((set) =>
    [set.group, set.data.map((p) => [p.trial, p.x, p.y])])),
  hollow: Object.fromEntries(chart.data.datasets.map((set) =>
    [set.group, set.backgroundColor === 'rgba(0,0,0,0)'])),
  x: chart.options.scales.x.title.text,
  y: chart.options.scales.y.title.text,
  lines: (chart.data.curves || []).flatMap((group) => group.lines),
};
"""


@dataclass
class Served:
    url: str
    study: Study


@pytest.fixture(scope="module")
def served(browser_binaries: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The study filled by a coordinator, a study of one value beside it, and the dashboard."""
    directory = tmp_path_factory.mktemp("pareto-page")
    db = f"sqlite:///{directory / 'hpo.db'}"
    coordinator = start_coordinator(db, "127.0.0.1", 0, lease_seconds=600)
    client = Client(coordinator.address, timeout=30)
    try:
        study = fill(client)
        scalar = client.create_study(
            SCALAR, {"x": hpo.Float(0, 1)}, r_min=1, r_max=3, metric="loss", algorithm="asha"
        )
        for _ in range(4):
            trial = scalar.suggest()
            assert trial is not None
            with trial:
                trial.report(trial.resource, trial.config["x"])
        with hpo_dashboard(db, directory / "dashboard.log") as url:
            yield Served(url, study)
    finally:
        client.close()
        coordinator.stop(grace=1)


def chart(driver: Any, plot: str) -> dict[str, Any]:
    return js(driver, CHART, f"#{plot}")  # type: ignore[no-any-return]


def choose(driver: Any, select: str, value: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, select)).select_by_value(value)


def expected_front(study: Study, x: str, y: str) -> list[list[Any]]:
    """GetParetoFront's trials on the axes, joined from left to right as the plot joins them."""
    points = [[e.trial.number, e.metrics[x], e.metrics[y]] for e in study.pareto_front()]
    return sorted(points, key=lambda point: (point[1], point[2]))


def test_the_pareto_plot_draws_the_coordinators_front_on_the_chosen_axes(
    served: Served, page: Any
) -> None:
    from selenium.webdriver.common.by import By

    open_page(page, f"{served.url}/studies/{NAME}")
    assert page.find_element(
        By.CSS_SELECTOR, 'nav button[data-target="panel-pareto"]'
    ).is_displayed()
    records = served.study.trials(include_reports=True)
    at_top = [report for record in records for report in record.reports if report.rung == 1]

    shown = chart(page, "plot-pareto")
    assert (shown["x"], shown["y"]) == ("loss (minimize)", "accuracy (maximize)")
    assert shown["groups"]["front"] == expected_front(served.study, "loss", "accuracy")
    # Every result at the front's rung is a point; the infeasible ones are hollow.
    drawn = sum(len(points) for points in shown["groups"].values())
    assert (
        drawn
        == len(at_top)
        == int(page.find_element(By.ID, "plot-pareto").get_attribute("data-points"))
    )
    infeasible = {
        record.number
        for record in records
        for report in record.reports
        if report.rung == 1 and report.metrics["latency_ms"] > LATENCY_BOUND
    }
    assert infeasible and {point[0] for point in shown["groups"]["infeasible"]} == infeasible
    assert shown["hollow"] == {"front": False, "dominated": False, "infeasible": True}

    # Other axes: cost against the first objective. The front is the same trials.
    choose(page, "pareto-x", "gpu_hours")
    choose(page, "pareto-y", "loss")
    wait(page, lambda d: chart(d, "plot-pareto")["x"] == "gpu_hours (cost)")
    shown = chart(page, "plot-pareto")
    assert shown["y"] == "loss (minimize)"
    assert shown["groups"]["front"] == expected_front(served.study, "gpu_hours", "loss")

    # The constraint: how many results break it at the front's rung and anywhere.
    cells = page.find_elements(By.CSS_SELECTOR, "#constraints-table tbody td")
    assert cells[0].text == f"latency_ms <= {LATENCY_BOUND:g}"
    settled = [report for record in records for report in record.reports if report.rung is not None]
    broken = [r for r in settled if r.metrics["latency_ms"] > LATENCY_BOUND]
    assert int(cells[1].get_attribute("data-value")) == len(infeasible)
    assert cells[1].text == f"{len(infeasible)} of {len(at_top)}"
    assert cells[2].text == f"{len(broken)} of {len(settled)}"


def test_the_trial_table_marks_the_infeasible_trials(served: Served, page: Any) -> None:
    from selenium.webdriver.common.by import By

    open_page(page, f"{served.url}/studies/{NAME}")
    marked = {
        int(row.get_attribute("data-number")): row
        for row in page.find_elements(By.CSS_SELECTOR, "#trials tr.infeasible")
    }
    records = served.study.trials()
    assert set(marked) == {
        record.number for record in records if record.last_metrics["latency_ms"] > LATENCY_BOUND
    }
    mark = next(iter(marked.values())).find_element(By.CSS_SELECTOR, ".infeasible-mark")
    assert mark.get_attribute("title") == f"infeasible: breaks latency_ms <= {LATENCY_BOUND:g}"


def test_the_learning_curves_show_the_chosen_metric(served: Served, page: Any) -> None:
    open_page(page, f"{served.url}/studies/{NAME}")
    records = served.study.trials(include_reports=True)

    def values(metric: str) -> list[float]:
        return sorted(report.metrics[metric] for record in records for report in record.reports)

    def drawn(shown: dict[str, Any]) -> list[float]:
        return sorted(y for line in shown["lines"] for _, y in line)

    assert drawn(chart(page, "plot-curves")) == values("loss")
    choose(page, "curves-metric", "latency_ms")
    wait(page, lambda d: chart(d, "plot-curves")["y"] == "latency_ms")
    assert drawn(chart(page, "plot-curves")) == values("latency_ms")
    choose(page, "curves-metric", "loss")
    wait(page, lambda d: chart(d, "plot-curves")["y"] == "loss (minimize)")
    assert drawn(chart(page, "plot-curves")) == values("loss")


def test_a_study_of_one_value_keeps_its_page(served: Served, page: Any) -> None:
    """No Pareto panel, no choice of metric, and the plots of every study page."""
    from selenium.webdriver.common.by import By

    open_page(page, f"{served.url}/studies/{SCALAR}")
    assert js(page, "return document.getElementById('panel-pareto')") is None
    assert not page.find_element(
        By.CSS_SELECTOR, 'nav button[data-target="panel-pareto"]'
    ).is_displayed()
    assert not page.find_element(By.ID, "curves-metric-choice").is_displayed()
    plots = js(page, "return [...document.querySelectorAll('.plot')].map((plot) => plot.id)")
    assert sorted(plots) == sorted(PLOTS)
    assert js(page, "return document.querySelectorAll('#trials tr.infeasible').length") == 0
