"""Fetch the dashboard's third-party JavaScript from the npm registry into the package.

The dashboard works offline, so the charting libraries it draws with ship inside
``hpo/dashboard/static/vendor/``, as the libraries' own minified UMD builds, unmodified. This
script is how they got there and how they are upgraded: it runs ``npm pack`` for each pinned
package below, copies the named files (and the licence) out of the tarball, and writes
``VENDORED.json`` with their versions and SHA-256 digests. ``tests/unit/test_vendored_js.py``
checks the files against that record, so a hand edit or a partial upgrade fails the tests.

Usage: ``python tools/vendor_js.py`` (``make vendor-js``); needs ``npm`` and the registry.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).resolve().parent.parent / "hpo" / "dashboard" / "static" / "vendor"
MANIFEST = VENDOR / "VENDORED.json"

# package, version, {file in the tarball: name in vendor/}
PACKAGES: list[tuple[str, str, dict[str, str]]] = [
    (
        "chart.js",
        "4.6.1",
        {"dist/chart.umd.min.js": "chart.umd.min.js", "LICENSE.md": "LICENSE-chart.js.md"},
    ),
]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(package: str, version: str, files: dict[str, str], workdir: Path) -> dict[str, str]:
    """Copy ``files`` out of the npm tarball of package@version; return their digests."""
    packed = subprocess.run(
        ["npm", "pack", f"{package}@{version}", "--pack-destination", str(workdir), "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    tarball = workdir / json.loads(packed.stdout)[0]["filename"]
    digests = {}
    with tarfile.open(tarball) as archive:
        for inner, name in files.items():
            source = archive.extractfile(f"package/{inner}")
            if source is None:
                raise SystemExit(f"{package}@{version} has no file {inner}")
            with source, (VENDOR / name).open("wb") as target:
                shutil.copyfileobj(source, target)
            digests[name] = sha256(VENDOR / name)
    return digests


def main() -> None:
    VENDOR.mkdir(parents=True, exist_ok=True)
    record = []
    with tempfile.TemporaryDirectory() as workdir:
        for package, version, files in PACKAGES:
            digests = fetch(package, version, files, Path(workdir))
            record.append({"package": package, "version": version, "files": digests})
            print(f"{package}@{version}: {', '.join(digests)}")
    MANIFEST.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
