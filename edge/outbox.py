"""Durable outbox: what the node observed, kept on disk until the broker acknowledged it.

A badge tap is ground truth for presence; losing one because the Wi-Fi dropped, the broker
restarted or someone pulled the power plug is not acceptable. So every message is first committed
to a SQLite file and deleted only when the broker's PUBACK for it came back (:meth:`Outbox.ack`).
After a crash the link simply sends again, from the oldest row; the hub drops the repeats by
message id.

Durability choices:

* WAL journal with ``synchronous=FULL``: a committed :meth:`Outbox.put` is on the SD card before
  it returns, so it survives a power cut, not only a crash of the process (``NORMAL`` would keep
  it across SIGKILL but may lose the last commits on power loss). Taps are a few per minute, so
  one fsync each costs nothing; acknowledgements are batched (:meth:`Outbox.ack_many`) so
  flushing a long backlog after an outage costs one fsync per batch, not per message.
* ``locking_mode=EXCLUSIVE``: one agent per file; a second one (a copy-pasted config) fails at
  start instead of interleaving sequence numbers.
* ``AUTOINCREMENT``: a sequence number is never reused in a file, even after the newest rows
  were deleted. Message ids are ``<seq hex>.<instance>`` where *instance* is random and stored in
  the file when it is created, so a deleted and recreated outbox never repeats an id either.

The outbox is bounded (``max_messages``, ``max_age_h``): a node left offline for weeks drops its
oldest messages rather than filling the card. Drops are counted (persisted in the file, and since
open for telemetry) and logged with a rate-limited warning.

Reading is by *lane* (:meth:`Outbox.pending` with ``topic=`` or ``exclude=``): the link drains the
badge topic before the bulky BLE backlog, so a tap made while hours of BLE windows are being
replayed after an outage is sent at once (its feedback LED depends on it), while each topic keeps
its own order. An index on ``(topic, seq)`` keeps a lane's read as cheap as the whole file's.

Thread-safe: the agent puts from the asyncio side while the MQTT link acknowledges from its own
thread; one connection is shared under a lock.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final

log = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 1
_EXPIRE_EVERY_MS: Final = 60_000
_WARN_EVERY_S: Final = 60.0

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE message (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX message_created ON message (created_ms);
"""
# Added after schema 1 shipped; created on open when missing (compatible both ways).
_LANE_INDEX = "CREATE INDEX IF NOT EXISTS message_topic ON message (topic, seq)"

NowMs = Callable[[], int]


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _rollback(db: sqlite3.Connection) -> None:
    # A failed COMMIT (disk full) may already have rolled the transaction back.
    if db.in_transaction:
        db.execute("ROLLBACK")


