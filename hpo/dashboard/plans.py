"""How the database runs a study page load: every SQL statement of the page's API calls, with
its query plan.

The dashboard must stay fast on big studies by using indexes, never scanning a table; this
module is how that is checked. It serves the page's calls in-process (the app without its
warm-up, so that every figure is computed and its statements run), records each ``SELECT``
the store executes, and asks the database for its plan: ``EXPLAIN QUERY PLAN`` on SQLite,
``EXPLAIN`` on PostgreSQL. ``benchmarks/dashboard.py --explain`` prints the plans of its big
study; a test asserts that no statement of a page load scans ``reports``, ``trials`` or
``llm_exchanges``. It needs ``httpx`` (Starlette's test client), which ``openai`` brings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy import event

from hpo.storage import Store

# The API calls the study page makes when it loads (hpo/dashboard/static/study.js, with the
# trial table's first page of 50 rows from table.js), then the version it polls every 2 s.
PAGE_CALLS = (
    "",
    "/version",
    "/trials?limit=50",
    "/history",
    "/curves",
    "/rungs",
    "/params",
    "/importance",
    "/priors",
)


@dataclass(frozen=True)
class StatementPlan:
    """One statement a call ran and the lines of its plan (on SQLite, each step's detail:
    ``SEARCH reports USING INDEX ...``, ``SCAN trials``...; on PostgreSQL, EXPLAIN's lines)."""

    call: str
    statement: str
    plan: tuple[str, ...]


def page_load_plans(
    store: Store, study: str, calls: Iterable[str] = PAGE_CALLS
) -> list[StatementPlan]:
    """Make each of ``calls`` (paths under ``/api/studies/{study}``) on a dashboard over
    ``store`` and explain every statement it ran, in order. A call that fails raises."""
    from starlette.testclient import TestClient

    from hpo.dashboard.app import create_app

    ran: list[tuple[str, Any]] = []

    def record(connection: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            ran.append((statement, parameters))

    prefix = "EXPLAIN QUERY PLAN " if store.engine.dialect.name == "sqlite" else "EXPLAIN "
    plans = []
    event.listen(store.engine, "before_cursor_execute", record)
    try:
        with TestClient(create_app(store, anonymous=True, warm_up_studies=0)) as client:
            for call in calls:
                ran.clear()
                client.get(f"/api/studies/{quote(study)}{call}").raise_for_status()
                with store.engine.connect() as connection:
                    for statement, parameters in list(ran):
                        rows = connection.exec_driver_sql(prefix + statement, parameters).all()
                        plans.append(
                            StatementPlan(call, statement, tuple(str(row[-1]) for row in rows))
                        )
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    return plans


def scans(plans: Iterable[StatementPlan], tables: Iterable[str]) -> list[StatementPlan]:
    """The statements whose SQLite plan reads one of ``tables`` whole (``SCAN <table>``, as
    opposed to ``SEARCH <table> USING ... INDEX``)."""
    full = {f"SCAN {table}" for table in tables}
    return [
        plan
        for plan in plans
        if any(line.split(" USING ")[0].strip() in full for line in plan.plan)
    ]
