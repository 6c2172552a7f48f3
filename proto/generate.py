"""Regenerate the Python code of the wire contract.

The generated modules are committed inside the package (``hpo/v1/``) so that a
GPU node installs hpo without a protobuf compiler. Run this after editing
``proto/hpo/v1/hpo.proto``; ``tests/unit/test_proto_fresh.py`` fails when the
committed code is stale.

Usage: ``python proto/generate.py [OUTPUT_ROOT]`` (default: the repository root,
which writes ``hpo/v1/hpo_pb2*.py``).
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
PROTO_FILE = "hpo/v1/hpo.proto"
GENERATED_FILES = ("hpo/v1/hpo_pb2.py", "hpo/v1/hpo_pb2.pyi", "hpo/v1/hpo_pb2_grpc.py")


def generate(output_root: Path) -> list[Path]:
    """Compile the contract into ``output_root`` and return the written files."""
    from grpc_tools import protoc  # dev-only dependency

    well_known = resources.files("grpc_tools") / "_proto"
    (output_root / "hpo" / "v1").mkdir(parents=True, exist_ok=True)
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{well_known}",
            f"--python_out={output_root}",
            f"--pyi_out={output_root}",
            f"--grpc_python_out={output_root}",
            str(PROTO_ROOT / PROTO_FILE),
        ]
    )
    if status != 0:
        raise RuntimeError(f"protoc failed with status {status}")
    return [output_root / name for name in GENERATED_FILES]


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else PROTO_ROOT.parent
    for path in generate(root):
        print(path)
