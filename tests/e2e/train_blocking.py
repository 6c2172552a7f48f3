"""A trial that reports once, says it is ready, then trains "forever" (until it is terminated).

It records its pid, so a test can check the worker really terminated it.
"""

from __future__ import annotations

import os
import signal

import hpo


def main() -> None:
    trial = hpo.current_trial()
    assert trial.trial_dir is not None
    (trial.trial_dir / "pid").write_text(str(os.getpid()))
    hpo.report(1, 1.0)
    print("ready", flush=True)
    signal.pause()


if __name__ == "__main__":
    main()
