"""Drive many trials at once from one asyncio event loop: ``try_suggest`` and explicit actions.

    hpo serve --db hpo.db &                   # in another terminal
    python examples/async_driver.py 127.0.0.1:50051 --concurrency 8

A scheduler, a simulator or an asyncio service holds many trials without a thread each: every
slot asks with ``try_suggest`` (one call, never a sleep inside the client), trains, and acts
on each report's ``action``. Told to wait, a slot waits until one of the driver's own trials
ends (that is when new work appears) or the coordinator's delay passes, whichever is first.
The "training" is a synthetic learning curve, so the example runs in seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
from collections import Counter

import hpo
from hpo.client import DEFAULT_ADDRESS
from hpo.spec import Algorithm, Resource

SPEC = hpo.StudySpec(
    name="async-driver-example",
    space=hpo.Space({"x": hpo.Float(-3, 3), "lr": hpo.Float(1e-4, 1.0, log=True)}),
    resource=Resource(r_min=1, r_max=27, eta=3, name="epochs"),
    algorithm=Algorithm.ASHA,
    max_trials=40,
    seed=11,
)


def loss(config: dict, epoch: int) -> float:
    """A learning curve: lower with more epochs, best near x = 1 and lr = 0.01."""
    return (config["x"] - 1) ** 2 + 0.1 * (math.log10(config["lr"]) + 2) ** 2 + 1 / epoch


class Driver:
    """``concurrency`` slots that share one study and one client."""

    def __init__(self, study: hpo.AsyncStudy) -> None:
        self.study = study
        self.actions: Counter[hpo.DecisionAction] = Counter()
        # The trials whose (simulated) checkpoints are kept: paused ones, which may resume.
        self.kept: set[int] = set()
        # Set when one of this driver's trials ends, then replaced for the next waiters.
        self._trial_ended = asyncio.Event()

    async def slot(self) -> None:
        while True:
            answer = await self.study.try_suggest()
            if isinstance(answer, hpo.Finished):
                return
            if isinstance(answer, hpo.Wait):
                await self._until_a_trial_ends(answer.retry_after_seconds)
                continue
            await self.train(answer)
            ended, self._trial_ended = self._trial_ended, asyncio.Event()
            ended.set()

    async def _until_a_trial_ends(self, at_most: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._trial_ended.wait(), at_most)

    async def train(self, trial: hpo.AsyncTrial) -> None:
        """Train from the trial's checkpoint to its assignment's resource, one report per
        epoch; the report that ends the assignment also releases it."""
        async with trial:  # heartbeats the lease; fails the trial if training raises
            # A real trainer loads its checkpoint of epoch ``resume_from`` here.
            for epoch in range(int(trial.resume_from) + 1, int(trial.resource) + 1):
                decision = await trial.report(epoch, loss(trial.config, epoch))
                self.actions[decision.action] += 1
                if decision.action is hpo.DecisionAction.CONTINUE:
                    continue
                if decision.action is hpo.DecisionAction.PAUSE:
                    # Paused at a rung: keep the checkpoint, a promotion resumes from it.
                    self.kept.add(trial.number)
                else:
                    # STOP (for good) or DONE (r_max reached): the checkpoint can go.
                    self.kept.discard(trial.number)
                return


async def main(address: str, concurrency: int) -> None:
    async with hpo.AsyncClient(address) as client:
        study = await client.create_study_from_spec(SPEC, exist_ok=True)
        driver = Driver(study)
        async with asyncio.TaskGroup() as slots:
            for _ in range(concurrency):
                slots.create_task(driver.slot())
        best = await study.best()
        assert best is not None
        print(f"best value {best.value:.4f} at {best.resource:g} epochs: {best.config}")
        print("actions: " + ", ".join(f"{a.value} {n}" for a, n in sorted(driver.actions.items())))
        print(f"checkpoints kept for {len(driver.kept)} paused trials")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("address", nargs="?", default=DEFAULT_ADDRESS)
    parser.add_argument("--concurrency", type=int, default=8, help="trials trained at once")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.address, arguments.concurrency))
