"""Bearer tokens and roles against a real coordinator on loopback, over a real SQLite store."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa
from click.testing import Result
from typer.testing import CliRunner

from hpo.auth import (
    METHOD_ROLES,
    Role,
    check_secret,
    generate_secret,
    hash_secret,
    is_well_formed,
    role_to_proto,
)
from hpo.cli import app
from hpo.client import Client
from hpo.coordinator.server import Coordinator, start_coordinator
from hpo.errors import (
    AlreadyExistsError,
    HpoError,
    InvalidArgumentError,
    NotFoundError,
    UnauthenticatedError,
)
from hpo.space import Float
from hpo.storage import Store
from hpo.storage.migrate import upgrade
from hpo.token_checks import TokenChecker, is_loopback, resolve_anonymous
from hpo.tokens import TokenService
from hpo.v1 import hpo_pb2 as pb
from hpo.v1 import hpo_pb2_grpc

SPACE = {"x": Float(-3, 3)}
COORDINATOR_METHODS = pb.DESCRIPTOR.services_by_name["Coordinator"].methods_by_name
runner = CliRunner()


@pytest.fixture
def secure(sqlite_url: str) -> Iterator[Coordinator]:
    """A coordinator on loopback that accepts no anonymous call."""
    running = start_coordinator(sqlite_url, "127.0.0.1", 0, lease_seconds=30, anonymous=False)
    yield running
    running.stop(grace=1)


@pytest.fixture
def issue(secure: Coordinator) -> Callable[[str, Role], str]:
    """``issue(name, role)``: a token created directly in the store; returns its secret."""
    tokens = TokenService(secure.store.sql)

    def create(name: str, role: Role) -> str:
        secret = generate_secret()
        tokens.create(name, role, secret)
        return secret

    return create


def connect(coordinator: Coordinator, secret: str | None = None) -> Client:
    # token="" disables the HPO_TOKEN fallback, so the test controls exactly what is sent.
    return Client(coordinator.address, timeout=10, token=secret if secret is not None else "")


def refused(call: Callable[[], object], code: grpc.StatusCode) -> str:
    """Run ``call``, expect it to fail with ``code``, return the status details."""
    with pytest.raises(HpoError) as caught:
        call()
    assert caught.value.code == code, str(caught.value)
    return str(caught.value)


def raw_call(
    coordinator: Coordinator, method: str, request: object, secret: str | None
) -> grpc.StatusCode:
    """Call ``method`` with ``request`` over a bare channel: the status code it ends with."""
    metadata = (("authorization", f"Bearer {secret}"),) if secret else None
    with grpc.insecure_channel(coordinator.address) as channel:
        stub = hpo_pb2_grpc.CoordinatorStub(channel)
        try:
            getattr(stub, method)(request, timeout=10, metadata=metadata)
        except grpc.RpcError as error:
            return error.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def token_rows(coordinator: Coordinator) -> list[tuple]:
    with coordinator.store.engine.connect() as connection:
        return [tuple(row) for row in connection.exec_driver_sql("SELECT * FROM tokens")]


# ---------------------------------------------------------------- the method table


def test_every_rpc_of_the_service_has_a_role() -> None:
    assert set(COORDINATOR_METHODS) == set(METHOD_ROLES)


def test_the_roles_of_the_methods_are_the_documented_ones() -> None:
    """docs/security.md's table: changing a method's role is a change of the contract."""
    by_role = {role: {m for m, needed in METHOD_ROLES.items() if needed is role} for role in Role}
    assert by_role == {
        Role.READER: {
            *("GetStudy", "ListStudies", "ListTrials"),
            *("GetBest", "GetParetoFront", "GetPriors", "FitScaling"),
        },
        Role.WORKER: {"Suggest", "Report", "Complete", "Fail", "Heartbeat"},
        Role.ADMIN: {
            *("CreateStudy", "ExtendStudy", "StopStudy", "Enqueue"),
            *("CreateToken", "ListTokens", "RevokeToken"),
        },
    }


def test_roles_include_the_roles_below_them() -> None:
    assert Role.ADMIN.includes(Role.WORKER) and Role.WORKER.includes(Role.READER)
    assert not Role.READER.includes(Role.WORKER) and not Role.WORKER.includes(Role.ADMIN)


def test_generated_secrets_are_well_formed_and_only_their_hash_is_kept() -> None:
    secret = generate_secret()
    assert is_well_formed(secret) and secret.startswith("hpo_") and len(secret) == 47
    assert generate_secret() != secret
    assert hash_secret(secret) == hash_secret(secret) and len(hash_secret(secret)) == 64
    for bad in ("", "hpo_short", "hpo_" + "a" * 31, "xyz_" + "a" * 43, "hpo_" + "a" * 40 + "!"):
        assert not is_well_formed(bad)
        with pytest.raises(InvalidArgumentError) as caught:
            check_secret(bad)
        assert caught.value.field == "secret"


# ---------------------------------------------------------------- who gets in


def test_a_call_without_a_token_is_unauthenticated(secure: Coordinator) -> None:
    with connect(secure) as client:
        details = refused(client.studies, grpc.StatusCode.UNAUTHENTICATED)
    assert "missing bearer token" in details


def test_a_wrong_or_malformed_token_is_unauthenticated_without_echoing_it(
    secure: Coordinator, issue: Callable[[str, Role], str]
) -> None:
    issue("admin", Role.ADMIN)
    unknown = generate_secret()
    with connect(secure, unknown) as client:
        details = refused(client.studies, grpc.StatusCode.UNAUTHENTICATED)
    assert "unknown token" in details and unknown not in details
    with connect(secure, "not-an-hpo-token") as client:
        details = refused(client.studies, grpc.StatusCode.UNAUTHENTICATED)
    assert "not an hpo token" in details and "not-an-hpo-token" not in details
    request = pb.ListStudiesRequest()
    with grpc.insecure_channel(secure.address) as channel:
        stub = hpo_pb2_grpc.CoordinatorStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.ListStudies(request, timeout=10, metadata=(("authorization", "Basic abc"),))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
    assert "malformed" in caught.value.details()  # type: ignore[attr-defined]


def test_a_revoked_token_is_unauthenticated_at_once_on_the_revoking_coordinator(
    secure: Coordinator, issue: Callable[[str, Role], str]
) -> None:
    admin = issue("admin", Role.ADMIN)
    worker = issue("gpu-1", Role.WORKER)
    with connect(secure, worker) as client:
        assert client.studies() == []  # cached as valid from now on
    with connect(secure, admin) as client:
        revoked = client.revoke_token("gpu-1")
    assert not revoked.active and revoked.revoked_at is not None
    with connect(secure, worker) as client:
        details = refused(client.studies, grpc.StatusCode.UNAUTHENTICATED)
    assert "'gpu-1' was revoked" in details


def test_a_token_revoked_in_the_store_stops_working_when_the_cache_entry_expires(
    secure: Coordinator, issue: Callable[[str, Role], str]
) -> None:
    """What another coordinator sees: no notification, only the TTL of its cache."""
    secret = issue("gpu-1", Role.WORKER)
    authorization = [f"Bearer {secret}"]
    now = [100.0]
    other = TokenChecker(TokenService(secure.store.sql), cache_seconds=5.0, clock=lambda: now[0])
    assert other.authenticate(authorization).name == "gpu-1"
    TokenService(secure.store.sql).revoke("gpu-1")  # e.g. `hpo token revoke gpu-1 --db URL`
    now[0] += 4.9
    assert other.authenticate(authorization).role is Role.WORKER  # still cached
    now[0] += 0.2
    with pytest.raises(Exception, match="'gpu-1' was revoked"):
        other.authenticate(authorization)


def test_revocation_in_the_store_is_immediate_without_a_cache(sqlite_url: str) -> None:
    running = start_coordinator(sqlite_url, "127.0.0.1", 0, anonymous=False, token_cache_seconds=0)
    try:
        tokens = TokenService(running.store.sql)
        secret = generate_secret()
        tokens.create("reader", Role.READER, secret)
        with connect(running, secret) as client:
            assert client.studies() == []
            tokens.revoke("reader")
            refused(client.studies, grpc.StatusCode.UNAUTHENTICATED)
    finally:
        running.stop(grace=1)


# ---------------------------------------------------------------- what each role may do


def test_a_reader_may_not_suggest_and_a_worker_may_not_create_studies(
    secure: Coordinator, issue: Callable[[str, Role], str]
) -> None:
    admin, worker, reader = (issue(r.value, r) for r in (Role.ADMIN, Role.WORKER, Role.READER))
    with connect(secure, admin) as client:
        client.create_study("s", SPACE, r_min=1, r_max=9, algorithm="asha")
    with connect(secure, reader) as client:
        study = client.get_study("s")
        details = refused(study.suggest, grpc.StatusCode.PERMISSION_DENIED)
    assert "Suggest needs the worker role" in details and "'reader' has the reader role" in details
    with connect(secure, worker) as client:
        details = refused(
            lambda: client.create_study("t", SPACE, r_min=1, r_max=9),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        assert "CreateStudy needs the admin role" in details
        refused(lambda: client.get_study("s").stop(), grpc.StatusCode.PERMISSION_DENIED)
        refused(client.list_tokens, grpc.StatusCode.PERMISSION_DENIED)
    with connect(secure, admin) as client:
        assert [study.name for study in client.studies()] == ["s"]  # "t" was not created


@pytest.mark.parametrize("role", list(Role))
def test_each_role_may_call_exactly_the_methods_its_rank_allows(
    secure: Coordinator, issue: Callable[[str, Role], str], role: Role
) -> None:
    """Every RPC, with an empty request: a permitted call fails (if at all) on its arguments,
    never on permission."""
    secret = issue("caller", role)
    for method, needed in METHOD_ROLES.items():
        request = getattr(pb, COORDINATOR_METHODS[method].input_type.name)()
        code = raw_call(secure, method, request, secret)
        if role.includes(needed):
            assert code not in (
                grpc.StatusCode.PERMISSION_DENIED,
                grpc.StatusCode.UNAUTHENTICATED,
                grpc.StatusCode.UNIMPLEMENTED,
            ), (method, code)
        else:
            assert code == grpc.StatusCode.PERMISSION_DENIED, (method, code)


def test_each_role_does_its_job(secure: Coordinator, issue: Callable[[str, Role], str]) -> None:
    admin, worker, reader = (issue(r.value, r) for r in (Role.ADMIN, Role.WORKER, Role.READER))
    with connect(secure, admin) as client:
        study = client.create_study("s", SPACE, r_min=1, r_max=9, max_trials=3, algorithm="asha")
        study.enqueue({"x": 1.0})
    with connect(secure, worker) as client:
        trial = client.get_study("s").suggest()
        assert trial is not None and trial.config == {"x": 1.0}
        with trial:
            assert client.heartbeat([trial.id]) == {trial.id: True}
            assert trial.report(1, 0.5).should_stop
    with connect(secure, reader) as client:
        study = client.get_study("s")
        best = study.best()
        assert best is not None and best.value == 0.5
        assert [t.number for t in study.trials()] == [0]
        assert study.priors().proposals[0].trial_number == 0
    with connect(secure, admin) as client:
        assert client.get_study("s").stop("done").state == "stopped"
        assert {t.name for t in client.list_tokens()} == {"admin", "worker", "reader"}


# ---------------------------------------------------------------- anonymous mode


def test_anonymous_mode_is_on_for_loopback_by_default(coordinator: Coordinator) -> None:
    assert coordinator.anonymous
    with connect(coordinator) as client:
        client.create_study("s", SPACE, r_min=1, r_max=9)  # no token: admin
        assert [study.name for study in client.studies()] == ["s"]
        secret = generate_secret()
        client.create_token("reader", Role.READER, secret)
    # A call that carries a token is verified even where anonymous calls are let in.
    with connect(coordinator, generate_secret()) as client:
        refused(client.studies, grpc.StatusCode.UNAUTHENTICATED)
    with connect(coordinator, secret) as client:
        assert [study.name for study in client.studies()] == ["s"]
        refused(
            lambda: client.create_study("t", SPACE, r_min=1, r_max=9),
            grpc.StatusCode.PERMISSION_DENIED,
        )


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("example.org", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    assert resolve_anonymous(host, None) is loopback
    assert resolve_anonymous(host, False) is False


def test_anonymous_mode_on_a_non_loopback_address_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "hpo.db"
    with pytest.raises(ValueError, match="only allowed on a loopback address"):
        start_coordinator(f"sqlite:///{db}", "0.0.0.0", 0, anonymous=True)
    assert not db.exists()  # refused before anything was opened
    result = runner.invoke(app, ["serve", "--db", str(db), "--host", "0.0.0.0", "--anonymous"])
    assert result.exit_code == 2 and "only allowed on a loopback address" in said(result)


def test_a_coordinator_on_all_interfaces_requires_a_token(sqlite_url: str) -> None:
    running = start_coordinator(sqlite_url, "0.0.0.0", 0)
    try:
        assert not running.anonymous
        loopback = Client(f"127.0.0.1:{running.port}", timeout=10, token="")
        with loopback:
            refused(loopback.studies, grpc.StatusCode.UNAUTHENTICATED)
        secret = generate_secret()
        TokenService(running.store.sql).create("reader", Role.READER, secret)
        with Client(f"127.0.0.1:{running.port}", timeout=10, token=secret) as client:
            assert client.studies() == []
    finally:
        running.stop(grace=1)


# ---------------------------------------------------------------- tokens in the store


def test_the_store_holds_only_hashes_and_the_log_no_secret(
    secure: Coordinator,
    issue: Callable[[str, Role], str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin = issue("admin", Role.ADMIN)
    created = generate_secret()
    with caplog.at_level(logging.DEBUG), connect(secure, admin) as client:
        client.create_token("gpu-1", "worker", created)
        client.revoke_token("gpu-1")
        with connect(secure, created) as revoked:
            refused(revoked.studies, grpc.StatusCode.UNAUTHENTICATED)
    assert "'gpu-1' (worker) created by token 'admin'" in caplog.text
    secure.store.close()  # close connections so everything is in the files we read
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("hpo.db*"))
    for secret in (admin, created):
        assert secret.encode() not in stored and secret not in caplog.text
        assert hash_secret(secret).encode() in stored


def test_a_retried_create_token_writes_one_row(
    secure: Coordinator, issue: Callable[[str, Role], str]
) -> None:
    admin = issue("admin", Role.ADMIN)
    secret = generate_secret()
    request = pb.CreateTokenRequest(
        name="gpu-1", role=role_to_proto(Role.WORKER), secret=secret, request_id="req-1"
    )
    metadata = (("authorization", f"Bearer {admin}"),)
    with grpc.insecure_channel(secure.address) as channel:
        stub = hpo_pb2_grpc.CoordinatorStub(channel)
        first = stub.CreateToken(request, timeout=10, metadata=metadata)
        again = stub.CreateToken(request, timeout=10, metadata=metadata)
    assert first == again and first.name == "gpu-1" and first.role == pb.ROLE_WORKER
    assert not first.HasField("revoked_at")
    assert [row[1] for row in token_rows(secure)] == ["admin", "gpu-1"]
    with connect(secure, admin) as client:
        # The same request id for another token is a client bug, not a retry.
        with pytest.raises(InvalidArgumentError) as caught:
            client.create_token("gpu-2", Role.WORKER, generate_secret(), request_id="req-1")
        assert caught.value.field == "request_id"
        # Without a request id, the same name, role and secret is recognised as a retry too.
        assert client.create_token("gpu-1", Role.WORKER, secret).id == first.id
    assert len(token_rows(secure)) == 2


def test_rejected_token_requests_write_nothing(
    secure: Coordinator, issue: Callable[[str, Role], str]
) -> None:
    admin = issue("admin", Role.ADMIN)
    before = token_rows(secure)
    with connect(secure, admin) as client:
        with pytest.raises(AlreadyExistsError, match="'admin' already exists"):
            client.create_token("admin", Role.READER, generate_secret())
        for name, role, secret, field in [
            ("", Role.READER, generate_secret(), "name"),
            ("a" * 129, Role.READER, generate_secret(), "name"),
            ("no spaces", Role.READER, generate_secret(), "name"),
            ("ok", Role.READER, "hpo_tooshort", "secret"),
            ("ok", Role.READER, admin, "secret"),  # another token's secret
        ]:
            with pytest.raises(InvalidArgumentError) as caught:
                client.create_token(name, role, secret)
            assert caught.value.field == field, (name, secret)
        with pytest.raises(NotFoundError, match="no token named 'ghost'"):
            client.revoke_token("ghost")
    missing_role = pb.CreateTokenRequest(name="ok", secret=generate_secret(), request_id="r")
    with (
        grpc.insecure_channel(secure.address) as channel,
        pytest.raises(grpc.RpcError) as caught_rpc,
    ):
        hpo_pb2_grpc.CoordinatorStub(channel).CreateToken(
            missing_role, timeout=10, metadata=(("authorization", f"Bearer {admin}"),)
        )
    assert caught_rpc.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert caught_rpc.value.details().startswith("role:")  # type: ignore[attr-defined]
    assert token_rows(secure) == before


def test_revoking_twice_keeps_the_first_revocation(
    secure: Coordinator, issue: Callable[[str, Role], str]
) -> None:
    admin = issue("admin", Role.ADMIN)
    issue("gpu-1", Role.WORKER)
    with connect(secure, admin) as client:
        first = client.revoke_token("gpu-1")
        again = client.revoke_token("gpu-1")
        listed = {token.name: token for token in client.list_tokens()}
    assert first.revoked_at is not None and again.revoked_at == first.revoked_at
    assert listed["gpu-1"].revoked_at == first.revoked_at and listed["admin"].active


# ---------------------------------------------------------------- the CLI


def said(result: Result) -> str:
    """What a command printed, with the line breaks and borders of rich's panels removed."""
    return " ".join(result.output.replace("│", " ").split())


