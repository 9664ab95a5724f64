"""Durable state for the emulator: one SQLite file in the data directory.

Every service keeps its objects as JSON documents keyed by (kind, id) with an optional parent/scope, the way moto
keeps plain dicts in its backends — but on disk, so `emulator stop` + `start` keeps everything. SQLite transactions
make each write atomic: a killed emulator never leaves a half-written object.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    kind    TEXT NOT NULL,
    id      TEXT NOT NULL,
    scope   TEXT NOT NULL DEFAULT '',
    body    TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS objects_scope ON objects (kind, scope);
CREATE TABLE IF NOT EXISTS settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

# Tables a service keeps beside `objects` (name -> CREATE ... IF NOT EXISTS script). Services register their schema
# at import; `EmulatorState` applies every registered schema when it opens the store — never on a service's first
# use, which may fall inside another operation's transaction (see `Store.executescript`).
_SCHEMAS: dict[str, str] = {}


def register_schema(name: str, sql: str) -> None:
    """Declare a service's tables; created at emulator start by `Store.create_schemas`."""
    _SCHEMAS[name] = sql


def registered_schemas() -> dict[str, str]:
    return dict(_SCHEMAS)


class Store:
    """A small document store over SQLite. Thread-safe; every public method is one transaction unless it runs
    inside `transaction()`."""

    def __init__(self, path: Path | str):
        self.path = str(path)
        _private_files(self.path)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._depth = 0
        self._conn.executescript(SCHEMA)

    # -- transactions -------------------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator["Store"]:
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                if outer:
                    self._conn.execute("ROLLBACK")
                raise
            else:
                self._depth -= 1
                if outer:
                    self._conn.execute("COMMIT")

    def execute(self, sql: str, params: tuple | dict = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.execute(sql, params)

    def executescript(self, sql: str) -> None:
        """Run a DDL script. Never inside `transaction()`: sqlite3's executescript COMMITs the open transaction
        first, which would commit half an operation and make its own COMMIT fail."""
        with self._lock:
            if self._depth > 0:
                raise RuntimeError("Store.executescript inside a transaction: create schemas at startup "
                                   "(store.register_schema) instead")
            self._conn.executescript(sql)

    def create_schemas(self) -> None:
        """Create every registered service table (idempotent)."""
        for sql in registered_schemas().values():
            self.executescript(sql)

    # -- documents ----------------------------------------------------------------------------------------------
    def get(self, kind: str, id: str) -> dict[str, Any] | None:
        row = self.execute("SELECT body FROM objects WHERE kind=? AND id=?", (kind, id)).fetchone()
        return json.loads(row["body"]) if row else None

    def get_with_meta(self, kind: str, id: str) -> tuple[dict[str, Any], float] | None:
        row = self.execute("SELECT body, created FROM objects WHERE kind=? AND id=?", (kind, id)).fetchone()
        return (json.loads(row["body"]), row["created"]) if row else None

    def put(self, kind: str, id: str, body: dict[str, Any], scope: str = "") -> None:
        now = time.time()
        with self.transaction():
            self.execute(
                "INSERT INTO objects(kind, id, scope, body, created, updated) VALUES (?,?,?,?,?,?) "
                "ON CONFLICT(kind, id) DO UPDATE SET body=excluded.body, scope=excluded.scope, updated=excluded.updated",
                (kind, id, scope, json.dumps(body), now, now),
            )

    def delete(self, kind: str, id: str) -> bool:
        with self.transaction():
            return self.execute("DELETE FROM objects WHERE kind=? AND id=?", (kind, id)).rowcount > 0

    def list(self, kind: str, scope: str | None = None, scope_prefix: str | None = None) -> list[dict[str, Any]]:
        if scope is not None:
            rows = self.execute(
                "SELECT body FROM objects WHERE kind=? AND scope=? ORDER BY created, id", (kind, scope)
            )
        elif scope_prefix is not None:
            rows = self.execute(
                "SELECT body FROM objects WHERE kind=? AND scope LIKE ? ESCAPE '\\' ORDER BY created, id",
                (kind, _like_prefix(scope_prefix)),
            )
        else:
            rows = self.execute("SELECT body FROM objects WHERE kind=? ORDER BY created, id", (kind,))
        return [json.loads(r["body"]) for r in rows.fetchall()]

    def list_with_meta(self, kind: str, scope: str | None = None) -> list[tuple[dict[str, Any], float]]:
        if scope is None:
            rows = self.execute("SELECT body, created FROM objects WHERE kind=? ORDER BY created, id", (kind,))
        else:
            rows = self.execute(
                "SELECT body, created FROM objects WHERE kind=? AND scope=? ORDER BY created, id", (kind, scope)
            )
        return [(json.loads(r["body"]), r["created"]) for r in rows.fetchall()]

    def find_by_field(self, kind: str, scope: str, field: str, value: Any, *,
                      ignore_case: bool = False) -> list[tuple[dict[str, Any], float]]:
        """Documents whose top-level JSON `field` equals `value`, oldest first — in SQL, so a lookup by an
        alternate key does not parse every document of the kind (see `index_field`)."""
        return self.find_by_field_in(kind, scope, field, [value], ignore_case=ignore_case)

    def find_by_field_in(self, kind: str, scope: str, field: str, values: list[Any], *,
                         ignore_case: bool = False) -> list[tuple[dict[str, Any], float]]:
        """`find_by_field` for any of several values, in one indexed query per 500 values."""
        if not _FIELD.fullmatch(field):
            raise ValueError(f"not a field name: {field!r}")
        expr = f"json_extract(body, '$.{field}')"
        if ignore_case and all(isinstance(v, str) for v in values):
            expr, values = f"lower({expr})", [v.lower() for v in values]
        rows = []
        for i in range(0, len(values), 500):  # under SQLite's bound on parameters
            chunk = values[i:i + 500]
            rows += self.execute(f"SELECT body, created, id FROM objects WHERE kind=? AND scope=? AND {expr} IN "
                                 f"({', '.join('?' * len(chunk))})", (kind, scope, *chunk)).fetchall()
        rows.sort(key=lambda r: (r["created"], r["id"]))  # oldest first, as one query would give them
        return [(json.loads(r["body"]), r["created"]) for r in rows]

    def index_field(self, field: str, *, ignore_case: bool = False) -> None:
        """An expression index that serves `find_by_field` for this field."""
        if not _FIELD.fullmatch(field):
            raise ValueError(f"not a field name: {field!r}")
        expr = f"json_extract(body, '$.{field}')"
        expr = f"lower({expr})" if ignore_case else expr
        self.executescript(f"CREATE INDEX IF NOT EXISTS objects_{field}{'_ci' if ignore_case else ''} "
                           f"ON objects (kind, scope, {expr});")

    def created_at(self, kind: str, id: str) -> float | None:
        row = self.execute("SELECT created FROM objects WHERE kind=? AND id=?", (kind, id)).fetchone()
        return row["created"] if row else None

    def delete_scope(self, scope_prefix: str) -> int:
        with self.transaction():
            return self.execute(
                "DELETE FROM objects WHERE scope LIKE ? ESCAPE '\\'", (_like_prefix(scope_prefix),)
            ).rowcount

    def kinds(self) -> dict[str, int]:
        rows = self.execute("SELECT kind, COUNT(*) AS n FROM objects GROUP BY kind").fetchall()
        return {r["kind"]: r["n"] for r in rows}

    # -- settings -----------------------------------------------------------------------------------------------
    def get_setting(self, name: str, default: Any = None) -> Any:
        row = self.execute("SELECT value FROM settings WHERE name=?", (name,)).fetchone()
        return json.loads(row["value"]) if row else default

    def set_setting(self, name: str, value: Any) -> None:
        with self.transaction():
            self.execute(
                "INSERT INTO settings(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value=excluded.value",
                (name, json.dumps(value)),
            )

    def wipe(self, keep_kinds: tuple[str, ...] = ()) -> None:
        """Delete every object (but the kinds named) and every table a service created; used by reset."""
        with self.transaction():
            if keep_kinds:
                marks = ",".join("?" * len(keep_kinds))
                self.execute(f"DELETE FROM objects WHERE kind NOT IN ({marks})", keep_kinds)
            else:
                self.execute("DELETE FROM objects")
            tables = [
                r["name"]
                for r in self.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
                if r["name"] not in ("objects", "settings") and not r["name"].startswith("sqlite_")
            ]
            for t in tables:
                self.execute(f'DELETE FROM "{t}"')

    def close(self) -> None:
        with self._lock:
            self._conn.close()


_FIELD = __import__("re").compile(r"[A-Za-z][A-Za-z0-9_]*")


def _private_files(path: str) -> None:
    """The database holds secrets (Key Vault values, credential hashes): it is created 0600 before SQLite opens it,
    and SQLite gives its -wal and -shm files the database's mode. Files left by an older emulator are narrowed."""
    if path == ":memory:":
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    for p in (path, path + "-wal", path + "-shm", path + "-journal"):
        try:
            os.chmod(p, 0o600)
        except FileNotFoundError:
            pass


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
