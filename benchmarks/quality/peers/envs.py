"""One virtual environment per peer library, built from the pinned requirements beside this file.

The peers' pins clash with the main environment's and with each other's (Syne Tune
0.13 wants numpy < 1.27, SMAC 2.4 numpy 2 and scikit-learn >= 1.6), so each lives in
``benchmarks/quality/peers/.envs/<name>/`` (ignored by git) and runs its runner script
as a subprocess. ``requirements/<name>.txt`` pins every package of the environment
(the library and all it pulls in), so a rebuild gives the same versions.

    python -m benchmarks.quality.peers setup [NAME ...]   # build (or rebuild) environments
    python -m benchmarks.quality.peers check              # each library's version, or what is wrong

An environment is ready when its interpreter exists and its marker file records the
hash of the requirements it was built from: editing a requirements file makes
``check`` call the environment stale until ``setup`` rebuilds it.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

PEERS_DIR = Path(__file__).resolve().parent
ENVS_DIR = PEERS_DIR / ".envs"
REQUIREMENTS_DIR = PEERS_DIR / "requirements"
MARKER = ".installed"
# Installed before anything that could pull torch in, so that pip never fetches a CUDA build
# (this machine's pip finds a local CPU build of this version); no peer needs torch today.
TORCH = "torch==2.13.0"


@dataclass(frozen=True)
class Peer:
    """A peer library: its environment, the runner script its interpreter runs, its methods."""

    name: str
    distribution: str  # the name importlib.metadata knows it by
    module: str  # what the runner imports from it, imported by ``check``
    runner: str
    methods: tuple[str, ...]

    @property
    def env_dir(self) -> Path:
        return ENVS_DIR / self.name

    @property
    def python(self) -> Path:
        return self.env_dir / "bin" / "python"

    @property
    def requirements(self) -> Path:
        return REQUIREMENTS_DIR / f"{self.name}.txt"

    @property
    def runner_path(self) -> Path:
        return PEERS_DIR / self.runner

    def requirements_hash(self) -> str:
        return hashlib.sha256(self.requirements.read_bytes()).hexdigest()

    def problem(self) -> str | None:
        """Why the environment cannot be used, or None when it is ready."""
        if not self.python.exists():
            return f"missing: run `python -m benchmarks.quality.peers setup {self.name}`"
        marker = self.env_dir / MARKER
        if not marker.exists():
            return f"incomplete: rerun `python -m benchmarks.quality.peers setup {self.name}`"
        if marker.read_text().strip() != self.requirements_hash():
            return (
                f"stale ({self.requirements.name} changed): rerun "
                f"`python -m benchmarks.quality.peers setup {self.name}`"
            )
        return None

    def ready(self) -> bool:
        return self.problem() is None


PEERS: dict[str, Peer] = {
    peer.name: peer
    for peer in (
        Peer(
            "syne-tune",
            "syne_tune",
            "syne_tune.optimizer.baselines",
            "runner_synetune.py",
            ("st-mobster", "st-hypertune", "st-bohb", "st-asha"),
        ),
        Peer("smac", "smac", "smac", "runner_smac.py", ("smac-mf",)),
        Peer("dehb", "dehb", "dehb", "runner_dehb.py", ("dehb",)),
    )
}
PEER_METHODS: tuple[str, ...] = tuple(method for peer in PEERS.values() for method in peer.methods)


def peer_of(method: str) -> Peer:
    """The peer library that runs ``method``."""
    for peer in PEERS.values():
        if method in peer.methods:
            return peer
    raise KeyError(f"{method!r} is no peer method; they are {', '.join(PEER_METHODS)}")


def _run(command: Sequence[str | Path], log: Callable[[str], None]) -> None:
    log("$ " + " ".join(str(part) for part in command))
    subprocess.run([str(part) for part in command], check=True)


def setup(
    names: Sequence[str] = (),
    base_python: str = sys.executable,
    log: Callable[[str], None] = print,
) -> None:
    """Build the environments of ``names`` (every peer when empty) from scratch."""
    for name in names or PEERS:
        if name not in PEERS:
            raise KeyError(f"unknown peer {name!r}; the peers are {', '.join(PEERS)}")
        peer = PEERS[name]
        _run([base_python, "-m", "venv", "--clear", peer.env_dir], log)
        pip = [peer.python, "-m", "pip", "install", "--disable-pip-version-check"]
        pinned = peer.requirements.read_text().splitlines()
        if any(line.split("==")[0].strip().lower() == "torch" for line in pinned):
            _run([*pip, TORCH], log)
        _run([*pip, "-r", peer.requirements], log)
        (peer.env_dir / MARKER).write_text(peer.requirements_hash() + "\n")
        log(f"{name}: ready in {peer.env_dir}")


def check_peer(peer: Peer) -> tuple[bool, str]:
    """``(ready, line)``: the library's version, or why its environment cannot be used."""
    problem = peer.problem()
    if problem is not None:
        return False, problem
    probe = (
        "import importlib.metadata, sys\n"
        f"import {peer.module}\n"
        f"print(importlib.metadata.version({peer.distribution!r}))\n"
    )
    result = subprocess.run(
        [str(peer.python), "-E", "-s", "-c", probe], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-1:] or ["(no output)"]
        return False, f"broken: importing {peer.module} fails: {tail[0]}"
    return True, result.stdout.strip().splitlines()[-1]


def check(log: Callable[[str], None] = print) -> bool:
    """Print each peer environment's library version or what is wrong; True if all are ready."""
    every = True
    for peer in PEERS.values():
        ok, line = check_peer(peer)
        every &= ok
        log(f"{peer.name:10} {line}  ({', '.join(peer.methods)})")
    return every
