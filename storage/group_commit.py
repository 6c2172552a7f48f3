"""Group commit for SQLite: concurrent write transactions share one transaction and one fsync.

SQLite runs one writer at a time, and with ``synchronous=FULL`` every commit waits for an
fsync of the write-ahead log: with one transaction per call, the fsync was half the time a
coordinator spent per call (issue 16). Here every write transaction of the process runs on one
connection, inside a *batch*: one SQLite transaction that many calls join, each in its own
savepoint, one after the other (the first without one). A call's block that raises rolls back
its savepoint only (the first call's, the batch, which holds nothing else yet). The
batch is committed (one fsync for all of it) once no call holds, waits for or is known to be
coming for the connection (:meth:`GroupCommit.coming`: a call waiting for its study's turn),
or once MAX_BATCH calls joined it; the calls that arrive meanwhile wait and form the next
batch. So the busier the store, the more calls share an fsync, while a lone call waits for no
one.

Who commits: the call that finds the batch ready when it asks for durability commits it in
its own thread (:meth:`Member.wait`), so a lone client pays no hand-off between threads
(about 5% of a lone call's time in process; docs/benchmarks.md, issue 16). A committer thread
commits the batches that become ready while every member is already waiting (the last call
expected to join gave up before writing).

A call is acknowledged only once its batch committed (:meth:`Member.wait`), so durability is
what it was: nothing is answered before it is on disk. If a batch fails to commit, every call
in it fails (with the commit's error) and each call's failure callbacks run before any later
call uses the connection, so caches built on the batch's writes are dropped first.

PostgreSQL does not use this: it has many writers at once and batches their log flushes
itself, and one shared connection would let one study's blocked row lock stall every study.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection, RootTransaction

from hpo.storage.prepared import execute_sql

log = logging.getLogger(__name__)
# The most calls one batch takes before it is committed: a bound on how long a call waits for
# the others of its batch under a load that never lets the queue drain.
MAX_BATCH = 64
# The savepoint a call's block runs in (one at a time: calls take the connection in turn).
SAVEPOINT = "hpo_call"
# Set while this thread commits a batch (which may be a caller's thread or the committer's).
_committing = threading.local()


def committing_batch() -> bool:
    """Whether this thread is committing a batch now: for listeners of the engine's commit
    events, which fire for reads' transactions too."""
    return getattr(_committing, "batch", False)


@dataclass(eq=False)
class Member:
    """One call's place in a batch: it learns whether the batch committed."""

    group: GroupCommit
    _done: threading.Event = field(default_factory=threading.Event)
    _error: BaseException | None = None
    # Run if the batch fails to commit, before the connection serves another call.
    on_failure: list[Callable[[], None]] = field(default_factory=list)
    # The call waits for the commit (and will not commit the batch itself).
    waiting: bool = False

    def wait(self) -> None:
        """Return once the call's writes are durable, committing its batch here if it is
        ready; raise the commit's error if they are lost. Every member must call this once
        its block is done: the committer thread commits only batches whose members all wait."""
        self.group.commit_or_wait(self)
        self._done.wait()
        if self._error is not None:
            raise self._error

    def _settle(self, error: BaseException | None) -> None:
        self._error = error
        self._done.set()


@dataclass
class _Batch:
    connection: Connection
    transaction: RootTransaction
    members: list[Member] = field(default_factory=list)

    @property
    def full(self) -> bool:
        return len(self.members) >= MAX_BATCH


