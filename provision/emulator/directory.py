"""The emulated Entra directory's shared core: applications, service principals, groups, users, group memberships
and group owners.

Graph (services/graph) is the wire front of this directory; the token service, the HDInsight resource provider
and the Kafka REST proxy read it too, so the lookups they share live here, once.

Documents are stored in Graph's own JSON form (camelCase). Fields starting with "_" are the emulator's private
bookkeeping and are never rendered: an application's `_secrets` (keyId → salted hash) and `_keys` (keyId →
base64 DER certificate), a user's `_password` hash, the operator's `_rights`.

Entra soft-deletes: a deleted application, service principal, group or user moves to `directory/deletedItems`
(kind `deletedItem`, with its membership and ownership edges kept in `_edges`) for 30 days, where it can be
restored or deleted permanently; while there it still holds its `uniqueName`.

Entra is eventually consistent: with a replication lag configured, an object is invisible to reads and
references for that long after it is created (404 Request_ResourceNotFound, NoBackingApplicationObject).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import time
from typing import Any

from provision.emulator.store import Store

APPLICATION = "application"
SERVICE_PRINCIPAL = "servicePrincipal"
GROUP = "group"
USER = "user"
DIRECTORY_KINDS = (APPLICATION, SERVICE_PRINCIPAL, GROUP, USER)
# Alternate keys: Entra compares them without regard to case; the store indexes them (case-folded).
ALTERNATE_KEYS = ("appId", "uniqueName", "userPrincipalName")
DELETED = "deletedItem"
RETENTION_SECONDS = 30 * 24 * 3600  # Entra keeps deleted objects for 30 days, then deletes them permanently

ODATA_TYPES = {
    APPLICATION: "#microsoft.graph.application",
    SERVICE_PRINCIPAL: "#microsoft.graph.servicePrincipal",
    GROUP: "#microsoft.graph.group",
    USER: "#microsoft.graph.user",
}

MEMBERS_SCHEMA = """
CREATE TABLE IF NOT EXISTS group_members (
    group_id  TEXT NOT NULL,
    member_id TEXT NOT NULL,
    added     REAL NOT NULL,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX IF NOT EXISTS group_members_member ON group_members (member_id);
CREATE TABLE IF NOT EXISTS group_owners (
    group_id TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    added    REAL NOT NULL,
    PRIMARY KEY (group_id, owner_id)
);
CREATE INDEX IF NOT EXISTS group_owners_owner ON group_owners (owner_id);
CREATE TABLE IF NOT EXISTS membership_changes (
    group_id  TEXT NOT NULL,
    member_id TEXT NOT NULL,
    at        REAL NOT NULL,
    is_member INTEGER NOT NULL
);
"""


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored document as the API shows it: without the emulator's private fields."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def hash_secret(secret: str, salt: bytes | None = None) -> dict[str, str]:
    salt = salt or os.urandom(16)
    return {"salt": salt.hex(), "hash": hashlib.sha256(salt + secret.encode()).hexdigest()}


def secret_matches(secret: str, stored: dict[str, str]) -> bool:
    calc = hashlib.sha256(bytes.fromhex(stored["salt"]) + secret.encode()).hexdigest()
    return hmac.compare_digest(calc, stored["hash"])


class Directory:
    def __init__(self, store: Store):
        self.store = store
        store.executescript(MEMBERS_SCHEMA)
        # Lookups by alternate key (upserts, token requests, `(appId='…')` addresses) must not scan the tenant.
        for field in ALTERNATE_KEYS:
            store.index_field(field, ignore_case=True)
        store.index_field("appId")

    # -- replication lag ----------------------------------------------------------------------------------------
    def replication(self) -> dict[str, Any]:
        return self.store.get_setting("replication", {"seconds": 0.0, "kinds": list(DIRECTORY_KINDS)})

    def set_replication(self, seconds: float, kinds: list[str] | None = None) -> None:
        self.store.set_setting("replication", {"seconds": float(seconds), "kinds": kinds or list(DIRECTORY_KINDS)})

    def is_replicated(self, kind: str, created: float) -> bool:
        rep = self.replication()
        return rep["seconds"] <= 0 or kind not in rep["kinds"] or time.time() - created >= rep["seconds"]

    # -- lookups (None when missing or not yet replicated, unless `consistent`) ----------------------------------
    def get(self, kind: str, object_id: str, *, consistent: bool = False) -> dict[str, Any] | None:
        found = self.store.get_with_meta(kind, object_id)
        if found is None:
            return None
        doc, created = found
        if not consistent and not self.is_replicated(kind, created):
            return None
        return doc

    def get_any(self, object_id: str, *, consistent: bool = False) -> tuple[str, dict[str, Any]] | None:
        """Find a directory object of any type by its object id."""
        for kind in DIRECTORY_KINDS:
            doc = self.get(kind, object_id, consistent=consistent)
            if doc is not None:
                return kind, doc
        return None

    def find(self, kind: str, tenant_id: str, field: str, value: str, *,
             consistent: bool = False, ignore_case: bool = False) -> dict[str, Any] | None:
        """The first object whose `field` equals `value`. Entra compares alternate keys (uniqueName, appId,
        userPrincipalName) without regard to case: pass `ignore_case` for those."""
        for doc, created in self.store.find_by_field(kind, tenant_id, field, value, ignore_case=ignore_case):
            if consistent or self.is_replicated(kind, created):
                return doc
        return None

    def objects(self, kind: str, tenant_id: str, *, consistent: bool = False,
                where: tuple[str, list[str]] | None = None) -> list[dict[str, Any]]:
        """Every object of a kind in a tenant, oldest first; objects still replicating are left out. `where`:
        only those whose alternate key (an indexed field) is one of the values, regardless of case."""
        found = (self.store.list_with_meta(kind, scope=tenant_id) if where is None else
                 self.store.find_by_field_in(kind, tenant_id, where[0], where[1], ignore_case=True))
        return [doc for doc, created in found if consistent or self.is_replicated(kind, created)]

    def app_by_app_id(self, tenant_id: str, app_id: str, *, consistent: bool = False) -> dict[str, Any] | None:
        return self.find(APPLICATION, tenant_id, "appId", app_id, consistent=consistent)

    def sp_by_app_id(self, tenant_id: str, app_id: str, *, consistent: bool = False) -> dict[str, Any] | None:
        return self.find(SERVICE_PRINCIPAL, tenant_id, "appId", app_id, consistent=consistent)

    def save(self, kind: str, tenant_id: str, doc: dict[str, Any]) -> None:
        self.store.put(kind, doc["id"], doc, scope=tenant_id)

    def delete(self, kind: str, object_id: str) -> bool:
        with self.store.transaction():
            # Log the dropped edges so was_member_at() replays them as removals.
            for group_id in self.direct_groups(object_id):
                self._record_change(group_id, object_id, False)
            for member_id in self.members(object_id):
                self._record_change(object_id, member_id, False)
            self.store.execute("DELETE FROM group_members WHERE group_id=? OR member_id=?", (object_id, object_id))
            self.store.execute("DELETE FROM group_owners WHERE group_id=? OR owner_id=?", (object_id, object_id))
            return self.store.delete(kind, object_id)

    # -- soft delete: directory/deletedItems --------------------------------------------------------------------
    def soft_delete(self, kind: str, tenant_id: str, object_id: str) -> bool:
        """Move an object to the deleted items, keeping the edges that a restore puts back."""
        with self.store.transaction():
            doc = self.store.get(kind, object_id)
            if doc is None:
                return False
            owned = self.store.execute("SELECT group_id FROM group_owners WHERE owner_id=?", (object_id,)).fetchall()
            edges = {"memberOf": self.direct_groups(object_id), "members": self.members(object_id),
                     "owners": self.owners(object_id), "ownerOf": [r["group_id"] for r in owned]}
            self.delete(kind, object_id)
            doc.update(deletedDateTime=_now_iso(), _kind=kind, _edges=edges, _deletedAt=time.time())
            self.store.put(DELETED, object_id, doc, scope=tenant_id)
            return True

    def _expire_deleted(self, tenant_id: str) -> None:
        cutoff = time.time() - RETENTION_SECONDS
        for doc in self.store.list(DELETED, scope=tenant_id):
            if doc.get("_deletedAt", 0) < cutoff:
                self.store.delete(DELETED, doc["id"])

    def deleted_items(self, tenant_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        """Deleted objects (of one kind), oldest deletion first; those past the retention period are gone."""
        self._expire_deleted(tenant_id)
        return [doc for doc in self.store.list(DELETED, scope=tenant_id) if kind is None or doc["_kind"] == kind]

    def deleted_item(self, tenant_id: str, object_id: str) -> dict[str, Any] | None:
        self._expire_deleted(tenant_id)
        return self.store.get(DELETED, object_id)

    def deleted_holding(self, kind: str, tenant_id: str, field: str, value: str) -> dict[str, Any] | None:
        """The deleted object of `kind` whose alternate key `field` equals `value` (case-insensitively)."""
        self._expire_deleted(tenant_id)
        for doc, _created in self.store.find_by_field(DELETED, tenant_id, field, value, ignore_case=True):
            if doc.get("_kind") == kind:
                return doc
        return None

    def restore(self, tenant_id: str, object_id: str) -> tuple[str, dict[str, Any]]:
        """Put a deleted object back with the edges whose other end still exists (the caller checks conflicts)."""
        with self.store.transaction():
            doc = self.store.get(DELETED, object_id)
            assert doc is not None
            kind, edges = doc.pop("_kind"), doc.pop("_edges", {})
            doc.pop("_deletedAt", None)
            doc["deletedDateTime"] = None
            self.store.delete(DELETED, object_id)
            self.store.put(kind, object_id, doc, scope=tenant_id)
            live = self.get_any
            for group_id in edges.get("memberOf", []):
                if self.store.get(GROUP, group_id) is not None:
                    self.add_member(group_id, object_id)
            for member_id in edges.get("members", []):
                if live(member_id, consistent=True) is not None:
                    self.add_member(object_id, member_id)
            for owner_id in edges.get("owners", []):
                if live(owner_id, consistent=True) is not None:
                    self.add_owner(object_id, owner_id)
            for group_id in edges.get("ownerOf", []):
                if self.store.get(GROUP, group_id) is not None:
                    self.add_owner(group_id, object_id)
            return kind, doc

    def purge(self, object_id: str) -> bool:
        return self.store.delete(DELETED, object_id)

    # -- membership ---------------------------------------------------------------------------------------------
    def add_member(self, group_id: str, member_id: str) -> bool:
        """True when added, False when it already was a member."""
        with self.store.transaction():
            cur = self.store.execute(
                "INSERT OR IGNORE INTO group_members(group_id, member_id, added) VALUES (?,?,?)",
                (group_id, member_id, time.time()),
            )
            if cur.rowcount:
                self._record_change(group_id, member_id, True)
            return cur.rowcount > 0

    def remove_member(self, group_id: str, member_id: str) -> bool:
        with self.store.transaction():
            cur = self.store.execute("DELETE FROM group_members WHERE group_id=? AND member_id=?",
                                     (group_id, member_id))
            if cur.rowcount:
                self._record_change(group_id, member_id, False)
            return cur.rowcount > 0

    def _record_change(self, group_id: str, member_id: str, is_member: bool) -> None:
        self.store.execute("INSERT INTO membership_changes(group_id, member_id, at, is_member) VALUES (?,?,?,?)",
                           (group_id, member_id, time.time(), int(is_member)))

    # -- ownership (groups) -------------------------------------------------------------------------------------
    def add_owner(self, group_id: str, owner_id: str) -> bool:
        """True when added, False when it already was an owner."""
        with self.store.transaction():
            cur = self.store.execute(
                "INSERT OR IGNORE INTO group_owners(group_id, owner_id, added) VALUES (?,?,?)",
                (group_id, owner_id, time.time()),
            )
            return cur.rowcount > 0

    def remove_owner(self, group_id: str, owner_id: str) -> bool:
        with self.store.transaction():
            return self.store.execute("DELETE FROM group_owners WHERE group_id=? AND owner_id=?",
                                      (group_id, owner_id)).rowcount > 0

    def owners(self, group_id: str) -> list[str]:
        rows = self.store.execute("SELECT owner_id FROM group_owners WHERE group_id=? ORDER BY added, owner_id",
                                  (group_id,)).fetchall()
        return [r["owner_id"] for r in rows]

    def members(self, group_id: str) -> list[str]:
        rows = self.store.execute("SELECT member_id FROM group_members WHERE group_id=? ORDER BY added, member_id",
                                  (group_id,)).fetchall()
        return [r["member_id"] for r in rows]

    def direct_groups(self, member_id: str) -> list[str]:
        rows = self.store.execute("SELECT group_id FROM group_members WHERE member_id=?", (member_id,)).fetchall()
        return [r["group_id"] for r in rows]

    def transitive_groups(self, member_id: str) -> set[str]:
        seen: set[str] = set()
        frontier = [member_id]
        while frontier:
            nxt = []
            for m in frontier:
                for g in self.direct_groups(m):
                    if g not in seen:
                        seen.add(g)
                        nxt.append(g)
            frontier = nxt
        return seen

    def is_member_transitive(self, group_id: str, member_id: str) -> bool:
        return group_id in self.transitive_groups(member_id)

    def was_member_at(self, group_id: str, member_id: str, at: float) -> bool:
        """Direct-or-transitive membership as it stood at time `at` — what a cache refreshed then would know.

        Used by the Kafka REST proxy, whose view of group membership trails the directory by a bounded time."""
        if at >= time.time():
            return self.is_member_transitive(group_id, member_id)
        # Replay: current direct memberships minus changes after `at`, per edge.
        later = self.store.execute(
            "SELECT group_id, member_id, is_member FROM membership_changes WHERE at > ? ORDER BY at DESC",
            (at,)).fetchall()
        # The earliest later change tells what the edge was before it: is_member=1 means it was absent before.
        before: dict[tuple[str, str], bool] = {}
        for r in later:  # newest first; the last write wins = the earliest change
            before[(r["group_id"], r["member_id"])] = not bool(r["is_member"])

        def direct(m: str) -> list[str]:
            now_groups = set(self.direct_groups(m))
            for (g, mm), was in before.items():
                if mm == m:
                    (now_groups.add if was else now_groups.discard)(g)
            return list(now_groups)

        seen: set[str] = set()
        frontier = [member_id]
        while frontier:
            nxt = []
            for m in frontier:
                for g in direct(m):
                    if g not in seen:
                        seen.add(g)
                        nxt.append(g)
            frontier = nxt
        return group_id in seen
