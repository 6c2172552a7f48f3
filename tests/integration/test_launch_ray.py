"""``hpo launch ray`` on a real local Ray instance, against a real ``hpo serve`` that takes no
anonymous calls: the workers run as Ray tasks, get their token through the launcher, and run
a study to the end; their logs are where Ray keeps task output."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hpo.vocabulary import TrialState
from tests.conftest import E2E_SCRIPTS, HPO
from tests.integration.launch_study import (
    STUDY,
    TRAIN,
    assert_study_ran_to_the_end,
    start_secured_study,
)

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class LocalRay:
    address: str
    # Ray's session files; its logs/ holds the worker processes' output.
    temp_dir: Path


@pytest.fixture(scope="module")
def local_ray() -> Iterator[LocalRay]:
    """A Ray instance on this machine, 2 CPUs and no GPU, for the module's tests."""
    import ray

    # Short: Ray puts unix sockets under it, whose paths may not pass 107 characters.
    temp_dir = Path(tempfile.mkdtemp(prefix="hpo-ray-"))
    context = ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, _temp_dir=str(temp_dir))
    try:
        yield LocalRay(context.address_info["gcs_address"], temp_dir)
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


def launch_ray(ray: LocalRay, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HPO, "launch", "ray", "--address", ray.address, *options],
        capture_output=True,
        text=True,
        timeout=280,
    )


def worker_logs(ray: LocalRay) -> str:
    return "".join(
        path.read_text(errors="replace")
        for path in ray.temp_dir.glob("session_*/logs/worker-*.*")
        if path.suffix in (".out", ".err")
    )


def test_two_ray_tasks_run_a_study_to_the_end_with_every_report_stored(
    local_ray: LocalRay, serve: Any, tmp_path: Path
) -> None:
    secured = start_secured_study(serve, tmp_path)
    workdir = tmp_path / "trials"
    done = launch_ray(
        local_ray,
        "--study",
        STUDY,
        "--workers",
        "2",
        "--gpus-per-worker",
        "0",
        "-c",
        secured.address,
        "--token-file",
        str(secured.worker_token_file),
        "--workdir",
        str(workdir),
        "--",
        *TRAIN,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "2 of 2 workers succeeded" in done.stdout
    for index in (0, 1):
        assert f"worker {index} on " in done.stdout and "exit status 0" in done.stdout
    assert "CUDA_VISIBLE_DEVICES='')" in done.stdout
    logged = assert_study_ran_to_the_end(secured, workdir)
    # Tasks without GPUs hide the node's GPUs from their trials.
    assert {entry["gpu"] for entry in logged} == {""}
    # Each worker's own output went to Ray's worker logs (and was streamed to the driver).
    logs = worker_logs(local_ray)
    assert logs.count("worker done: ") >= 2, logs
    assert output.count("worker done: ") >= 2, output
    # The token reached the workers through their environment, not a log or a command line.
    assert secured.worker_token not in logs
    assert secured.worker_token not in output


def test_the_launcher_fails_when_a_worker_fails(
    local_ray: LocalRay, serve: Any, tmp_path: Path
) -> None:
    secured = start_secured_study(serve, tmp_path)
    done = launch_ray(
        local_ray,
        "--study",
        "no-such-study",
        "--workers",
        "2",
        "--gpus-per-worker",
        "0",
        "-c",
        secured.address,
        "--token-file",
        str(secured.worker_token_file),
        "--",
        *TRAIN,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0 of 2 workers succeeded" in done.stdout
    assert done.stdout.count("exit status 1") == 2


def test_bad_options_are_refused_before_ray_starts(local_ray: LocalRay) -> None:
    done = launch_ray(
        local_ray, "--study", STUDY, "--workers", "0", "--gpus-per-worker", "0", "-c", "h:1"
    )
    assert done.returncode == 2
    assert "--workers" in done.stderr


def test_interrupting_the_launcher_stops_the_workers_and_fails_their_trials(
    local_ray: LocalRay, serve: Any, tmp_path: Path
) -> None:
    secured = start_secured_study(serve, tmp_path)
    workdir = tmp_path / "trials"
    # One worker whose trials report once (a rung: told to pause), print "ready", then train
    # until terminated.
    command = [*HPO, "launch", "ray", "--address", local_ray.address, "--study", STUDY]
    command += ["--workers", "1", "--gpus-per-worker", "0", "-c", secured.address]
    command += ["--token-file", str(secured.worker_token_file), "--workdir", str(workdir)]
    command += ["--", sys.executable, str(E2E_SCRIPTS / "train_blocking.py")]
    launcher = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert launcher.stdout is not None
        seen = []
        for line in launcher.stdout:  # Ray streams the worker's output to the launcher
            seen.append(line)
            if "] ready" in line:
                break
        else:
            raise AssertionError("the trial never got ready:\n" + "".join(seen))
        launcher.send_signal(signal.SIGINT)
        rest, _ = launcher.communicate(timeout=120)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
    output = "".join(seen) + rest
    assert launcher.returncode == 130, output
    assert "interrupted: the remaining workers were cancelled" in output
    assert "worker 0: " in output and "TaskCancelledError" in output
    # The worker got SIGTERM at once (not its 30 s grace): it terminated the trial's process
    # and let go of every trial, so none waits for its lease to lapse.
    assert "SIGTERM: stopping" in output
    ready = [line for line in output.splitlines() if "] ready" in line][0]
    number = int(ready.split("[trial ", 1)[1].split("]", 1)[0])
    pid = int((workdir / STUDY / f"trial-{number:05d}" / "pid").read_text())
    assert not Path(f"/proc/{pid}").exists()
    with secured.client() as client:
        trials = client.get_study(STUDY).trials()
    assert TrialState.RUNNING not in {trial.state for trial in trials}
    assert all(trial.worker_id == "" for trial in trials if trial.state is TrialState.PAUSED)