def write_token(path: Path, secret: str) -> Path:
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return path


def test_token_commands_on_the_store_bootstrap_a_coordinator(tmp_path: Path) -> None:
    db = str(tmp_path / "hpo.db")
    created = runner.invoke(app, ["token", "create", "root", "--role", "admin", "--db", db])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    assert is_well_formed(secret) and "cannot be shown again" not in created.stdout
    assert "shown this once" in created.stderr
    admin_file = write_token(tmp_path / "admin.token", secret)
    listed = runner.invoke(app, ["token", "list", "--db", db])
    assert listed.exit_code == 0 and "root" in listed.stdout and "admin" in listed.stdout
    assert secret not in listed.stdout

    running = start_coordinator(db, "127.0.0.1", 0, anonymous=False)
    try:
        remote = ["--coordinator", running.address, "--token-file", str(admin_file)]
        out = tmp_path / "gpu-1.token"
        made = runner.invoke(
            app, ["token", "create", "gpu-1", "--role", "worker", "-o", str(out), *remote]
        )
        assert made.exit_code == 0, made.output
        assert made.stdout == "" and (out.stat().st_mode & 0o777) == 0o600
        worker_secret = out.read_text().strip()
        with connect(running, worker_secret) as client:
            assert client.studies() == []
        listed = runner.invoke(app, ["token", "list", *remote])
        assert listed.exit_code == 0, listed.output
        assert "gpu-1" in listed.stdout and "worker" in listed.stdout
        studies = runner.invoke(app, ["study", "list", *remote])
        assert studies.exit_code == 0, studies.output
        revoked = runner.invoke(app, ["token", "revoke", "gpu-1", *remote])
        assert revoked.exit_code == 0 and "revoked at" in revoked.stdout
        with connect(running, worker_secret) as client:
            refused(client.studies, grpc.StatusCode.UNAUTHENTICATED)
        # Without the admin token the coordinator refuses the command.
        anonymous = runner.invoke(
            app, ["token", "list", "--coordinator", running.address], env={"HPO_TOKEN": ""}
        )
        assert isinstance(anonymous.exception, UnauthenticatedError)
    finally:
        running.stop(grace=1)


