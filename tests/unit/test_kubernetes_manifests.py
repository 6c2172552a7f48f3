"""The Kubernetes manifests of deploy/kubernetes: valid for the API server, and consistent with
each other and with the hpo command line they run.

Schemas: kubernetes-validate's bundled ones (offline), strict (an unknown field fails), for
the oldest Kubernetes the manifests target (1.30: Jobs' backoffLimitPerIndex, gRPC probes)
and the newest it ships. The Secrets are what kustomization.yaml's secretGenerator makes.
"""

from __future__ import annotations

import base64
import copy
import shlex
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import grpc
import kubernetes_validate
import pytest
import typer
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc
from typer.core import TyperGroup, TyperOption
from typer.testing import CliRunner

from hpo.auth import Role
from hpo.cli import app
from hpo.client import Client
from hpo.errors import UnauthenticatedError
from tests.conftest import REPOSITORY
from tests.integration.launch_study import secret_file

DEPLOY = REPOSITORY / "deploy" / "kubernetes"
KUSTOMIZATION = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
VERSIONS = ("1.30", kubernetes_validate.latest_version())
WORKLOADS = ("Deployment", "StatefulSet", "Job")
# What each hpo command cannot run without: given on its command line or by its envvar.
REQUIRED = {
    ("serve",): ("--db",),
    ("dashboard",): ("--db",),
    ("worker",): ("--coordinator", "--token-file", "--study"),
    ("launch", "register-tokens"): ("--db", "--token"),
}
Manifest = dict[str, Any]


def _generated_secrets() -> list[Manifest]:
    """The Secrets secretGenerator makes: its keys, with placeholder values."""
    secrets = []
    for generator in KUSTOMIZATION["secretGenerator"]:
        keys = [
            entry.split("=", 1)[0] if "=" in entry else Path(entry).name
            for entry in generator["files"]
        ]
        secrets.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": generator["name"]},
                "type": "Opaque",
                "data": {key: base64.b64encode(b"placeholder").decode() for key in keys},
            }
        )
    return secrets


def _manifests() -> list[Manifest]:
    documents = [
        document
        for resource in KUSTOMIZATION["resources"]
        for document in yaml.safe_load_all((DEPLOY / resource).read_text())
        if document is not None
    ]
    return documents + _generated_secrets()


MANIFESTS = _manifests()


def _id(manifest: Manifest) -> str:
    return f"{manifest['kind']}/{manifest['metadata']['name']}"


def _by_kind(kind: str) -> list[Manifest]:
    return [manifest for manifest in MANIFESTS if manifest["kind"] == kind]


def _named(kind: str, name: str) -> Manifest:
    (manifest,) = [m for m in _by_kind(kind) if m["metadata"]["name"] == name]
    return manifest


