"""The quality benchmark's peer optimizers, each driven through the simulator.

Syne Tune, SMAC3 and DEHB run in their own virtual environments, built by
``python -m benchmarks.quality.peers setup``; a peer whose environment is not built is
skipped, saying so. Optuna's methods run in this environment. The protocol itself
(conversion of configs, errors, closing) is tested against stand-in runners that need
no peer library.
"""

from __future__ import annotations

import gc
import math
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest

from benchmarks.quality.methods import METHODS
from benchmarks.quality.peers import envs
from benchmarks.quality.peers.policy import PeerError, PeerPolicy, config_from_json
from benchmarks.quality.problems import get_problem
from benchmarks.quality.simulator import Job, simulate
from hpo.schedulers.rungs import rung_levels
from hpo.space import Categorical, Float, Int, Space
from hpo.spec import Resource

WORKERS = 4
# Simulated time per worker: two full-resource trials' worth, about 650 resource units in all.
TIME_LIMIT = 2 * 81


@dataclass
class Record:
    job: Job
    reports: list[tuple[float, bool]] = field(default_factory=list)


class Recorder:
    """Passes a policy's calls through and records every job and report."""

    def __init__(self, policy) -> None:  # noqa: ANN001 - any Policy
        self.policy = policy
        self.records: list[Record] = []
        self._by_job: dict[int, Record] = {}

    def suggest(self, worker: int) -> Job | None:
        job = self.policy.suggest(worker)
        if job is not None:
            record = Record(job)
            self.records.append(record)
            self._by_job[id(job)] = record
        return job

    def report(self, job: Job, resource: float, value: float) -> bool:
        keep = self.policy.report(job, resource, value)
        self._by_job[id(job)].reports.append((resource, keep))
        return keep

    def finish(self, job: Job) -> None:
        self.policy.finish(job)

    def finished(self) -> bool:
        return self.policy.finished()


def regrets(trajectory) -> list[float]:  # noqa: ANN001
    answers = getattr(trajectory, "answers", None)
    if answers is None:  # a trajectory with a single answer
        return list(trajectory.regrets)
    return [regret for steps in answers.values() for regret in steps.regrets]


def _skip_unless_built(method: str) -> None:
    if method not in envs.PEER_METHODS:
        return
    peer = envs.peer_of(method)
    problem = peer.problem()
    if problem is not None:
        pytest.skip(f"{peer.name} environment {problem}")


@pytest.mark.parametrize("method", ["optuna-random-sh", *envs.PEER_METHODS])
def test_peer_runs_a_short_study(method: str) -> None:
    _skip_unless_built(method)
    problem = get_problem("branin")
    policy = METHODS[method](problem, 0)
    recorder = Recorder(policy)
    try:
        trajectory = simulate(problem, recorder, WORKERS, TIME_LIMIT)
    finally:
        if isinstance(policy, PeerPolicy):
            policy.close()
    if isinstance(policy, PeerPolicy):
        assert policy.closed and policy.exit_code == 0
        assert policy.details()["library"].startswith(envs.peer_of(method).name)

    records = recorder.records
    assert trajectory.trials > 0 and trajectory.suggestions >= trajectory.trials
    assert sum(len(record.reports) for record in records) >= trajectory.trials
    found = regrets(trajectory)
    assert found and all(math.isfinite(regret) for regret in found)
    levels = rung_levels(problem.resource)
    for record in records:
        job = record.job
        assert problem.space.validate(job.config) == job.config
        assert all(type(value) is float for value in job.config.values())  # branin: floats
        assert job.start in (0, *levels) and job.target in levels  # every peer keeps to rungs
        assert job.start < job.target
        for reported, _ in record.reports:
            assert job.start < reported <= job.target

    resumed = [record for record in records if record.job.start > 0]
    if method.startswith("st-"):
        # Promotion type: trials pause at a rung and later resume from where they paused.
        assert resumed, "no paused Syne Tune trial was resumed"
        for record in resumed:
            paused_there = [
                earlier
                for earlier in records[: records.index(record)]
                if earlier.job.config == record.job.config
                and earlier.reports
                and earlier.reports[-1] == (record.job.start, False)
            ]
            assert paused_there, f"job {record.job} resumes from a level no job paused at"
    else:
        assert not resumed, f"{method} trains every job from scratch"


def test_optuna_methods_keep_their_samplers() -> None:
    problem = get_problem("branin")
    tpe = METHODS["optuna-tpe-hyperband"](problem, 0)
    assert isinstance(tpe.study.sampler, optuna.samplers.TPESampler)
    assert isinstance(tpe.study.pruner, optuna.pruners.HyperbandPruner)
    random_sh = METHODS["optuna-random-sh"](problem, 0)
    assert isinstance(random_sh.study.sampler, optuna.samplers.RandomSampler)
    assert isinstance(random_sh.study.pruner, optuna.pruners.SuccessiveHalvingPruner)


# --- the protocol, against stand-in runners -----------------------------------------------------