def test_token_commands_refuse_ambiguous_or_unsafe_input(tmp_path: Path) -> None:
    db = str(tmp_path / "hpo.db")
    both = runner.invoke(app, ["token", "list", "--db", db, "--coordinator", "127.0.0.1:1"])
    assert both.exit_code == 2 and "give --db or --coordinator, not both" in said(both)
    bad_role = runner.invoke(app, ["token", "create", "x", "--role", "root", "--db", db])
    assert bad_role.exit_code == 2
    not_a_token = tmp_path / "token"
    not_a_token.write_text("password123\n")
    refused_file = runner.invoke(
        app, ["study", "list", "--token-file", str(not_a_token), "--coordinator", "127.0.0.1:1"]
    )
    assert refused_file.exit_code == 2 and "does not hold an hpo token" in said(refused_file)
    # A secret never goes over an existing file, and a failed create leaves no secret behind.
    existing = tmp_path / "existing"
    existing.write_text("keep")
    clash = runner.invoke(
        app, ["token", "create", "x", "--role", "reader", "--db", db, "-o", str(existing)]
    )
    assert clash.exit_code == 2 and existing.read_text() == "keep"
    runner.invoke(app, ["token", "create", "x", "--role", "reader", "--db", db])
    duplicate = tmp_path / "duplicate"
    again = runner.invoke(
        app, ["token", "create", "x", "--role", "reader", "--db", db, "-o", str(duplicate)]
    )
    assert isinstance(again.exception, AlreadyExistsError) and not duplicate.exists()
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT name FROM tokens").all() == [("x",)]
    engine.dispose()


def test_a_token_file_readable_by_others_is_used_with_a_warning(
    tmp_path: Path, sqlite_url: str
) -> None:
    store = Store(sqlite_url)
    upgrade(store.engine)
    secret = generate_secret()
    TokenService(store).create("reader", Role.READER, secret)
    store.dispose()
    running = start_coordinator(sqlite_url, "127.0.0.1", 0, anonymous=False)
    try:
        path = tmp_path / "reader.token"
        path.write_text(secret)
        os.chmod(path, 0o644)
        result = runner.invoke(
            app, ["study", "list", "--coordinator", running.address, "--token-file", str(path)]
        )
        assert result.exit_code == 0, result.output
        assert "readable by others" in result.stderr
    finally:
        running.stop(grace=1)
