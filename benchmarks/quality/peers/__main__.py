"""Build or check the peer libraries' virtual environments (see envs.py).

Usage:

    python -m benchmarks.quality.peers setup [NAME ...]   # syne-tune, smac, dehb; default: all
    python -m benchmarks.quality.peers check              # exit status 1 unless all are ready
"""

from __future__ import annotations

import argparse
import sys

from benchmarks.quality.peers import envs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.quality.peers",
        description="Virtual environments of the quality benchmark's peer libraries.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("setup", help="build environments from requirements/<name>.txt")
    build.add_argument("names", nargs="*", metavar="NAME", help=f"of {', '.join(envs.PEERS)}")
    build.add_argument(
        "--python", default=sys.executable, help="interpreter to base them on (default: this one)"
    )
    commands.add_parser("check", help="print each library's version or what is wrong")
    args = parser.parse_args(argv)
    if args.command == "setup":
        unknown = sorted(set(args.names) - set(envs.PEERS))
        if unknown:
            known = ", ".join(envs.PEERS)
            parser.error(f"unknown peer(s) {', '.join(unknown)}; the peers are {known}")
        envs.setup(args.names, base_python=args.python)
        return 0
    return 0 if envs.check() else 1


if __name__ == "__main__":
    sys.exit(main())
