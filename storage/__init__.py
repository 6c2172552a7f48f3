"""The SQL trial store (installed as ``hpo.storage``): models, engines, sessions, migrations.

It knows tables and queries, not algorithms; ``hpo.service`` decides.
"""

from hpo.storage.engine import STORE_UNAVAILABLE, create_engine, is_sqlite, normalize_url
from hpo.storage.store import Store

__all__ = ["STORE_UNAVAILABLE", "Store", "create_engine", "is_sqlite", "normalize_url"]
