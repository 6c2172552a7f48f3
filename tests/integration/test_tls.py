"""TLS between clients, workers and a real coordinator, with certificates made in the test."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hpo.auth import Role, generate_secret
from hpo.client import Client
from hpo.coordinator.server import Coordinator, start_coordinator
from hpo.errors import RemoteError, UnauthenticatedError
from hpo.space import Float, Int
from hpo.storage import Store
from hpo.storage.migrate import upgrade
from hpo.tokens import TokenService
from hpo.v1 import hpo_pb2 as pb
from hpo.v1 import hpo_pb2_grpc
from tests.conftest import HPO

SCRIPTS = Path(__file__).resolve().parents[1] / "e2e"


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_pki(directory: Path, ca_name: str = "hpo test CA") -> Pki:
    """A CA and a server certificate it signed for localhost and 127.0.0.1 (PEM files)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(ca_name))
        .issuer_name(_name(ca_name))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    pki.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pki.key.chmod(0o600)
    return pki


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def tls_coordinator(sqlite_url: str, pki: Pki) -> Iterator[Coordinator]:
    running = start_coordinator(
        sqlite_url, "127.0.0.1", 0, tls_cert=pki.cert, tls_key=pki.key, lease_seconds=30
    )
    yield running
    running.stop(grace=1)


def unavailable(client: Client) -> str:
    with pytest.raises(RemoteError) as caught:
        client.studies()
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE, str(caught.value)
    return str(caught.value)


def test_a_client_with_the_ca_talks_tls(tls_coordinator: Coordinator, pki: Pki) -> None:
    assert tls_coordinator.tls
    with Client(tls_coordinator.address, timeout=10, tls_ca=pki.ca, token="") as client:
        client.create_study("s", {"x": Float(0, 1)}, r_min=1, r_max=9)
        assert [study.name for study in client.studies()] == ["s"]
    # The name the certificate is checked against is the one the client dials.
    address = f"localhost:{tls_coordinator.port}"
    with Client(address, timeout=10, tls_ca=str(pki.ca), token="") as client:
        assert [study.name for study in client.studies()] == ["s"]


def bare_call(channel: grpc.Channel) -> grpc.StatusCode:
    """ListStudies once over ``channel`` (no retries, unlike hpo.Client): its status code."""
    with channel:
        try:
            hpo_pb2_grpc.CoordinatorStub(channel).ListStudies(pb.ListStudiesRequest(), timeout=10)
        except grpc.RpcError as error:
            return error.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


NO_RETRIES = [("grpc.enable_retries", 0)]


def test_a_plaintext_client_cannot_talk_to_a_tls_coordinator(
    tls_coordinator: Coordinator,
) -> None:
    with Client(tls_coordinator.address, timeout=10, token="") as client:
        unavailable(client)  # after the client's retries, which cannot help


def test_a_certificate_from_another_ca_is_refused(
    tls_coordinator: Coordinator, tmp_path: Path
) -> None:
    stranger = make_pki(tmp_path / "other", ca_name="another CA")
    credentials = grpc.ssl_channel_credentials(stranger.ca.read_bytes())
    channel = grpc.secure_channel(tls_coordinator.address, credentials, options=NO_RETRIES)
    assert bare_call(channel) == grpc.StatusCode.UNAVAILABLE


def test_a_tls_client_cannot_talk_to_a_plaintext_coordinator(
    coordinator: Coordinator, pki: Pki
) -> None:
    credentials = grpc.ssl_channel_credentials(pki.ca.read_bytes())
    channel = grpc.secure_channel(coordinator.address, credentials, options=NO_RETRIES)
    assert bare_call(channel) == grpc.StatusCode.UNAVAILABLE
    assert bare_call(grpc.insecure_channel(coordinator.address)) == grpc.StatusCode.OK