def _count(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT COUNT(*) FROM message").fetchone()[0])


def _record_drops(db: sqlite3.Connection, dropped: int) -> None:
    db.execute(
        "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + ? AS TEXT) WHERE key = 'dropped'",
        (dropped,),
    )


class OutboxError(Exception):
    """The outbox file cannot be used (in use by another agent, unreadable, newer schema)."""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One message waiting for the broker's acknowledgement.

    ``seq``: position in the outbox (increasing, never reused). ``message_id``: the wire ``id``
    given to the payload builder. ``created_ms``: when it was put, epoch milliseconds.
    """

    seq: int
    message_id: str
    topic: str
    payload: bytes
    qos: int
    retain: bool
    created_ms: int


class Outbox:
    """A bounded, durable FIFO of MQTT messages in one SQLite file."""

    def __init__(
        self,
        path: Path,
        *,
        max_messages: int = 100_000,
        max_age_h: float = 168,
        now_ms: NowMs = _wall_ms,
    ) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        if max_age_h <= 0:
            raise ValueError("max_age_h must be positive")
        self.path = path
        self._max_messages = max_messages
        self._max_age_ms = int(max_age_h * 3_600_000)
        self._now_ms = now_ms
        self._lock = threading.Lock()
        self._dropped_since_open = 0
        self._unwarned_drops = 0
        self._last_warning = -_WARN_EVERY_S
        self._last_expiry_ms: int | None = None
        db = self._connect(path)
        try:
            self._instance, self._next_seq, self._count, self._dropped = self._load(db)
        except BaseException:
            db.close()
            raise
        self._db: sqlite3.Connection | None = db
        log.info(
            "outbox %s opened: %d message(s) waiting, instance %s",
            path,
            self._count,
            self._instance,
        )

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=0.5)
        except sqlite3.Error as error:
            raise OutboxError(f"{path}: cannot open the outbox: {error}") from None
        try:
            db.execute("PRAGMA locking_mode = EXCLUSIVE")
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise OutboxError(f"{path}: cannot use a write-ahead log (journal mode {mode})")
            db.execute("PRAGMA synchronous = FULL")
        except sqlite3.OperationalError as error:
            db.close()
            if "locked" in str(error):
                raise OutboxError(f"{path}: the outbox is in use by another agent") from None
            raise OutboxError(f"{path}: cannot open the outbox: {error}") from None
        except sqlite3.DatabaseError as error:
            db.close()
            raise OutboxError(f"{path}: not a usable outbox file: {error}") from None
        except BaseException:
            db.close()
            raise
        return db

    def _load(self, db: sqlite3.Connection) -> tuple[str, int, int, int]:
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                tables = {name for (name,) in db.execute("SELECT name FROM sqlite_schema")}
                if "meta" not in tables:
                    # One statement at a time: executescript() would commit the transaction
                    # first, and a crash halfway would leave a file without its instance id.
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            db.execute(statement)
                    meta = {
                        "schema": str(SCHEMA_VERSION),
                        "instance": secrets.token_hex(6),
                        "dropped": "0",
                        "created_ms": str(self._now_ms()),
                    }
                    db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
                db.execute(_LANE_INDEX)
                meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
                if int(meta.get("schema", "0")) != SCHEMA_VERSION:
                    raise OutboxError(
                        f"{self.path}: outbox schema {meta.get('schema')} is not "
                        f"{SCHEMA_VERSION}; written by another version of Vivant"
                    )
                row = db.execute(
                    "SELECT seq FROM sqlite_sequence WHERE name = 'message'"
                ).fetchone()
                count = db.execute("SELECT COUNT(*) FROM message").fetchone()[0]
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)
                raise
        except sqlite3.OperationalError as error:
            if "locked" in str(error):
                raise OutboxError(f"{self.path}: the outbox is in use by another agent") from None
            raise OutboxError(f"{self.path}: cannot use the outbox: {error}") from None
        except sqlite3.DatabaseError as error:
            raise OutboxError(f"{self.path}: not a usable outbox file: {error}") from None
        next_seq = (row[0] if row else 0) + 1
        return meta["instance"], next_seq, int(count), int(meta["dropped"])

    # -- writing ---------------------------------------------------------------------------

    def put(
        self,
        topic: str,
        build: Callable[[str], bytes],
        *,
        qos: int = 1,
        retain: bool = False,
    ) -> OutboxEntry:
        """Commit a message built by ``build(message_id)``; durable when this returns."""
        if qos not in (0, 1, 2):
            raise ValueError("qos must be 0, 1 or 2")
        with self._lock:
            db = self._open_db()
            seq = self._next_seq
            message_id = f"{seq:x}.{self._instance}"
            payload = build(message_id)
            now = self._now_ms()
            db.execute("BEGIN IMMEDIATE")
            try:
                dropped = self._expire_locked(db, now) + self._make_room_locked(db)
                db.execute(
                    "INSERT INTO message (seq, topic, payload, qos, retain, created_ms) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (seq, topic, payload, qos, int(retain), now),
                )
                if dropped:
                    _record_drops(db, dropped)
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)
                self._count = _count(db)
                raise
            self._next_seq = seq + 1
            self._count += 1
            self._note_drops_locked(dropped)
            return OutboxEntry(seq, message_id, topic, payload, qos, retain, now)

    def _make_room_locked(self, db: sqlite3.Connection) -> int:
        excess = self._count + 1 - self._max_messages
        if excess <= 0:
            return 0
        deleted = db.execute(
            "DELETE FROM message WHERE seq IN (SELECT seq FROM message ORDER BY seq LIMIT ?)",
            (excess,),
        ).rowcount
        self._count -= deleted
        return deleted

    def _expire_locked(self, db: sqlite3.Connection, now: int) -> int:
        if self._last_expiry_ms is not None and 0 <= now - self._last_expiry_ms < _EXPIRE_EVERY_MS:
            return 0
        self._last_expiry_ms = now
        deleted = db.execute(
            "DELETE FROM message WHERE created_ms < ?", (now - self._max_age_ms,)
        ).rowcount
        self._count -= deleted
        return deleted

    def _note_drops_locked(self, dropped: int) -> None:
        if not dropped:
            return
        self._dropped += dropped
        self._dropped_since_open += dropped
        self._unwarned_drops += dropped
        now = time.monotonic()
        if now - self._last_warning >= _WARN_EVERY_S:
            log.warning(
                "outbox %s full or too old: dropped %d oldest message(s) (%d since start)",
                self.path,
                self._unwarned_drops,
                self._dropped_since_open,
            )
            self._last_warning = now
            self._unwarned_drops = 0

    def expire(self) -> int:
        """Drop messages older than ``max_age_h`` now; returns how many were dropped."""
        with self._lock:
            db = self._open_db()
            self._last_expiry_ms = None
            db.execute("BEGIN IMMEDIATE")
            try:
                dropped = self._expire_locked(db, self._now_ms())
                if dropped:
                    _record_drops(db, dropped)
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)
                self._count = _count(db)
                raise
            self._note_drops_locked(dropped)
            return dropped

    def ack(self, seq: int) -> bool:
        """Delete one acknowledged message; ``False`` if it was already gone."""
        return self.ack_many((seq,)) == 1

    def ack_many(self, seqs: Iterable[int]) -> int:
        """Delete acknowledged messages in one transaction; returns how many were deleted."""
        params = [(seq,) for seq in seqs]
        if not params:
            return 0
        with self._lock:
            db = self._open_db()
            db.execute("BEGIN IMMEDIATE")
            try:
                cursor = db.executemany("DELETE FROM message WHERE seq = ?", params)
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)
                raise
            self._count -= cursor.rowcount
            return cursor.rowcount

    # -- reading ---------------------------------------------------------------------------

    def pending(
        self,
        after_seq: int = 0,
        limit: int = 100,
        *,
        topic: str | None = None,
        exclude: Collection[str] = (),
    ) -> list[OutboxEntry]:
        """Up to *limit* waiting messages with ``seq > after_seq``, oldest first.

        With *topic*, only that topic's messages (a lane); with *exclude*, all but those topics.
        """
        sql = "SELECT seq, topic, payload, qos, retain, created_ms FROM message WHERE seq > ?"
        params: list[object] = [after_seq]
        if topic is not None:
            sql += " AND topic = ?"
            params.append(topic)
        if exclude:
            sql += f" AND topic NOT IN ({', '.join('?' * len(exclude))})"
            params.extend(exclude)
        sql += " ORDER BY seq LIMIT ?"
        params.append(limit)
        with self._lock:
            rows = self._open_db().execute(sql, params).fetchall()
        return [
            OutboxEntry(seq, f"{seq:x}.{self._instance}", topic, payload, qos, bool(retain), at)
            for seq, topic, payload, qos, retain, at in rows
        ]

    def depth(self) -> int:
        """Messages waiting."""
        with self._lock:
            return self._count

    @property
    def dropped(self) -> int:
        """Messages dropped (full or too old) over the life of this file."""
        with self._lock:
            return self._dropped

    @property
    def dropped_since_open(self) -> int:
        """Messages dropped since this outbox was opened (``Telemetry.dropped``)."""
        with self._lock:
            return self._dropped_since_open

    @property
    def instance(self) -> str:
        """Random id of this outbox file, the suffix of every message id it gives."""
        return self._instance

    # -- life cycle ------------------------------------------------------------------------

    def _open_db(self) -> sqlite3.Connection:
        if self._db is None:
            raise OutboxError(f"{self.path}: the outbox is closed")
        return self._db

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._db is None

    def close(self) -> None:
        """Checkpoint and close the file; idempotent."""
        with self._lock:
            db, self._db = self._db, None
        if db is not None:
            db.close()
            log.debug("outbox %s closed", self.path)

    def __enter__(self) -> Outbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
