"""A training command that does not import hpo: it reports on stdout and runs until r_max.

The worker parses ``@hpo report ...`` lines and terminates the process when the
coordinator says stop; the command notes each report in ``printed.jsonl`` first.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

EPOCH_SECONDS = 0.15  # simulated training time per unit of resource (the stop must beat it)


def main() -> None:
    config = json.loads(os.environ["HPO_CONFIG"])
    trial_dir = Path(os.environ["HPO_TRIAL_DIR"])
    resource = int(float(os.environ["HPO_RESUME_FROM"]))
    r_max = int(float(os.environ["HPO_R_MAX"]))
    with (trial_dir / "printed.jsonl").open("a") as log:
        while resource < r_max:
            resource += 1
            time.sleep(EPOCH_SECONDS)
            value = (float(config["x"]) - 1.0) ** 2 + 1.0 / resource
            log.write(json.dumps({"resource": resource, "value": value}) + "\n")
            log.flush()
            print(f"@hpo report resource={resource} value={value!r}", flush=True)


if __name__ == "__main__":
    main()
