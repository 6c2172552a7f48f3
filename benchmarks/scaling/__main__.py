"""Run the scaling-law benchmark, or rebuild its report from the result files.

    python -m benchmarks.scaling                  # every missing step, then the report
    python -m benchmarks.scaling --report-only    # the report from benchmarks/scaling/results
    python -m benchmarks.scaling --algorithms asha --seeds 0,1

Steps whose result file exists are skipped, so an interrupted run resumes where it stopped
(benchmarks/scaling/runs.py). Training uses one CPU thread; the whole benchmark took 10
CPU-minutes (11 wall-minutes) on a shared 2-core machine (README.md).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

from benchmarks.scaling.report import write_report  # noqa: E402
from benchmarks.scaling.runs import ALGORITHMS, RACE_SEEDS, run_all  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaling", description=__doc__)
    parser.add_argument("--report-only", action="store_true", help="train nothing")
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS), help="of the races")
    parser.add_argument(
        "--seeds", default=",".join(map(str, RACE_SEEDS)), help="of the races, comma-separated"
    )
    arguments = parser.parse_args()
    if not arguments.report_only:
        run_all(
            tuple(arguments.algorithms.split(",")),
            tuple(int(seed) for seed in arguments.seeds.split(",")),
        )
    print(write_report())


if __name__ == "__main__":
    main()
