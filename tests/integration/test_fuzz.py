"""Hostile requests against a real coordinator: never a server error, never a write.

Every RPC of the Coordinator service (read from the service descriptor, so a new
RPC is fuzzed without touching this file) gets random requests built from its
message descriptor: boundary and random values in every field (huge, empty and
NUL-holding strings, NaN and infinities, extreme integers, enum numbers this
version does not know, long repeated fields), and valid requests with a few
fields mutated, which get past the first check and reach the deeper ones. Names
and ids often point at things that exist: a study with a running trial, its
worker, a used idempotency key, a token. Separately, random and corrupted bytes go
through a generic channel method, so requests that do not even decode are covered. And a
deterministic sweep sends what chance reaches seldom: from each RPC's valid request, every
string field at exactly 100,000 characters and every repeated field empty and with an entry
twice.

Properties, for every call:

* the status is OK or a client error (INVALID_ARGUMENT, NOT_FOUND, ...), never
  INTERNAL, UNKNOWN or DATA_LOSS, and the message is short enough for gRPC
  trailers (a message that echoes a megabyte of input turns into
  RESOURCE_EXHAUSTED at the client);
* a refused call leaves every table of the store exactly as it was;
* an accepted call stores no NUL character: PostgreSQL refuses NUL in text and
  JSON, so the same call would fail there with INTERNAL.

Every property is checked on a SQLite file and on a PostgreSQL database (issue 15: an
overflowing ``start_number`` and NUL in names were INTERNAL on PostgreSQL only).
"""

from __future__ import annotations

import hashlib
import itertools
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpo import wire
from hpo.auth import generate_secret
from hpo.coordinator.server import MAX_MESSAGE_BYTES, Coordinator, start_coordinator
from hpo.space import Categorical, Float, Int, Space
from hpo.spec import Resource, StudySpec
from hpo.v1 import hpo_pb2 as pb
from hpo.v1 import hpo_pb2_grpc
from hpo.validation import INT64_MAX, INT64_MIN

SERVICE = pb.DESCRIPTOR.services_by_name["Coordinator"]
METHODS = [method.name for method in SERVICE.methods]
# What a hostile request may get besides OK: the client's mistakes, never the server's.
CLIENT_ERRORS = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
}
# A client refuses trailers (which carry the status message) beyond 8 KiB by default.
MAX_DETAILS = 4096
WORKER = "fuzz-worker"
CALL_TIMEOUT = 30
# A closed loopback port: a valid LLM prior's warm start fails at once, without a network.
DEAD_LLM = "http://127.0.0.1:9/v1"

SPACE = Space(
    {
        "x": Float(-3, 3),
        "lr": Float(1e-5, 1.0, log=True),
        "n": Int(1, 2**40),
        "c": Categorical(["a", "b", 1, True, 0.5]),
    }
)
VALID_CONFIG = {"x": 0.5, "lr": 0.01, "n": 7, "c": "b"}


# ---------------------------------------------------------------- the store


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return any(_holds_nul(item) for item in value)
    return False


@dataclass(frozen=True)
class Snapshot:
    digest: str
    # The rows (as text) holding a NUL character.
    nul_rows: frozenset[str]


@dataclass
class StoreDigest:
    """Snapshots of every row of every table (reflected once, so that JSON columns come back
    as Python values and a NUL inside them is seen)."""

    engine: sa.Engine
    metadata: sa.MetaData = field(default_factory=sa.MetaData)

    def __post_init__(self) -> None:
        self.metadata.reflect(self.engine)

    def __call__(self) -> Snapshot:
        digest = hashlib.sha256()
        nul_rows = set()
        with self.engine.connect() as connection:
            for table in self.metadata.sorted_tables:
                for row in connection.execute(sa.select(table)):
                    text = f"{table.name}: {tuple(row)!r}"
                    digest.update(text.encode())
                    if _holds_nul(tuple(row)):
                        nul_rows.add(text)
        return Snapshot(digest.hexdigest(), frozenset(nul_rows))


# ---------------------------------------------------------------- references to the world


