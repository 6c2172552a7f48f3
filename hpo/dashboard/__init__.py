"""The dashboard: a read-only web app and JSON API over the trial store (docs/dashboard.md).

``hpo.dashboard.app.create_app`` builds the app; ``hpo dashboard`` serves it. This package
imports nothing heavy itself, so the CLI on a GPU node can use :mod:`hpo.dashboard.export`
(the CSV/JSON format of ``hpo study export``) without SQLAlchemy or Starlette.
"""
