"""EmulatorState: everything one emulator instance knows — passed to the app, never a module global, so two
isolated emulators can run in one process."""

from __future__ import annotations

import collections
import itertools
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provision.emulator import directory as d
from provision.emulator.config import Timing
from provision.emulator.faults import Faults
from provision.emulator.pki import write_private
from provision.emulator.store import Store
from provision.emulator.tokens import Signer

OPERATOR_FILE = "operator.json"
ADMIN_KEY_FILE = "admin-key"
OPERATOR_APP_NAME = "provision-emulator-operator"
# Service modules that keep tables of their own: imported (so they register their schemas) before the store is used.
SCHEMA_MODULES = ("provision.emulator.services.kafkarest.models",)


@dataclass
class Bootstrap:
    tenant_id: str
    subscription_id: str
    operator_app_id: str
    operator_sp_id: str


class RequestLog:
    """Every request the emulator served: method, path, status, time — for tests and benchmarks to count calls."""

    def __init__(self, maxlen: int = 200_000):
        self._entries: collections.deque[dict[str, Any]] = collections.deque(maxlen=maxlen)
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            entry["seq"] = next(self._seq)
            self._entries.append(entry)

    def since(self, seq: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self._entries if e["seq"] > seq]

    def last_seq(self) -> int:
        with self._lock:
            return self._entries[-1]["seq"] if self._entries else 0

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# The layout of a data dir's state.sqlite3, recorded in it as setting "schemaVersion". Raise it whenever stored
# documents change meaning, and add the step from the previous version to MIGRATIONS.
#   1  (unrecorded) up to the introduction of versioning
#   2  Entra soft delete: deleted directory objects live on as kind "deletedItem"
SCHEMA_VERSION = 2


def _migrate_1_to_2(store: Store) -> None:
    """Version 1 hard-deleted directory objects: there is nothing to carry over, only the version to record."""


MIGRATIONS = {1: _migrate_1_to_2}


class DataDirError(Exception):
    """A data dir this emulator cannot use (written by a newer one); the message says what to do."""


def check_schema(store: Store, data_dir: Path) -> tuple[int, int]:
    """Bring the store to SCHEMA_VERSION (migrating an older one) or refuse a newer one. Returns (found, now)."""
    found = store.get_setting("schemaVersion")
    if found is None:  # a fresh dir is current; one with a tenant but no version predates versioning
        found = 1 if store.get_setting("bootstrap") else SCHEMA_VERSION
    if not isinstance(found, int) or found > SCHEMA_VERSION:
        raise DataDirError(
            f"the emulator data dir {data_dir} has schema version {found}, newer than this emulator's "
            f"{SCHEMA_VERSION}: it was written by a newer provision. Upgrade provision, or use another data dir "
            f"(--data-dir / PROVISION_EMULATOR_DIR); nothing in it was changed.")
    version = found
    while version < SCHEMA_VERSION:
        with store.transaction():
            MIGRATIONS[version](store)
            version += 1
            store.set_setting("schemaVersion", version)
    store.set_setting("schemaVersion", version)
    return found, version


