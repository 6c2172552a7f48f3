"""Drive a study from Python, with no worker daemon: the suggest / report / complete loop.

    hpo serve --db hpo.db &                   # in another terminal
    python examples/client_loop.py 127.0.0.1:50051

The "training" is a toy learning curve, so the example runs in seconds; replace
``train_one_epoch`` with yours.
"""

from __future__ import annotations

import sys

import hpo


def train_one_epoch(config: dict, epoch: int) -> float:
    """A toy learning curve: better with more epochs, best near x = 1 and width 64."""
    return (config["x"] - 1) ** 2 + abs(config["width"] - 64) / 64 + 1 / epoch


def main(address: str) -> None:
    with hpo.Client(address) as client:
        study = client.create_study(
            "client-loop-example",
            {"x": hpo.Float(-3, 3), "width": hpo.Int(8, 256, log=True)},
            r_min=1,
            r_max=27,
            eta=3,
            resource_name="epochs",
            max_trials=30,
            exist_ok=True,
        )
        while (trial := study.suggest()) is not None:
            with trial:
                for epoch in range(int(trial.resume_from) + 1, int(trial.resource) + 1):
                    if trial.report(epoch, train_one_epoch(trial.config, epoch)).should_stop:
                        break
        best = study.best()
        assert best is not None
        print(f"best value {best.value:.4f} at {best.resource:g} epochs: {best.config}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else hpo.client.DEFAULT_ADDRESS)