@dataclass(frozen=True)
class Known:
    """A placeholder for something that exists (or is fresh) when the request is sent:
    ``study``, ``trial`` (the running trial), ``worker``, ``used_request``, ``token``,
    ``fresh`` (an unused name or key), ``secret`` (a new token secret)."""

    kind: str


@dataclass(frozen=True)
class Long:
    """A string of ``length`` characters (a placeholder keeps reports of failures short)."""

    length: int


STUDY, TRIAL, WORKER_ID, USED_REQUEST, TOKEN, FRESH, SECRET = (
    Known(kind) for kind in ("study", "trial", "worker", "used_request", "token", "fresh", "secret")
)


@dataclass
class World:
    """The seeded store: a running study whose trial ``trial`` is held by :data:`WORKER`."""

    coordinator: Coordinator
    channel: grpc.Channel
    stub: hpo_pb2_grpc.CoordinatorStub
    digest: StoreDigest
    study: str = ""
    trial: int = 0
    fresh_names: Iterator[int] = field(default_factory=itertools.count)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, Long):
            return "a" * value.length
        if not isinstance(value, Known):
            return value
        if value.kind == "fresh":
            # Random, not only counted: a corrupted copy of an earlier request ("fuzz-15" with
            # a byte flipped to "fuzz-17") could otherwise name a later fresh request id, and
            # ensure() would then be refused its own call.
            return f"fuzz-{next(self.fresh_names)}-{uuid.uuid4().hex[:12]}"
        if value.kind == "secret":
            return generate_secret()
        return {
            "study": self.study,
            "trial": self.trial,
            "worker": WORKER,
            "used_request": "fuzz-used-request",
            "token": "fuzz-token",
        }[value.kind]

    def ensure(self) -> None:
        """Bring back what earlier examples may have used up: a running study (one may have
        been stopped) and a trial held by our worker (one may have been completed)."""
        if self.study:
            study = self.stub.GetStudy(pb.GetStudyRequest(name=self.study))
        if not self.study or study.state != pb.STUDY_RUNNING:
            self.study = self.resolve(FRESH)
            self.stub.CreateStudy(
                pb.CreateStudyRequest(spec=_main_spec(self.study), request_id=self.resolve(FRESH))
            )
        running = self.stub.ListTrials(
            pb.ListTrialsRequest(study=self.study, states=[pb.TRIAL_RUNNING])
        )
        held = [trial.id for trial in running.trials if trial.worker_id == WORKER]
        if held:
            self.trial = held[0]
        else:
            answer = self.stub.Suggest(
                pb.SuggestRequest(
                    study=self.study, worker_id=WORKER, request_id=self.resolve(FRESH)
                )
            )
            self.trial = answer.assignment.trial.id

    def settle(self) -> None:
        """Wait for background writes an accepted call started (an LLM warm start), so they
        are not taken for writes of the next call."""
        warm_starts = self.coordinator.service.warm_starts
        deadline = time.monotonic() + CALL_TIMEOUT
        with self.coordinator.store.engine.connect() as connection:
            ids = connection.execute(sa.text("SELECT id FROM studies")).scalars().all()
        while any(warm_starts.running(study_id) for study_id in ids):
            assert time.monotonic() < deadline, "an LLM warm start did not finish"
            time.sleep(0.01)


def _main_spec(name: str) -> pb.StudySpec:
    # ASHA with no trial limit: Suggest always has a trial to hand out, and no model process.
    return wire.spec_to_proto(
        StudySpec(name=name, space=SPACE, resource=Resource(1, 9, 3), algorithm="asha")
    )


# ---------------------------------------------------------------- request plans
#
# A plan is a request in dict form ({field: value, nested plan or list}) whose leaves may be
# Known placeholders; build() turns it into a message once the world can resolve them.