def _pod_specs() -> Iterator[tuple[Manifest, dict[str, Any]]]:
    for manifest in MANIFESTS:
        if manifest["kind"] in WORKLOADS:
            yield manifest, manifest["spec"]["template"]["spec"]


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def test_the_kustomization_lists_every_manifest_file() -> None:
    files = {path.name for path in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(KUSTOMIZATION["resources"]) == sorted(files)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("manifest", MANIFESTS, ids=_id)
def test_every_manifest_validates_against_the_kubernetes_schema(
    manifest: Manifest, version: str
) -> None:
    kubernetes_validate.validate(manifest, version, strict=True)


def test_the_schema_check_refuses_an_unknown_field() -> None:
    broken = copy.deepcopy(_named("Deployment", "hpo-coordinator"))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def _container_ports(container: dict[str, Any]) -> set[int]:
    return {port["containerPort"] for port in container.get("ports", [])}


def _option_value(args: list[str], option: str) -> str | None:
    for index, argument in enumerate(args):
        if argument == "--":
            return None
        if argument == option:
            return args[index + 1]
        if argument.startswith(option + "="):
            return argument.split("=", 1)[1]
    return None


@pytest.mark.parametrize(
    ("workload", "probe_kinds"),
    [
        # The coordinator is ready when its gRPC health says SERVING, and alive while its port
        # accepts connections (a store outage must not restart it).
        (
            ("Deployment", "hpo-coordinator"),
            {"readinessProbe": "grpc", "livenessProbe": "tcpSocket"},
        ),
        (
            ("Deployment", "hpo-dashboard"),
            {"readinessProbe": "httpGet", "livenessProbe": "httpGet"},
        ),
    ],
)
def test_probes_and_services_reach_the_port_the_server_listens_on(
    workload: tuple[str, str], probe_kinds: dict[str, str]
) -> None:
    manifest = _named(*workload)
    (container,) = manifest["spec"]["template"]["spec"]["containers"]
    listening = int(_option_value(container["args"], "--port") or 0)
    assert _container_ports(container) == {listening}
    for probe, kind in probe_kinds.items():
        assert container[probe][kind]["port"] == listening, probe
    labels = manifest["spec"]["template"]["metadata"]["labels"]
    assert manifest["spec"]["selector"]["matchLabels"].items() <= labels.items()
    services = [
        service
        for service in _by_kind("Service")
        if service["spec"]["selector"].items() <= labels.items()
    ]
    assert [service["metadata"]["name"] for service in services] == [workload[1]]
    assert [port["targetPort"] for port in services[0]["spec"]["ports"]] == [listening]


def test_every_service_selects_a_workload() -> None:
    pod_labels = [m["spec"]["template"]["metadata"]["labels"] for m, _ in _pod_specs()]
    for service in _by_kind("Service"):
        selector = service["spec"]["selector"].items()
        assert any(selector <= labels.items() for labels in pod_labels), _id(service)


def _keys(kind: str, name: str) -> set[str]:
    matches = [m for m in _by_kind(kind) if m["metadata"]["name"] == name]
    assert matches, f"{kind} {name} is referenced but not in the set"
    return set(matches[0].get("data", {}))


def test_every_referenced_secret_and_config_map_exists_with_its_keys() -> None:
    references = 0
    for manifest, pod in _pod_specs():
        for volume in pod.get("volumes", []):
            for kind, field, name_field in (
                ("Secret", "secret", "secretName"),
                ("ConfigMap", "configMap", "name"),
            ):
                if field in volume:
                    keys = _keys(kind, volume[field][name_field])
                    items = {item["key"] for item in volume[field].get("items", [])}
                    assert items <= keys, (_id(manifest), volume["name"])
                    references += 1
        for container in _containers(pod):
            for source in container.get("envFrom", []):
                for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                    if field in source:
                        _keys(kind, source[field]["name"])
                        references += 1
            for variable in container.get("env", []):
                for kind, field in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                    reference = variable.get("valueFrom", {}).get(field)
                    if reference is not None:
                        assert reference["key"] in _keys(kind, reference["name"]), variable
                        references += 1
    assert references >= 10  # the walk found the references it is meant to check


def _cli_command(args: list[str]) -> tuple[tuple[str, ...], Any, list[str]]:
    """The hpo (sub)command ``args`` name, and the arguments left for it (typer's own click
    types: typer ships a copy of click)."""
    command: Any = typer.main.get_command(app)
    path: list[str] = []
    while isinstance(command, TyperGroup):
        assert args, f"hpo {' '.join(path)} needs a subcommand"
        assert args[0] in command.commands, f"hpo has no command {' '.join([*path, args[0]])}"
        path.append(args[0])
        command, args = command.commands[args[0]], args[1:]
    return tuple(path), command, args


def _environment_names(container: dict[str, Any]) -> set[str]:
    names = {variable["name"] for variable in container.get("env", [])}
    for source in container.get("envFrom", []):
        for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if field in source:
                names |= _keys(kind, source[field]["name"])
    return names


def _mounted_secret_files(pod: dict[str, Any], container: dict[str, Any]) -> set[str]:
    """The files the container's Secret volumes hold."""
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    files = set()
    for mount in container.get("volumeMounts", []):
        secret = volumes[mount["name"]].get("secret")
        if secret is None:
            continue
        items = secret.get("items") or [
            {"key": key, "path": key} for key in _keys("Secret", secret["secretName"])
        ]
        files |= {str(PurePosixPath(mount["mountPath"]) / item["path"]) for item in items}
    return files


def _hpo_containers() -> Iterator[tuple[Manifest, dict[str, Any], dict[str, Any]]]:
    for manifest, pod in _pod_specs():
        for container in _containers(pod):
            if container.get("command") == ["hpo"]:
                yield manifest, pod, container


def test_every_hpo_command_runs_with_options_the_cli_has_and_what_it_needs() -> None:
    seen = set()
    for manifest, pod, container in _hpo_containers():
        where = f"{_id(manifest)} {container['name']}"
        path, command, args = _cli_command(container["args"])
        seen.add(path)
        options = {
            name: param
            for param in command.params
            if isinstance(param, TyperOption)
            for name in (*param.opts, *param.secondary_opts)
        }
        before_command = args[: args.index("--")] if "--" in args else args
        given = set()
        for argument in before_command:
            if argument.startswith("-"):
                name = argument.split("=", 1)[0]
                assert name in options, f"{where}: hpo {' '.join(path)} has no option {name}"
                given.add(options[name].opts[0])
        environment = _environment_names(container)
        for required in REQUIRED[path]:
            envvar = options[required].envvar
            assert required in given or envvar in environment, f"{where}: {required} missing"
        # The token files it reads are those its Secret volumes hold.
        mounted = _mounted_secret_files(pod, container)
        token_file = _option_value(args, "--token-file")
        if token_file is not None:
            assert token_file in mounted, where
        for argument in before_command:
            if argument.startswith("--token="):
                assert argument.rsplit(":", 1)[1] in mounted, where
    assert seen == set(REQUIRED)


def test_the_workers_are_an_indexed_job_asking_for_gpus_without_pinning_them() -> None:
    job = _named("Job", "hpo-workers")
    assert job["spec"]["completionMode"] == "Indexed"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert int(container["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    # The device plugin's CUDA_VISIBLE_DEVICES reaches the trials; --gpus would override it.
    assert "--gpus" not in container["args"][: container["args"].index("--")]
    # Only the worker token is mounted in a worker pod.
    assert _mounted_secret_files(job["spec"]["template"]["spec"], container) == {
        "/var/run/hpo/token/worker"
    }


def test_the_coordinator_pod_starts_registers_its_tokens_and_answers_its_probe(
    serve: Any, tmp_path: Path
) -> None:
    """The pod's sequence with its own commands, on SQLite and loopback: the init container
    registers the Secret's tokens (twice: every start of the pod runs it), then `hpo serve`
    with the container's options answers the kubelet's gRPC probe without a token while it
    refuses other calls without one, and the Secret's admin token works."""
    pod = _named("Deployment", "hpo-coordinator")["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    secrets = {role.value: secret_file(tmp_path, role.value)[0] for role in Role}
    args = [argument.replace("/var/run/hpo/tokens/", f"{tmp_path}/") for argument in init["args"]]
    db = f"sqlite:///{tmp_path / 'hpo.db'}"
    for attempt in range(2):
        result = CliRunner().invoke(app, args, env={"HPO_DB": db})
        assert result.exit_code == 0, f"attempt {attempt}: {shlex.join(args)}\n{result.output}"

    (container,) = pod["containers"]
    options = [
        {"0.0.0.0": "127.0.0.1", "50051": "0"}.get(argument, argument)
        for argument in container["args"][1:]
    ]
    server = serve(db, *options)
    probe = container["readinessProbe"]["grpc"]
    with grpc.insecure_channel(server.address) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=probe.get("service", "")), timeout=10
        )
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    with (
        Client(server.address, token="", timeout=10) as anonymous,
        pytest.raises(UnauthenticatedError),
    ):
        anonymous.studies()
    with Client(server.address, token=secrets["admin"], timeout=10) as admin:
        registered = {(token.name, token.role) for token in admin.list_tokens()}
    assert registered == {(f"kubernetes-{role.value}", role) for role in Role}
