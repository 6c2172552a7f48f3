"""CSV and JSON exports of a study's trials and reports: one format for the dashboard's
download (rows read from the store) and ``hpo study export`` (records read through a
coordinator), so both give the same file for the same study.

This module needs neither SQLAlchemy nor a web server: the CLI imports it on any machine.

- ``trials``: one row per trial, the columns of :data:`TRIAL_FIELDS`, then its
  configuration: nested under ``config`` in JSON, one ``config.<parameter>`` column per
  parameter of the space in CSV.
- ``reports``: one row per report, the columns of :data:`REPORT_FIELDS` (``trial`` is the
  trial's number; ``rung`` is empty between rungs), by trial number and resource.

JSON is an array with one object per line; CSV has a header row. Empty values (no worker,
no report yet) are ``null`` in JSON and empty cells in CSV; times are ISO 8601 in UTC.
"""

from __future__ import annotations

import csv
import enum
import io
import json
from collections.abc import Iterable, Sequence
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


def trial_row(trial: Any) -> Row:
    """A trial's export row, from a store row or a :class:`hpo.client.TrialRecord` (anything
    with the attributes of :data:`TRIAL_FIELDS` and ``config``)."""
    row = {field: _plain(getattr(trial, field)) for field in TRIAL_FIELDS}
    row["config"] = dict(trial.config)
    return row


def report_row(trial_number: int, report: Any) -> Row:
    """A report's export row, from a store row or a :class:`hpo.client.ReportRecord`."""
    return {"trial": trial_number} | {
        field: _plain(getattr(report, field)) for field in REPORT_FIELDS[1:]
    }


def rows_from_records(table: ExportTable, records: Iterable[Any]) -> list[Row]:
    """Export rows from the client's trial records (fetched with their reports for
    ``reports``), in trial number order."""
    records = sorted(records, key=lambda record: record.number)
    if table is ExportTable.TRIALS:
        return [trial_row(record) for record in records]
    return [
        report_row(record.number, report)
        for record in records
        for report in sorted(record.reports, key=lambda report: report.resource)
    ]


def render(
    table: ExportTable, rows: Sequence[Row], export_format: ExportFormat, parameters: Sequence[str]
) -> str:
    """The file's text. ``parameters``: the space's parameter names, in order (the CSV
    columns of a trial's configuration)."""
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
            ]
            for row in rows
        )
    else:
        header = list(REPORT_FIELDS)
        lines = ([row[field] for field in REPORT_FIELDS] for row in rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(lines)
    return buffer.getvalue()


def filename(study: str, table: ExportTable, export_format: ExportFormat) -> str:
    """``<study>-<table>.<ext>`` (study names are letters, digits, ``_ . -``)."""
    return f"{study}-{table.value}.{export_format.value}"