NASTY_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "name\n",
    "-dash",
    *(Long(length) for length in (128, 129, 257, 513, 10_001, 20_001, 300_000)),
    "é",
    "😀" * 40,
    "' OR '1'='1",
    "%s%n{0}",
    "\\u0000",
    DEAD_LLM,
    "https://",
    "x",
    "lr",
    "c",
    "a",
    "OPENAI_API_KEY",
    "json_object",
]
NAMES = st.one_of(
    st.sampled_from([STUDY, TOKEN, FRESH, *NASTY_STRINGS]),
    st.from_regex(r"[A-Za-z][A-Za-z0-9_.\-]{0,12}", fullmatch=True),
    st.text(max_size=16),
)
SHORT_STRINGS = st.text(max_size=24)
STRINGS = st.one_of(st.sampled_from(NASTY_STRINGS), SHORT_STRINGS)
DOUBLES = st.one_of(
    st.sampled_from(
        [0.0, -0.0, 1.0, -1.0, 3.0, 9.0, 27.0, 1e308, -1e308, 5e-324, float("nan")]
        + [float("inf"), -float("inf"), 2.0**63]
    ),
    st.floats(),
)


def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    edges = (low, high, 0, 1, -1, 2, 5, 2**31 - 1, -(2**31), 2**53 + 1)
    return st.one_of(
        st.sampled_from([edge for edge in edges if low <= edge <= high]), st.integers(low, high)
    )


