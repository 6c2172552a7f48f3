"""The generated wire code in hpo/v1 matches proto/hpo/v1/hpo.proto."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "proto" / "generate.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in ("hpo_pb2.py", "hpo_pb2.pyi", "hpo_pb2_grpc.py"):
        fresh = (tmp_path / "hpo" / "v1" / name).read_text()
        committed = (ROOT / "hpo" / "v1" / name).read_text()
        assert fresh == committed, f"hpo/v1/{name} is stale: run `python proto/generate.py`"
