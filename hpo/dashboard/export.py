"""CSV and JSON exports of a study's trials and reports: one format for the dashboard's
download (rows read from the store) and ``hpo study export`` (records read through a
coordinator), so both give the same file for the same study.

This module needs neither SQLAlchemy nor a web server: the CLI imports it on any machine.

- ``trials``: one row per trial, the columns of :data:`TRIAL_FIELDS`, then its
  configuration: nested under ``config`` in JSON, one ``config.<parameter>`` column per
  parameter of the space in CSV.
- ``reports``: one row per report, the columns of :data:`REPORT_FIELDS` (``trial`` is the
  trial's number; ``rung`` is empty between rungs), by trial number and resource.

A study whose results carry several metrics (several objectives, declared metrics, a cost:
:func:`hpo.dashboard.metrics.metric_names`) adds them to both tables: a trial's last
report's metrics and each report's own, nested under ``metrics`` in JSON (``null`` where
there are none) and one ``metrics.<metric>`` column per metric in CSV. A study of one value
has neither, so its files are as they always were.

JSON is an array with one object per line; CSV has a header row. Empty values (no worker,
no report yet) are ``null`` in JSON and empty cells in CSV; times are ISO 8601 in UTC.
"""

from __future__ import annotations

import csv
import enum
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any


class ExportFormat(str, enum.Enum):
    CSV = "csv"
    JSON = "json"


class ExportTable(str, enum.Enum):
    TRIALS = "trials"
    REPORTS = "reports"


TRIAL_FIELDS = (
    "number",
    "state",
    "source",
    "bracket",
    "rung",
    "target_resource",
    "last_resource",
    "last_value",
    "worker_id",
    "retries",
    "fail_reason",
    "created_at",
    "updated_at",
)
REPORT_FIELDS = ("trial", "resource", "value", "rung", "created_at")
MEDIA_TYPES = {ExportFormat.CSV: "text/csv; charset=utf-8", ExportFormat.JSON: "application/json"}

Row = dict[str, Any]


def _plain(value: object) -> object:
    """A field as the export writes it. The coordinator's records say "no worker" with an
    empty string, the store with NULL: both become None."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if value == "":
        return None
    return value


def _metrics(values: Mapping[str, float] | None, metrics: Sequence[str]) -> Row | None:
    """A result's metrics in the study's order (the same text from any store and through the
    coordinator), or None when it has none: no report yet, or a one-value report (the store
    says so with NULL, the coordinator's records with an empty mapping)."""
    if not values:
        return None
    return {name: values.get(name) for name in metrics}


def trial_row(trial: Any, metrics: Sequence[str] = ()) -> Row:
    """A trial's export row, from a store row or a :class:`hpo.client.TrialRecord` (anything
    with the attributes of :data:`TRIAL_FIELDS`, ``config`` and ``last_metrics``); with
    ``metrics`` (the study's metric names), its last report's metrics too."""
    row = {field: _plain(getattr(trial, field)) for field in TRIAL_FIELDS}
    row["config"] = dict(trial.config)
    if metrics:
        row["metrics"] = _metrics(trial.last_metrics, metrics)
    return row


def report_row(trial_number: int, report: Any, metrics: Sequence[str] = ()) -> Row:
    """A report's export row, from a store row or a :class:`hpo.client.ReportRecord`; with
    ``metrics``, the report's metrics too."""
    row = {"trial": trial_number} | {
        field: _plain(getattr(report, field)) for field in REPORT_FIELDS[1:]
    }
    if metrics:
        row["metrics"] = _metrics(report.metrics, metrics)
    return row


def rows_from_records(
    table: ExportTable, records: Iterable[Any], metrics: Sequence[str] = ()
) -> list[Row]:
    """Export rows from the client's trial records (fetched with their reports for
    ``reports``), in trial number order."""
    records = sorted(records, key=lambda record: record.number)
    if table is ExportTable.TRIALS:
        return [trial_row(record, metrics) for record in records]
    return [
        report_row(record.number, report, metrics)
        for record in records
        for report in sorted(record.reports, key=lambda report: report.resource)
    ]


def render(
    table: ExportTable,
    rows: Sequence[Row],
    export_format: ExportFormat,
    parameters: Sequence[str],
    metrics: Sequence[str] = (),
) -> str:
    """The file's text. ``parameters``: the space's parameter names, in order (the CSV
    columns of a trial's configuration); ``metrics``: the study's metric names, in order (the
    CSV columns of a result's metrics, none for a study of one value)."""
    if export_format is ExportFormat.JSON:
        if not rows:
            return "[]\n"
        if table is ExportTable.TRIALS:
            # In the space's order (PostgreSQL's JSONB keeps its own), so that the same study
            # gives the same text from any store and through the coordinator.
            rows = [
                row | {"config": {name: row["config"][name] for name in parameters}} for row in rows
            ]
        return "[\n" + ",\n".join(json.dumps(row, allow_nan=False) for row in rows) + "\n]\n"
    if table is ExportTable.TRIALS:
        header = [*TRIAL_FIELDS, *(f"config.{name}" for name in parameters)]
        lines: Iterable[Sequence[object]] = (
            [
                *(row[field] for field in TRIAL_FIELDS),
                *(row["config"].get(name) for name in parameters),
                *_metric_cells(row, metrics),
            ]
            for row in rows
        )
    else:
        header = list(REPORT_FIELDS)
        lines = (
            [*(row[field] for field in REPORT_FIELDS), *_metric_cells(row, metrics)] for row in rows
        )
    header += [f"metrics.{name}" for name in metrics]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(lines)
    return buffer.getvalue()


def _metric_cells(row: Row, metrics: Sequence[str]) -> list[object]:
    """A row's CSV cells of its metrics: empty where it has none."""
    values = row.get("metrics") or {}
    return [values.get(name) for name in metrics]


def filename(study: str, table: ExportTable, export_format: ExportFormat) -> str:
    """``<study>-<table>.<ext>`` (study names are letters, digits, ``_ . -``)."""
    return f"{study}-{table.value}.{export_format.value}"
