"""``hpo launch slurm`` against a real single-node Slurm (slurmctld, slurmd and munged started
here as root), and a real ``hpo serve`` that takes no anonymous calls: the job array's tasks
run workers that finish a study, with their logs in Slurm's output files.

Slurm needs the Debian packages slurm-wlm and munge, and root (slurmd starts jobs as their
user). Without them the Slurm tests skip, unless HPO_REQUIRE_SLURM=1, which turns the skip
into a failure. The ``--dry-run`` tests need neither.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import HPO, free_port, stop_process
from tests.integration.launch_study import (
    STUDY,
    TRAIN,
    assert_study_ran_to_the_end,
    start_secured_study,
)

pytestmark = pytest.mark.e2e
REQUIRE_SLURM = os.environ.get("HPO_REQUIRE_SLURM") == "1"
DAEMONS = ("munged", "slurmctld", "slurmd")
START_SECONDS = 60
JOB_SECONDS = 240
SLURM_CONF = """\
ClusterName=hpotest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
NodeName={host} NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


@dataclass(frozen=True)
class LocalSlurm:
    """A running single-node cluster: its configuration (SLURM_CONF) for the client tools."""

    conf: Path

    def environment(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *command: str) -> str:
        return subprocess.run(
            command, env=self.environment(), capture_output=True, text=True, check=True, timeout=30
        ).stdout


def _binary(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def _missing_slurm() -> str | None:
    missing = [name for name in (*DAEMONS, "sbatch", "squeue", "scontrol") if not _binary(name)]
    if missing:
        return f"{', '.join(missing)} not found: apt-get install slurm-wlm munge"
    if os.geteuid() != 0:
        return "a local slurmd must run as root"
    return None


def _wait_until_idle(slurm: LocalSlurm, daemons: list[subprocess.Popen[bytes]], log: Path) -> None:
    """Poll sinfo until the node is idle (nothing else signals that slurmd has registered)."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        for daemon in daemons:
            if daemon.poll() is not None:
                raise RuntimeError(f"{daemon.args[0]} exited:\n{log.read_text()}")
        states = subprocess.run(
            ["sinfo", "-h", "-o", "%T"],
            env=slurm.environment(),
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.split()
        if states == ["idle"]:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the Slurm node is not idle after {START_SECONDS} s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def local_slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSlurm]:
    """munged, slurmctld and slurmd in the foreground, on free ports, in a temporary directory
    (no system file is touched), stopped at the end of the session."""
    reason = _missing_slurm()
    if reason is not None:
        if REQUIRE_SLURM:
            pytest.fail(f"HPO_REQUIRE_SLURM=1 but {reason}")
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("slurm")
    (root / "state").mkdir()
    (root / "spool").mkdir()
    key = root / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    host = socket.gethostname().split(".")[0]
    conf = root / "slurm.conf"
    conf.write_text(
        SLURM_CONF.format(host=host, root=root, ctld_port=free_port(), slurmd_port=free_port())
    )
    slurm = LocalSlurm(conf)
    log = root / "daemons.log"
    daemons: list[subprocess.Popen[bytes]] = []
    with log.open("ab") as output:

        def start(*command: str) -> None:
            daemons.append(
                subprocess.Popen(
                    command, env=slurm.environment(), stdout=output, stderr=subprocess.STDOUT
                )
            )

        try:
            # --force: munged refuses to run as root without it.
            start(
                str(_binary("munged")),
                "--foreground",
                "--force",
                f"--socket={root / 'munge.socket'}",
                f"--key-file={key}",
                f"--pid-file={root / 'munged.pid'}",
                f"--seed-file={root / 'munge.seed'}",
                f"--log-file={root / 'munged.log'}",
            )
            start(str(_binary("slurmctld")), "-D", "-f", str(conf))
            start(str(_binary("slurmd")), "-D", "-N", host, "-f", str(conf))
            _wait_until_idle(slurm, daemons, log)
            yield slurm
        finally:
            for daemon in reversed(daemons):
                stop_process(daemon)


def launch_slurm(
    cwd: Path, *options: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HPO, "launch", "slurm", *options],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=env,
    )


def wait_for_job(slurm: LocalSlurm, job_id: str) -> None:
    """Poll squeue until none of the job's tasks is pending or running."""
    deadline = time.monotonic() + JOB_SECONDS
    while time.monotonic() < deadline:
        if not slurm.run("squeue", "-h", "-j", job_id).strip():
            return
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} still queued or running after {JOB_SECONDS} s")