_INTEGERS = {
    FieldDescriptor.TYPE_INT64: _integers(INT64_MIN, INT64_MAX),
    FieldDescriptor.TYPE_INT32: _integers(-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT64: _integers(0, 2**64 - 1),
}
# Field-specific values on top of the generic ones: things that exist, so requests get past
# "not found".
_HINTS: dict[str, st.SearchStrategy[Any]] = {
    "study": NAMES,
    "studies": NAMES,
    "name": NAMES,
    "worker_id": st.one_of(st.just(WORKER_ID), STRINGS),
    "request_id": st.one_of(st.sampled_from([FRESH, USED_REQUEST]), STRINGS),
    "trial_id": st.one_of(st.just(TRIAL), _INTEGERS[FieldDescriptor.TYPE_INT64]),
    "trial_ids": st.one_of(st.just(TRIAL), _INTEGERS[FieldDescriptor.TYPE_INT64]),
    "secret": st.one_of(st.just(SECRET), STRINGS),
}
# Lengths of generated repeated fields: mostly short, sometimes just past a limit, and for
# numbers past the bind parameters a database takes in one query (PostgreSQL 65,535; SQLite
# 32,766 by default, 250,000 as Debian builds it).
BIND_PARAMETERS_OVERFLOW = 300_000
LONG_LENGTHS = [17, 33, 65, 101, 257, 1001, 1025]
LONG_SCALAR_LENGTHS = [*LONG_LENGTHS, BIND_PARAMETERS_OVERFLOW]


def _scalars(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    if field.name in _HINTS:
        return _HINTS[field.name]
    if field.type == FieldDescriptor.TYPE_STRING:
        return STRINGS
    if field.type == FieldDescriptor.TYPE_DOUBLE:
        return DOUBLES
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type == FieldDescriptor.TYPE_ENUM:
        known = [value.number for value in field.enum_type.values]
        return st.one_of(st.sampled_from(known), _integers(-(2**31), 2**31 - 1))
    return _INTEGERS[field.type]


def _values(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    """One value of ``field`` (an element, for a repeated field)."""
    if field.message_type is not None:
        return plans(field.message_type, depth + 1)
    return _scalars(field)


def _field_plans(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        keys = st.one_of(st.sampled_from(list(SPACE)), STRINGS)
        values = _values(field.message_type.fields_by_name["value"], depth)
        return st.dictionaries(keys, values, max_size=4)
    if field.is_repeated:
        # Long lists only near the top: nested in one another they would multiply.
        element = _values(field, depth)
        short = st.lists(element, max_size=3)
        lengths = LONG_LENGTHS if field.message_type is not None else LONG_SCALAR_LENGTHS
        # A long list tests count limits, so its strings stay short: 300,000 copies of a
        # 300,000-character string are 90 GB to build in the client, which ran out of memory
        # (more repeated string fields, scale_parameters and metrics, made it likelier). A
        # request over the size limit is tested once, below.
        repeated = SHORT_STRINGS if field.type == FieldDescriptor.TYPE_STRING else element
        long = st.tuples(repeated, st.sampled_from(lengths)).map(lambda t: [t[0]] * t[1])
        return st.one_of(short, long) if depth < 2 else short
    return _values(field, depth)


def plans(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """Random plans of ``descriptor``: any subset of its fields, each with random values."""
    if depth > 8:  # the requests have no recursive messages; this only guards against them
        return st.just({})
    return st.fixed_dictionaries(
        {}, optional={f.name: _field_plans(f, depth) for f in descriptor.fields}
    )


@st.composite
def mutated(draw: st.DrawFn, descriptor: Descriptor, plan: Mapping[str, Any]) -> dict[str, Any]:
    """``plan`` with one field, somewhere in its tree, given a random value."""
    result = dict(plan)
    if not descriptor.fields:
        return result
    chosen = draw(st.sampled_from(list(descriptor.fields)))
    current = result.get(chosen.name)
    is_map = chosen.message_type is not None and chosen.message_type.GetOptions().map_entry
    nested = chosen.message_type is not None and not is_map
    if nested and isinstance(current, dict) and current and draw(st.booleans()):
        result[chosen.name] = draw(mutated(chosen.message_type, current))
    elif nested and isinstance(current, list) and current and draw(st.booleans()):
        index = draw(st.integers(0, len(current) - 1))
        result[chosen.name] = [
            draw(mutated(chosen.message_type, entry)) if i == index else entry
            for i, entry in enumerate(current)
        ]
    elif is_map and current and draw(st.booleans()):
        # A map (a configuration): one entry changed or added.
        value_field = chosen.message_type.fields_by_name["value"]
        key = draw(st.one_of(st.sampled_from(list(current)), STRINGS))
        result[chosen.name] = {**current, key: draw(_values(value_field, 1))}
    else:
        result[chosen.name] = draw(_field_plans(chosen, 1))
    return result


def plan_of(message: Message) -> dict[str, Any]:
    """The plan of a real message (the valid requests below start from real objects)."""
    plan: dict[str, Any] = {}
    for descriptor, value in message.ListFields():
        if descriptor.message_type is not None and descriptor.message_type.GetOptions().map_entry:
            plan[descriptor.name] = {
                key: plan_of(entry) if isinstance(entry, Message) else entry
                for key, entry in value.items()
            }
        elif descriptor.is_repeated:
            plan[descriptor.name] = [
                plan_of(entry) if isinstance(entry, Message) else entry for entry in value
            ]
        else:
            plan[descriptor.name] = plan_of(value) if isinstance(value, Message) else value
    return plan


def build(message: Message, plan: Mapping[str, Any], world: World) -> Message:
    """Fill ``message`` from ``plan``, resolving placeholders."""
    for name, value in plan.items():
        descriptor = message.DESCRIPTOR.fields_by_name[name]
        target = getattr(message, name)
        if descriptor.message_type is not None and descriptor.message_type.GetOptions().map_entry:
            for key, entry in value.items():
                if isinstance(entry, Mapping):
                    build(target[world.resolve(key)], entry, world)
                else:  # a map of scalars (a report's metrics)
                    target[world.resolve(key)] = world.resolve(entry)
        elif descriptor.is_repeated:
            for entry in value:
                if descriptor.message_type is not None:
                    build(target.add(), entry, world)
                else:
                    target.append(world.resolve(entry))
        elif descriptor.message_type is not None:
            target.SetInParent()
            build(target, value, world)
        else:
            setattr(message, name, world.resolve(value))
    return message


_VALID_SPEC = plan_of(
    wire.spec_to_proto(
        StudySpec(
            name="valid",
            space=SPACE,
            resource=Resource(1, 9, 3),
            algorithm="asha",
            max_trials=20,
            priors=[
                {"kind": "point", "config": {"lr": 0.01}},
                {"kind": "configs", "configs": [VALID_CONFIG], "confidence": "high"},
                {"kind": "transfer", "studies": ["valid"], "top_k": 3},
                {"kind": "llm", "base_url": DEAD_LLM, "model": "m", "retries": 0},
            ],
            enqueue=[VALID_CONFIG],
        )
    )
)
_VALID_SPEC["name"] = FRESH
_VALID_SPEC["priors"][2]["transfer"]["studies"] = [STUDY]
_EXTREME_SPEC = plan_of(
    wire.spec_to_proto(
        StudySpec(
            name="extremes",
            space=Space(
                {
                    "c": Categorical([1e308, -5e-324, 1e20, INT64_MIN, INT64_MAX]),
                    "x": Float(-1e307, 1e307),
                }
            ),
            resource=Resource(1, 9, 3),
        )
    )
)
_VALID_CONFIG = plan_of(pb.EnqueueRequest(config=wire.config_to_proto(VALID_CONFIG)))["config"]
# A valid request of each RPC, the starting point of the mutated ones (an RPC missing here
# gets random requests only).
VALID_REQUESTS: dict[str, dict[str, Any]] = {
    "CreateStudy": {"spec": _VALID_SPEC, "request_id": FRESH},
    "GetStudy": {"name": STUDY},
    "ListStudies": {},
    "Suggest": {"study": STUDY, "worker_id": WORKER_ID, "request_id": FRESH},
    "Report": {
        "trial_id": TRIAL,
        "resource": 1.0,
        "value": 0.5,
        "request_id": FRESH,
        "worker_id": WORKER_ID,
    },
    "Complete": {"trial_id": TRIAL, "request_id": FRESH, "worker_id": WORKER_ID},
    "Fail": {"trial_id": TRIAL, "reason": "boom", "request_id": FRESH, "worker_id": WORKER_ID},
    "Heartbeat": {"worker_id": WORKER_ID, "trial_ids": [TRIAL]},
    "StopStudy": {"study": STUDY, "reason": "fuzz", "request_id": FRESH},
    "ExtendStudy": {"study": STUDY, "r_max": 27.0, "request_id": FRESH},
    "Enqueue": {"study": STUDY, "config": _VALID_CONFIG, "request_id": FRESH},
    "GetPriors": {"study": STUDY},
    "ListTrials": {"study": STUDY, "states": [pb.TRIAL_RUNNING], "include_reports": True},
    "GetBest": {"study": STUDY},
    "CreateToken": {
        "name": FRESH,
        "role": pb.ROLE_READER,
        "secret": SECRET,
        "request_id": FRESH,
    },
    "ListTokens": {},
    "RevokeToken": {"name": TOKEN, "request_id": FRESH},
}


def requests(method: str) -> st.SearchStrategy[dict[str, Any]]:
    descriptor = SERVICE.methods_by_name[method].input_type
    valid = VALID_REQUESTS.get(method)
    if valid is None:
        return plans(descriptor)
    edits = st.integers(0, 3).flatmap(lambda n: _edited(descriptor, valid, n))
    return st.one_of(plans(descriptor), edits)


def _edited(descriptor: Descriptor, plan: dict[str, Any], n: int) -> st.SearchStrategy[Any]:
    strategy: st.SearchStrategy[Any] = st.just(plan)
    for _ in range(n):
        strategy = strategy.flatmap(lambda current: mutated(descriptor, current))
    return strategy


# Metadata: none (anonymous on loopback, as admin), or a bearer token, well formed or not.
METADATA = st.one_of(
    st.none(),
    st.just((("authorization", f"Bearer {generate_secret()}"),)),
    st.builds(
        lambda value: (("authorization", value),),
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
    ),
)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def world(module_store_url: str) -> Iterator[World]:
    """One world per store kind: PostgreSQL refuses what SQLite takes (NUL, overflowing
    integers), so every property is checked on both."""
    # On loopback, calls without a token are served as admin, so every RPC is reachable.
    # Leases outlast the test, so the lease sweeper never writes between two snapshots.
    coordinator = start_coordinator(module_store_url, "127.0.0.1", 0, lease_seconds=3600)
    with grpc.insecure_channel(
        coordinator.address, options=[("grpc.max_send_message_length", -1)]
    ) as channel:
        stub = hpo_pb2_grpc.CoordinatorStub(channel)
        seeded = World(coordinator, channel, stub, StoreDigest(coordinator.store.engine))
        seeded.ensure()
        stub.Suggest(
            pb.SuggestRequest(
                study=seeded.study, worker_id="other-worker", request_id="fuzz-used-request"
            )
        )
        stub.CreateToken(
            pb.CreateTokenRequest(
                name="fuzz-token",
                role=pb.ROLE_READER,
                secret=generate_secret(),
                request_id="fuzz-token-request",
            )
        )
        yield seeded
    coordinator.stop(grace=1)


def call(
    world: World, method: str, send: Callable[..., Any], request: Any, size: int, metadata: Any
) -> None:
    """Send ``request`` and check the properties of the module's docstring."""
    world.ensure()
    before = world.digest()
    try:
        send(request, timeout=CALL_TIMEOUT, metadata=metadata)
    except grpc.RpcError as error:
        code, details = error.code(), error.details() or ""
        if size > MAX_MESSAGE_BYTES:
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (code, details[:300])
        else:
            assert code in CLIENT_ERRORS, f"{method} answered {code.name}: {details[:300]}"
        assert len(details) <= MAX_DETAILS, f"{method}: a {len(details)}-character message"
        assert world.digest() == before, (
            f"{method} was refused ({code.name}: {details[:200]}) but wrote to the store"
        )
    else:
        world.settle()
        stored = world.digest().nul_rows - before.nul_rows
        assert not stored, f"{method} stored a NUL character, which PostgreSQL refuses: {stored}"


# ---------------------------------------------------------------- the properties

FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("method", METHODS)
@FUZZ
@given(data=st.data())
def test_random_requests_keep_the_properties(
    world: World, method: str, data: st.DataObject
) -> None:
    plan = data.draw(requests(method), label="request")
    metadata = data.draw(METADATA, label="metadata")
    request = build(GetMessageClass(SERVICE.methods_by_name[method].input_type)(), plan, world)
    send = getattr(world.stub, method)
    call(world, method, send, request, request.ByteSize(), metadata)


@st.composite
def corrupted(draw: st.DrawFn, valid: bytes) -> bytes:
    """``valid`` with bytes flipped, cut or inserted: still nearly a message. (What is
    drawn does not depend on ``valid``, whose names change as the world does.)"""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, 2**16)) % (len(data) + 1)
        edit = draw(st.sampled_from(["flip", "cut", "insert"]))
        if edit == "flip" and position < len(data):
            data[position] ^= draw(st.integers(1, 255))
        elif edit == "cut":
            del data[position:]
        else:
            data[position:position] = draw(st.binary(min_size=1, max_size=4))
    return bytes(data)


@pytest.mark.parametrize("method", METHODS)
@FUZZ
@given(data=st.data())
def test_undecodable_bytes_keep_the_properties(
    world: World, method: str, data: st.DataObject
) -> None:
    message_class = GetMessageClass(SERVICE.methods_by_name[method].input_type)
    valid = build(message_class(), VALID_REQUESTS.get(method, {}), world).SerializeToString()
    payload = data.draw(
        st.one_of(
            st.binary(max_size=64),
            st.sampled_from([b"\xff", b"\x0a\x02\xff\xfe", b"\x0a\x05ab", b"\x08" + b"\xff" * 11]),
            corrupted(valid),
        ),
        label="bytes",
    )
    send = world.channel.unary_unary(
        f"/{SERVICE.full_name}/{method}", request_serializer=None, response_deserializer=None
    )
    call(world, method, send, payload, len(payload), None)


# Requests that random generation reaches only now and then, each once per run.
NUL = "a\x00b"
BOUNDARY_REQUESTS = [
    # More states than a database takes as bind parameters of one query.
    pytest.param(
        "ListTrials",
        {"study": STUDY, "states": [pb.TRIAL_RUNNING] * BIND_PARAMETERS_OVERFLOW},
        id="ListTrials-states-overflow",
    ),
    # NUL characters in every kind of free text that is stored.
    pytest.param(
        "CreateStudy", {"spec": _VALID_SPEC, "request_id": NUL}, id="CreateStudy-request_id-NUL"
    ),
    pytest.param(
        "CreateStudy",
        {"spec": {**_VALID_SPEC, "description": NUL}, "request_id": FRESH},
        id="CreateStudy-description-NUL",
    ),
    pytest.param(
        "Suggest", {**VALID_REQUESTS["Suggest"], "worker_id": NUL}, id="Suggest-worker_id-NUL"
    ),
    pytest.param("Heartbeat", {"worker_id": NUL, "trial_ids": [TRIAL]}, id="Heartbeat-NUL"),
    pytest.param(
        "Report", {**VALID_REQUESTS["Report"], "request_id": NUL}, id="Report-request_id-NUL"
    ),
    pytest.param("Fail", {**VALID_REQUESTS["Fail"], "reason": NUL}, id="Fail-reason-NUL"),
    pytest.param(
        "StopStudy", {**VALID_REQUESTS["StopStudy"], "reason": NUL}, id="StopStudy-reason-NUL"
    ),
    pytest.param(
        "CreateToken",
        {**VALID_REQUESTS["CreateToken"], "request_id": NUL},
        id="CreateToken-request_id-NUL",
    ),
    # Errors about huge names and values must not repeat them whole.
    pytest.param(
        "Enqueue",
        {**VALID_REQUESTS["Enqueue"], "config": {Long(300_000): {"double_value": 1.0}}},
        id="Enqueue-huge-name",
    ),
    pytest.param(
        "Enqueue",
        {
            **VALID_REQUESTS["Enqueue"],
            "config": {**_VALID_CONFIG, "c": {"string_value": Long(300_000)}},
        },
        id="Enqueue-huge-value",
    ),
    pytest.param("GetStudy", {"name": Long(300_000)}, id="GetStudy-huge-name"),
    # Integers past what a column holds: trial numbers are 32-bit in the store.
    pytest.param(
        "ListTrials", {"study": STUDY, "start_number": 2**31}, id="ListTrials-start-int32"
    ),
    pytest.param(
        "ListTrials", {"study": STUDY, "start_number": INT64_MAX}, id="ListTrials-start-int64"
    ),
    # NUL in the names that select a row.
    *(
        pytest.param(method, {field: NUL}, id=f"{method}-{field}-NUL")
        for method, field in (
            ("GetStudy", "name"),
            ("ListTrials", "study"),
            ("GetBest", "study"),
            ("GetPriors", "study"),
            ("RevokeToken", "name"),
        )
    ),
    # Values at the ends of the double range and of int64 in a spec (valid: accepted, and
    # read back exactly; tests/storage/test_exact_values.py checks the values).
    pytest.param(
        "CreateStudy",
        {"spec": _EXTREME_SPEC, "request_id": FRESH},
        id="CreateStudy-extreme-values",
    ),
    # A timestamp outside the years 1-9999.
    pytest.param(
        "CreateToken",
        {**VALID_REQUESTS["CreateToken"], "expires_at": {"seconds": INT64_MIN}},
        id="CreateToken-expires_at-invalid",
    ),
    # A huge repeated field of duplicates.
    pytest.param(
        "Heartbeat",
        {"worker_id": WORKER_ID, "trial_ids": [TRIAL] * 2000},
        id="Heartbeat-duplicates",
    ),
]


@pytest.mark.parametrize(("method", "plan"), BOUNDARY_REQUESTS)
def test_boundary_requests_keep_the_properties(
    world: World, method: str, plan: dict[str, Any]
) -> None:
    request = build(GetMessageClass(SERVICE.methods_by_name[method].input_type)(), plan, world)
    call(world, method, getattr(world.stub, method), request, request.ByteSize(), None)


# ---------------------------------------------------------------- every field at its extremes
#
# Random requests reach a 10^5-character string, or an empty repeated field, only by chance;
# the sweep sends each once, starting from the RPC's valid request: every string field (the
# request's own, and those of the single messages it holds, such as CreateStudy's spec) at
# exactly SWEEP_LENGTH characters, and every repeated field empty and with an entry twice.
SWEEP_LENGTH = 100_000


def _swept_fields(
    descriptor: Descriptor, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], FieldDescriptor]]:
    """The fields of ``descriptor`` and of the single messages it holds, with their paths.
    Entries of repeated fields are not entered: the field is swept as a whole."""
    for swept in descriptor.fields:
        yield (*path, swept.name), swept
        if swept.message_type is not None and not swept.is_repeated:
            yield from _swept_fields(swept.message_type, (*path, swept.name))


# The third kind of sweep value: the field's first entry sent twice.
TWICE = "twice"


def _sweep() -> list[Any]:
    """(method, path, value) for each sweep request; the value is what the field at path is
    set to: a Long string, an empty list or map, or TWICE."""
    cases = []
    for method in METHODS:
        for path, swept in _swept_fields(SERVICE.methods_by_name[method].input_type):
            is_map = swept.message_type is not None and swept.message_type.GetOptions().map_entry
            if swept.is_repeated:
                values = {"empty": {} if is_map else [], "twice": TWICE}
            elif swept.type == FieldDescriptor.TYPE_STRING:
                values = {"long": Long(SWEEP_LENGTH)}
            else:
                continue
            name = ".".join(path)
            cases += [
                pytest.param(method, path, value, id=f"{method}-{name}-{kind}")
                for kind, value in values.items()
            ]
    return cases


def _set(plan: Mapping[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """``plan`` with the field at ``path`` set to ``value``."""
    head, *rest = path
    return {**plan, head: _set(plan.get(head, {}), tuple(rest), value) if rest else value}


def _entry_again(request: Message, path: tuple[str, ...]) -> bytes:
    """The bytes of a message of ``request``'s type that holds, at ``path``, the first entry
    of ``request``'s repeated field there (two zero entries if it has none). Appended to
    ``request``'s bytes they send that entry twice: a parser appends repeated entries, and
    of a map key seen twice keeps the last."""
    extra = type(request)()
    source, target = request, extra
    for name in path[:-1]:
        source, target = getattr(source, name), getattr(target, name)
    field = source.DESCRIPTOR.fields_by_name[path[-1]]
    entries, copies = getattr(source, path[-1]), getattr(target, path[-1])
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key = next(iter(entries), "")
        if field.message_type.fields_by_name["value"].message_type is not None:
            copies[key].CopyFrom(entries[key])
        else:  # a map of scalars: the entry (or a zero one) again
            copies[key] = entries.get(key, 0)
    elif field.message_type is not None:
        if entries:
            copies.add().CopyFrom(entries[0])
        else:
            copies.add()
            copies.add()
    elif entries:
        copies.append(entries[0])
    else:
        copies.extend(["" if field.type == FieldDescriptor.TYPE_STRING else 0] * 2)
    return extra.SerializeToString()


@pytest.mark.parametrize(("method", "path", "value"), _sweep())
def test_every_field_at_its_extremes_keeps_the_properties(
    world: World, method: str, path: tuple[str, ...], value: Any
) -> None:
    plan = VALID_REQUESTS.get(method, {})
    if value is not TWICE:
        plan = _set(plan, path, value)
    world.ensure()
    request = build(GetMessageClass(SERVICE.methods_by_name[method].input_type)(), plan, world)
    payload = request.SerializeToString()
    if value is TWICE:
        payload += _entry_again(request, path)
    send = world.channel.unary_unary(
        f"/{SERVICE.full_name}/{method}", request_serializer=None, response_deserializer=None
    )
    call(world, method, send, payload, len(payload), None)


def test_a_message_over_the_size_limit_is_refused_unread(world: World) -> None:
    send = world.channel.unary_unary(
        f"/{SERVICE.full_name}/CreateStudy", request_serializer=None, response_deserializer=None
    )
    payload = b"\x0a" + b"\xff" * (MAX_MESSAGE_BYTES + 1)
    call(world, "CreateStudy", send, payload, len(payload), None)