class EmulatorState:
    def __init__(self, data_dir: Path, timing: Timing | None = None):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(self.data_dir / "state.sqlite3")
        found, self.schema_version = check_schema(self.store, self.data_dir)
        if found != self.schema_version:
            import logging

            logging.getLogger("provision.emulator").warning(
                "migrated the data dir %s from schema version %s to %s", self.data_dir, found, self.schema_version)
        self._create_schemas()
        self.signer = Signer(self.data_dir)
        self.directory = d.Directory(self.store)
        self.timing = timing or Timing.from_env()
        saved = self.store.get_setting("timing")
        if saved:
            self.timing.update({k: v for k, v in saved.items() if k in self.timing.as_dict()})
        self.faults = Faults()
        self.requests = RequestLog()
        self.reset_hooks: list = []  # services with in-memory caches register a callable here
        self.started = time.time()
        self.boot = self._bootstrap()
        self.admin_key = self._admin_key()

    def _create_schemas(self) -> None:
        """Every service's tables exist before the first request: a service must never create them on first use,
        which may happen inside another operation's transaction (e.g. a cluster's data purged by `settle`)."""
        import importlib

        for module in SCHEMA_MODULES:
            importlib.import_module(module)
        self.store.create_schemas()

    # -- first start --------------------------------------------------------------------------------------------
    def _bootstrap(self) -> Bootstrap:
        saved = self.store.get_setting("bootstrap")
        if saved:
            return Bootstrap(**saved)
        tenant_id, subscription_id = str(uuid.uuid4()), str(uuid.uuid4())
        app_id, app_oid, sp_oid, key_id = (str(uuid.uuid4()) for _ in range(4))
        secret = secrets.token_urlsafe(30)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        app = {
            "id": app_oid, "appId": app_id, "displayName": OPERATOR_APP_NAME, "uniqueName": OPERATOR_APP_NAME,
            "signInAudience": "AzureADMyOrg", "createdDateTime": now, "tags": [], "identifierUris": [],
            "passwordCredentials": [{"customKeyIdentifier": None, "displayName": "operator", "endDateTime":
                                     "2099-12-31T00:00:00Z", "hint": secret[:3], "keyId": key_id, "secretText": None,
                                     "startDateTime": now}],
            "keyCredentials": [],
            "_secrets": {key_id: d.hash_secret(secret)},
        }
        sp = {
            "id": sp_oid, "appId": app_id, "displayName": OPERATOR_APP_NAME, "servicePrincipalType": "Application",
            "accountEnabled": True, "appOwnerOrganizationId": tenant_id, "servicePrincipalNames": [app_id],
            "tags": [], "createdDateTime": now,
            # The operator holds every right: Graph application permissions and Owner on the subscription.
            "_rights": ["graph", "arm", "admin"],
        }
        boot = Bootstrap(tenant_id, subscription_id, app_id, sp_oid)
        with self.store.transaction():
            self.store.put(d.APPLICATION, app_oid, app, scope=tenant_id)
            self.store.put(d.SERVICE_PRINCIPAL, sp_oid, sp, scope=tenant_id)
            self.store.put("subscription", subscription_id, {
                "id": f"/subscriptions/{subscription_id}", "subscriptionId": subscription_id, "tenantId": tenant_id,
                "displayName": "Emulated subscription", "state": "Enabled",
            })
            self.store.set_setting("bootstrap", boot.__dict__)
            # The bootstrap objects have always existed: replication lag must never hide the operator.
            self.store.execute("UPDATE objects SET created = 0 WHERE id IN (?, ?)", (app_oid, sp_oid))
        write_private(self.data_dir / OPERATOR_FILE, json.dumps({
            "tenantId": tenant_id, "subscriptionId": subscription_id, "clientId": app_id, "clientSecret": secret,
        }, indent=2).encode())
        return boot

    def _admin_key(self) -> str:
        path = self.data_dir / ADMIN_KEY_FILE
        if path.exists():
            return path.read_text().strip()
        key = secrets.token_urlsafe(32)
        write_private(path, key.encode())
        return key

    # -- rights -------------------------------------------------------------------------------------------------
    def has_right(self, sp_object_id: str, right: str) -> bool:
        sp = self.store.get(d.SERVICE_PRINCIPAL, sp_object_id)
        return bool(sp) and right in sp.get("_rights", [])

    def save_timing(self) -> None:
        self.store.set_setting("timing", self.timing.as_dict())

    def reset(self) -> None:
        """Back to the first-start state: only the tenant, subscription and operator remain."""
        keep = {self.boot.operator_sp_id}
        op_app = self.directory.app_by_app_id(self.boot.tenant_id, self.boot.operator_app_id, consistent=True)
        if op_app:
            keep.add(op_app["id"])
        with self.store.transaction():
            rows = self.store.execute("SELECT kind, id FROM objects").fetchall()
            for r in rows:
                if r["id"] not in keep and r["kind"] != "subscription":
                    self.store.execute("DELETE FROM objects WHERE kind=? AND id=?", (r["kind"], r["id"]))
            tables = [
                r["name"]
                for r in self.store.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
                if r["name"] not in ("objects", "settings") and not r["name"].startswith("sqlite_")
            ]
            for t in tables:
                self.store.execute(f'DELETE FROM "{t}"')
            self.store.execute("DELETE FROM settings WHERE name NOT IN ('bootstrap', 'schemaVersion')")
        self.timing = Timing.from_env()
        self.faults.clear()
        self.requests.clear()
        for hook in self.reset_hooks:
            hook()
