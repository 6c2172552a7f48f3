"""The dashboard's vendored JavaScript is exactly what ``tools/vendor_js.py`` fetched.

The files are third-party builds copied from the npm registry; ``VENDORED.json`` records
their package, version and SHA-256. A hand edit, a partial upgrade or a stray file fails here.
"""

from __future__ import annotations

import hashlib
import json

from tools.vendor_js import MANIFEST, PACKAGES, VENDOR


def test_every_vendored_file_matches_its_recorded_digest() -> None:
    record = json.loads(MANIFEST.read_text())
    recorded = {name: digest for entry in record for name, digest in entry["files"].items()}
    present = {path.name for path in VENDOR.iterdir()} - {MANIFEST.name}
    assert present == set(recorded)
    for name, digest in recorded.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name


def test_the_record_names_the_pinned_versions() -> None:
    record = json.loads(MANIFEST.read_text())
    assert [(entry["package"], entry["version"]) for entry in record] == [
        (package, version) for package, version, _ in PACKAGES
    ]