STUB_PEER = envs.Peer("stub", "stub", "stub", "stub.py", ("stub",))
SPACE = Space(
    {
        "lr": Float(1e-4, 1e-1, log=True),
        "units": Int(1, 512, log=True),
        "flag": Categorical([True, 1, "1", 1.5]),
    }
)
PROBLEM = SimpleNamespace(space=SPACE, resource=Resource(r_min=1, r_max=81, eta=3))

STUB = """
import sys
sys.path.insert(0, {peers_dir!r})
from protocol import claim_stdout, serve

claim_stdout()
print("a library's chatter on stdout does not reach the protocol")


class Stub:
    library = "stub"
    version = "1.0"

    def __init__(self, request):
        {on_init}
        self.space = request["space"]
        self.asked = 0

    def suggest(self, worker):
        {on_suggest}
        self.asked += 1
        if self.asked > 2:
            return None, True
        config = {{}}
        for parameter in self.space:
            if parameter["kind"] == "float":
                config[parameter["name"]] = parameter["high"] * (1 + 1e-15)
            elif parameter["kind"] == "int":
                config[parameter["name"]] = parameter["low"]
            else:
                config[parameter["name"]] = self.asked  # the index of a choice
        target = 81 * 3.0 ** -3  # 3.0000000000000004: snapped onto the rung at 3
        return {{"id": str(self.asked), "config": config, "start": 0, "target": target}}, False

    def report(self, job_id, resource, value):
        return resource < 3

    def finish(self, job_id):
        pass


serve(Stub)
"""


def stub_runner(tmp_path: Path, on_init: str = "pass", on_suggest: str = "pass") -> Path:
    script = tmp_path / "stub.py"
    source = STUB.format(peers_dir=str(envs.PEERS_DIR), on_init=on_init, on_suggest=on_suggest)
    script.write_text(textwrap.dedent(source))
    return script


def stub_policy(runner: Path) -> PeerPolicy:
    return PeerPolicy(
        PROBLEM,  # type: ignore[arg-type]
        "stub",
        0,
        peer=STUB_PEER,
        interpreter=Path(sys.executable),
        runner=runner,
    )


def test_configs_come_back_as_hpo_values(tmp_path: Path) -> None:
    with stub_policy(stub_runner(tmp_path)) as policy:
        first, second = policy.suggest(0), policy.suggest(1)
        assert first is not None and second is not None
        assert first.config == {"lr": 1e-1, "units": 1, "flag": 1}
        assert type(first.config["flag"]) is int  # choice 1 is the int 1, not True
        assert second.config["flag"] == "1"
        assert type(first.config["lr"]) is float and type(first.config["units"]) is int
        assert (first.start, first.target) == (0.0, 3.0)
        assert policy.report(first, 1.0, 0.5) is True
        assert policy.report(first, 3.0, 0.4) is False
        policy.finish(first)
        assert policy.suggest(2) is None and policy.finished()
    assert policy.closed and policy.exit_code == 0


def test_a_dropped_policy_closes_its_runner(tmp_path: Path) -> None:
    policy = stub_policy(stub_runner(tmp_path))
    process = policy._process
    del policy
    gc.collect()
    assert process.wait(timeout=10) == 0


def test_a_dying_runner_names_the_peer_and_shows_its_stderr(tmp_path: Path) -> None:
    runner = stub_runner(tmp_path, on_init="sys.stderr.write('out of luck\\n'); sys.exit(3)")
    with pytest.raises(PeerError) as error:
        stub_policy(runner)
    message = str(error.value)
    assert "stub runner for stub died (exit code 3)" in message
    assert "out of luck" in message


def test_a_runner_dying_mid_run_raises_and_is_closed(tmp_path: Path) -> None:
    runner = stub_runner(tmp_path, on_suggest="sys.stderr.write('gone\\n'); sys.exit(4)")
    policy = stub_policy(runner)
    with pytest.raises(PeerError, match=r"(?s)died \(exit code 4\) on 'suggest'.*gone"):
        policy.suggest(0)
    assert policy.closed
    with pytest.raises(PeerError, match="is closed"):
        policy.suggest(1)


def test_a_failing_request_raises_with_the_runner_traceback(tmp_path: Path) -> None:
    runner = stub_runner(tmp_path, on_suggest="raise ValueError('no idea')")
    policy = stub_policy(runner)
    with pytest.raises(PeerError, match="(?s)stub runner for stub failed on 'suggest'.*no idea"):
        policy.suggest(0)
    assert policy.closed


def test_a_missing_environment_says_how_to_build_it() -> None:
    nowhere = envs.Peer("nowhere", "nowhere", "nowhere", "runner_nowhere.py", ("x",))
    with pytest.raises(PeerError, match="peers setup nowhere"):
        PeerPolicy(PROBLEM, "x", 0, peer=nowhere)  # type: ignore[arg-type]


def test_configs_outside_the_space_are_refused() -> None:
    with pytest.raises(ValueError):
        config_from_json(SPACE, {"lr": 0.01, "units": 2, "flag": 4})  # no choice 4
    with pytest.raises(ValueError):
        config_from_json(SPACE, {"lr": 0.01, "units": 2.5, "flag": 0})
    with pytest.raises(ValueError):
        config_from_json(SPACE, {"lr": 0.01, "units": 2})