def test_a_job_array_of_two_workers_runs_a_study_to_the_end(
    local_slurm: LocalSlurm, serve: Any, tmp_path: Path
) -> None:
    secured = start_secured_study(serve, tmp_path)
    workdir = tmp_path / "trials"
    done = launch_slurm(
        tmp_path,
        *("--study", STUDY, "--workers", "2", "--gpus-per-worker", "0"),
        *("-c", secured.address, "--token-file", str(secured.worker_token_file)),
        *("--workdir", str(workdir), "--python", sys.executable, "--time", "10:00"),
        "--",
        *TRAIN,
        env=local_slurm.environment(),
    )
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    assert re.fullmatch(r"\d+", job_id), done.stdout
    wait_for_job(local_slurm, job_id)

    tasks = local_slurm.run("scontrol", "show", "job", job_id)
    assert tasks.count("JobState=COMPLETED") == 2, tasks
    assert tasks.count("ExitCode=0:0") == 2, tasks
    assert_study_ran_to_the_end(secured, workdir)
    for index in (0, 1):
        log = (tmp_path / f"slurm-{job_id}_{index}.out").read_text()
        assert f"hpo worker {job_id}_{index} (job " in log
        assert "worker done: " in log, log
        assert secured.worker_token not in log
    # Slurm's copy of the script holds neither the token nor the coordinator.
    script = local_slurm.run("scontrol", "write", "batch_script", f"{job_id}_0", "-")
    assert "#SBATCH --array=0-1" in script
    assert secured.worker_token not in script and secured.address not in script


def test_sbatch_refusing_the_job_is_an_error_with_its_reason(
    local_slurm: LocalSlurm, tmp_path: Path
) -> None:
    done = launch_slurm(
        tmp_path,
        *("--study", STUDY, "--workers", "2", "--gpus-per-worker", "0", "-c", "127.0.0.1:1"),
        *("--partition", "no-such-partition", "--", *TRAIN),
        env=local_slurm.environment(),
    )
    assert done.returncode == 1
    assert "sbatch refused the job" in done.stderr and "partition" in done.stderr.lower()


def dry_run(*options: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return launch_slurm(
        cwd,
        *("--study", "mlp", "-c", "coord.example.org:50051", "--dry-run", "--python", "python3"),
        *options,
    )


def test_dry_run_prints_the_script_with_the_requested_resources_and_a_quoted_command(
    tmp_path: Path,
) -> None:
    command = ["python", "train.py", "--note", "two words; $(touch pwned)", "it's"]
    done = dry_run(
        *("--workers", "4", "--gpus-per-worker", "2", "--partition", "gpu", "--time", "4:00:00"),
        *("--account", "lab", "--cpus-per-worker", "8", "--output", "logs/hpo-%A_%a.log"),
        *("--workdir", "/shared/trials", "--", *command),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    script = done.stdout
    assert script.startswith("#!/bin/bash\n")
    directives = [line for line in script.splitlines() if line.startswith("#SBATCH")]
    assert directives == [
        "#SBATCH --job-name=hpo-mlp",
        "#SBATCH --array=0-3",
        "#SBATCH --output=logs/hpo-%A_%a.log",
        "#SBATCH --gres=gpu:2",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --partition=gpu",
        "#SBATCH --time=4:00:00",
        "#SBATCH --account=lab",
    ]
    (exec_line,) = [line for line in script.splitlines() if line.startswith("exec ")]
    worker = ["python3", "-m", "hpo", "worker", "--study", "mlp", "--workdir", "/shared/trials"]
    assert shlex.split(exec_line) == ["exec", *worker, "--", *command]
    assert "coord.example.org" not in script
    assert "--gpus" not in exec_line  # Slurm's CUDA_VISIBLE_DEVICES reaches the trials
    # The script is valid bash; nothing was submitted, so no file appeared.
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    assert list(tmp_path.iterdir()) == []


def test_dry_run_defaults_ask_for_no_gpu_and_slurms_output_pattern(tmp_path: Path) -> None:
    done = dry_run("--workers", "1", "--gpus-per-worker", "0", "--", "./train.sh", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "#SBATCH --array=0-0\n#SBATCH --output=slurm-%A_%a.out\n" in done.stdout
    assert "--gres" not in done.stdout


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (("--partition", "gpu debug"), "--partition"),
        (("--time", "1:00\n#SBATCH --uid=0"), "--time"),
        (("--account", ""), "--account"),
        (("--workers", "0"), "--workers"),
        (("--gpus-per-worker", "-1"), "--gpus-per-worker"),
    ],
)
def test_options_slurm_would_misread_are_refused(
    options: tuple[str, ...], named: str, tmp_path: Path
) -> None:
    defaults = {"--workers": "2", "--gpus-per-worker": "1"}
    defaults.update(dict(zip(options[::2], options[1::2], strict=True)))
    flat = [item for pair in defaults.items() for item in pair]
    done = dry_run(*flat, "--", "python", "train.py", cwd=tmp_path)
    assert done.returncode == 2, done.stdout
    assert named in done.stderr