def test_the_ca_comes_from_the_environment(
    tls_coordinator: Coordinator, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPO_TLS_CA", str(pki.ca))
    with Client(tls_coordinator.address, timeout=10, token="") as client:
        assert client.studies() == []


def test_a_certificate_without_its_key_is_refused(sqlite_url: str, pki: Pki) -> None:
    with pytest.raises(ValueError, match="both a certificate and its key"):
        start_coordinator(sqlite_url, "127.0.0.1", 0, tls_cert=pki.cert)
    with pytest.raises(ValueError, match="both a certificate and its key"):
        start_coordinator(sqlite_url, "127.0.0.1", 0, tls_key=pki.key)


def test_a_worker_runs_trials_over_tls_with_a_token(
    sqlite_url: str, pki: Pki, serve, tmp_path: Path
) -> None:
    """`hpo serve --tls-cert --tls-key --no-anonymous` and `hpo worker --tls-ca --token-file`."""
    store = Store(sqlite_url)
    upgrade(store.engine)
    tokens = TokenService(store)
    admin, worker = generate_secret(), generate_secret()
    tokens.create("admin", Role.ADMIN, admin)
    tokens.create("gpu-1", Role.WORKER, worker)
    store.dispose()
    token_file = tmp_path / "worker.token"
    token_file.write_text(worker + "\n")
    token_file.chmod(0o600)

    server = serve(
        sqlite_url, "--tls-cert", str(pki.cert), "--tls-key", str(pki.key), "--no-anonymous"
    )
    with Client(server.address, timeout=10, tls_ca=pki.ca, token=admin) as client:
        client.create_study(
            "tls",
            {"x": Float(-2, 3), "units": Int(8, 64, log=True)},  # what train_quadratic.py reads
            r_min=1,
            r_max=3,
            eta=3,
            max_trials=2,
            algorithm="asha",
        )
    command = [*HPO, "worker", "--coordinator", server.address, "--study", "tls"]
    options = ["--tls-ca", str(pki.ca), "--token-file", str(token_file)]
    options += ["--workdir", str(tmp_path / "trials"), "--max-trials", "2", "--quiet"]
    result = subprocess.run(
        [*command, *options, "--", *HPO[:1], str(SCRIPTS / "train_quadratic.py")],
        capture_output=True,
        text=True,
        timeout=240,
        # Only the options give the worker its token and CA.
        env={k: v for k, v in os.environ.items() if not k.startswith("HPO_")},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 assignments" in result.stdout
    with Client(server.address, timeout=10, tls_ca=pki.ca, token=admin) as client:
        trials = client.get_study("tls").trials(include_reports=True)
    assert len(trials) == 2 and all(trial.reports for trial in trials)


def _serve_fails(sqlite_url: str, *options: str) -> str:
    """``hpo serve`` with ``options``: it must exit with a message on stderr and no traceback."""
    result = subprocess.run(
        [*HPO, "serve", "--db", sqlite_url, "--port", "0", *options],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "Failed to bind" not in result.stderr
    return result.stderr


def test_a_key_that_is_not_the_certificates_is_refused_saying_so(
    sqlite_url: str, pki: Pki, tmp_path: Path
) -> None:
    """A mismatched or garbage key gave gRPC's misleading "Failed to bind" traceback (issue 15,
    defect 12); each is now refused saying which it is."""
    other = make_pki(tmp_path / "other", ca_name="another CA")
    stderr = _serve_fails(sqlite_url, "--tls-cert", str(pki.cert), "--tls-key", str(other.key))
    assert f"--tls-key {other.key} is not the private key of --tls-cert {pki.cert}" in stderr
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key\n")
    stderr = _serve_fails(sqlite_url, "--tls-cert", str(pki.cert), "--tls-key", str(garbage))
    assert f"--tls-key {garbage} is not a PEM private key" in stderr, stderr


def test_an_encrypted_key_or_a_certificate_that_is_not_pem_is_refused_saying_so(
    sqlite_url: str, pki: Pki, tmp_path: Path
) -> None:
    """gRPC cannot use an encrypted key, nor a certificate that is not PEM: each gave the same
    misleading "Failed to bind" traceback (issue 15, defect 12). Each is refused before the
    coordinator listens, with a message that says which problem it is."""
    key = serialization.load_pem_private_key(pki.key.read_bytes(), password=None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"a passphrase"),
        )
    )
    stderr = _serve_fails(sqlite_url, "--tls-cert", str(pki.cert), "--tls-key", str(encrypted))
    assert f"--tls-key {encrypted} is encrypted" in stderr, stderr
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    der = tmp_path / "server.der"
    der.write_bytes(
        x509.load_pem_x509_certificate(pki.cert.read_bytes()).public_bytes(
            serialization.Encoding.DER
        )
    )
    for cert in (garbage, der):
        stderr = _serve_fails(sqlite_url, "--tls-cert", str(cert), "--tls-key", str(pki.key))
        assert f"--tls-cert {cert} is not a PEM certificate" in stderr, stderr


@pytest.mark.parametrize("host", ["::1", "[::1]", "::"])
def test_ipv6_hosts_are_served(serve: Any, sqlite_url: str, host: str) -> None:
    """``hpo serve --host ::1`` (and ``::``) crashed with "Failed to bind to address ::1:0"."""
    coordinator = serve(sqlite_url, "--host", host)
    assert coordinator.address.startswith("[")
    with Client(f"[::1]:{coordinator.address.rsplit(':', 1)[1]}", timeout=10) as client:
        if host == "::":  # every address: not loopback, so tokens are required
            with pytest.raises(UnauthenticatedError):
                client.studies()
        else:
            assert client.studies() == []