class GroupCommit:
    """The write transactions of one SQLite store, batched (module docstring)."""

    def __init__(self, new_connection: Callable[[], Connection]) -> None:
        self._new_connection = new_connection
        # Kept open from batch to batch (a pool check-out per batch was about 4.5% of a lone
        # call's time in process, issue 16); closed after a batch that failed, so the next
        # batch starts on a fresh connection.
        self._connection: Connection | None = None
        self._changed = threading.Condition()
        self._batch: _Batch | None = None
        self._in_use = False  # a call or the committer uses the connection
        self._waiting = 0  # calls waiting for the connection
        self._coming = 0  # calls that said they will ask for it soon
        self._closed = False
        self._committer = threading.Thread(
            target=self._commit_batches, name="hpo-group-commit", daemon=True
        )
        self._committer.start()

    @contextmanager
    def transaction(self) -> Iterator[tuple[Connection, Member]]:
        """The connection for one call's block, in the open batch (inside a savepoint, unless
        the call is the batch's first); the block's writes are durable once the returned
        member's ``wait`` returns."""
        batch = self._take_connection()
        member = Member(self)
        try:
            # A batch's first call needs no savepoint: if its block fails, the whole batch
            # rolls back, and it holds nothing else yet. (A savepoint and its release were
            # about a sixth of a lone call's time in the store, issue 16.) The later calls'
            # savepoints run on the driver's cursor: through Core's nested transactions they
            # cost about 8% of the coordinator's time under load (docs/benchmarks.md).
            # SQLAlchemy does not see them; a savepoint the call's ORM session makes nests
            # inside this one.
            savepoint = bool(batch.members)
            if savepoint:
                execute_sql(batch.connection, f"SAVEPOINT {SAVEPOINT}")
            try:
                yield batch.connection, member
            except BaseException:
                if not savepoint:
                    self._discard(batch)
                else:
                    execute_sql(batch.connection, f"ROLLBACK TO {SAVEPOINT}")
                    execute_sql(batch.connection, f"RELEASE {SAVEPOINT}")
                raise
            if savepoint:
                execute_sql(batch.connection, f"RELEASE {SAVEPOINT}")
            batch.members.append(member)
        finally:
            self._give_back_connection()

    @contextmanager
    def coming(self) -> Iterator[None]:
        """Count the caller as about to write, for the length of the block: the batch open now
        waits for its transaction (if the block opens one) rather than committing without it.
        The service holds this while a call waits for its study's turn, since the call ahead
        of it in that study is about to leave the batch open."""
        with self._changed:
            self._coming += 1
        try:
            yield
        finally:
            with self._changed:
                self._coming -= 1
                self._changed.notify_all()

    def close(self) -> None:
        """Commit what is pending and stop the committer."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._committer.join()
        self._drop_connection()

    # ---------------------------------------------------------------- the turn

    def _take_connection(self) -> _Batch:
        with self._changed:
            self._waiting += 1
            self._changed.notify_all()  # for whoever watches the queue (tests, close)
            try:
                self._changed.wait_for(
                    lambda: not self._in_use and (self._batch is None or not self._batch.full)
                )
            finally:
                self._waiting -= 1
            if self._closed:
                raise RuntimeError("the store is closed")
            self._in_use = True
        if self._batch is None:
            try:
                if self._connection is None:
                    self._connection = self._new_connection()
                # BEGIN IMMEDIATE now: the batch holds the write lock.
                self._batch = _Batch(self._connection, self._connection.begin())
            except BaseException:
                self._drop_connection()
                self._give_back_connection()
                raise
        return self._batch

    def _drop_connection(self) -> None:
        """Close the kept connection (the next batch opens another)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _discard(self, batch: _Batch) -> None:
        """Roll back and drop a batch with no member (hold the connection)."""
        try:
            batch.transaction.rollback()
        except BaseException:
            self._drop_connection()
            raise
        finally:
            with self._changed:
                self._batch = None

    def _give_back_connection(self) -> None:
        with self._changed:
            self._in_use = False
            self._changed.notify_all()

    # ---------------------------------------------------------------- the committer

    def commit_or_wait(self, member: Member) -> None:
        """Commit ``member``'s batch in the caller's thread if it is still open and ready;
        otherwise count the member as waiting for whoever commits it (module docstring)."""
        with self._changed:
            batch = self._batch
            if batch is None or member not in batch.members:
                return  # committed, or being committed
            if not self._batch_ready():
                member.waiting = True
                self._changed.notify_all()
                return
            batch = self._claim_batch()
        self._finish(batch)

    def _commit_batches(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(self._left_to_committer)
                if self._batch is None:
                    return  # closed, nothing pending
                batch = self._claim_batch()
            self._finish(batch)

    def _left_to_committer(self) -> bool:
        """Whether the committer thread commits the open batch now: it is ready and no member
        will come back to commit it (they all wait), or the store closes."""
        if not self._batch_ready():
            return False
        batch = self._batch
        return batch is None or self._closed or all(member.waiting for member in batch.members)

    def _claim_batch(self) -> _Batch:
        """Take the ready batch for committing (hold ``_changed``)."""
        assert self._batch is not None
        self._in_use = True
        return self._batch

    def _finish(self, batch: _Batch) -> None:
        self._commit(batch)
        with self._changed:
            self._batch = None
            self._in_use = False
            self._changed.notify_all()

    def _batch_ready(self) -> bool:
        """Whether to commit now (or, closed with nothing pending, to stop)."""
        if self._batch is None:
            return self._closed
        waited_for = self._waiting or self._coming
        return not self._in_use and (not waited_for or self._batch.full or self._closed)

    def _commit(self, batch: _Batch) -> None:
        error: BaseException | None = None
        _committing.batch = True
        try:
            batch.transaction.commit()
        except BaseException as failure:  # every member must hear of it, whatever it is
            error = failure
            log.warning("a batch of %d write(s) failed to commit: %s", len(batch.members), failure)
            try:
                batch.transaction.rollback()
            finally:
                self._drop_connection()
            for member in batch.members:
                for callback in member.on_failure:
                    callback()
        finally:
            _committing.batch = False
        for member in batch.members:
            member._settle(error)
