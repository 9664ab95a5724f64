"""Key Vault's data plane for secrets: versions, soft delete, recovery, purge, and who may do what. No HTTP here.

Where things live
- A vault's ARM document (kind `keyvault:vault`, scoped to its resource group) is written by
  `services/arm/keyvault`; a soft-deleted vault becomes a `keyvault:deletedVault` document (scoped to the
  subscription) that keeps the vault's last document. Vault names are global, so the data plane finds a vault by
  name alone.
- Each secret version is a `keyvault:secret` document keyed `<vault>/<name>/<version>` (lower-cased vault and
  secret names: Key Vault names are case-insensitive) and scoped `keyvault/<vault>` — outside the resource group's
  scope, so a vault's secrets outlive the vault's soft deletion and go only when the vault is purged. A deleted
  secret is a `keyvault:deletedSecret` marker (`<vault>/<name>`) beside its versions: while it exists the versions
  are invisible to every operation but get/recover/purge of the deleted secret.
- Values sit in the emulator's SQLite file, which (with its WAL) is created 0600 in a 0700 data dir.

Endpoint mapping (see README, "Key Vault endpoint mapping"): `<vault>.vault.azure.net` cannot resolve here, so each
vault gets a TLS listener of its own on 127.0.0.1 and reports `vaultUri = https://127.0.0.1:<vault port>/`. Key
Vault's challenge names the resource `https://0.0.1:<vault port>` — the vault host without its first label, exactly
as `https://vault.azure.net` is `<vault>.vault.azure.net` without its first label — so azure-keyvault-secrets'
challenge-resource verification (the vault host must end with "." + the resource host) holds, and the token service
issues tokens for that resource.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from typing import Any

from starlette.requests import Request

from provision.emulator.state import EmulatorState
from provision.emulator.wire import ServiceError

VAULT = "keyvault:vault"
DELETED_VAULT = "keyvault:deletedVault"
SECRET = "keyvault:secret"
DELETED_SECRET = "keyvault:deletedSecret"

PUBLIC_RESOURCE = "https://vault.azure.net"  # the audience Azure's vaults accept; the emulator's vaults too
LOCAL_RESOURCE_HOST = "0.0.1"  # 127.0.0.1 without its first label (see module docstring)
_LOCAL_RESOURCE = re.compile(r"^https://0\.0\.1:(\d{1,5})/?$")

_SECRET_NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
MAX_VALUE_CHARS = 25 * 1024
MAX_TAGS = 15
DEFAULT_PAGE = 25
MAX_PAGE = 25

# RBAC: the data actions each operation needs, and the built-in roles that grant them.
ACTIONS = {
    "get": "Microsoft.KeyVault/vaults/secrets/getSecret/action",
    "list": "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
    "set": "Microsoft.KeyVault/vaults/secrets/setSecret/action",
    "update": "Microsoft.KeyVault/vaults/secrets/update/action",
    "delete": "Microsoft.KeyVault/vaults/secrets/delete",
    "recover": "Microsoft.KeyVault/vaults/secrets/recover/action",
    "purge": "Microsoft.KeyVault/vaults/secrets/purge/action",
}
# The access-policy permission (vaults without RBAC authorization) each operation needs.
POLICY_PERMISSION = {"get": "get", "list": "list", "set": "set", "update": "set", "delete": "delete",
                     "recover": "recover", "purge": "purge"}
ROLES = {
    "Key Vault Administrator": set(ACTIONS),
    "Key Vault Secrets Officer": set(ACTIONS),
    "Key Vault Secrets User": {"get", "list"},
    "Key Vault Reader": {"list"},
}
SECRETS_OFFICER = "Key Vault Secrets Officer"
# Built-in role definition ids (the same GUIDs in every Azure tenant).
ROLE_IDS = {
    "Key Vault Administrator": "00482a5a-887f-4fb3-b363-3b7fe8e74483",
    "Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Key Vault Reader": "21090545-7ca7-4776-b22c-e363652d74d2",
}


class KeyVaultError(ServiceError):
    """Key Vault's envelope: {"error": {"code", "message", "innererror"?: {"code"}}} (recorded)."""

    def body(self, request: Request) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.extra.get("inner"):
            err["innererror"] = {"code": self.extra["inner"]}
        return {"error": err}


def bad_parameter(message: str) -> KeyVaultError:
    return KeyVaultError(message, code="BadParameter", status=400)


# -- vaults (read-only here: ARM owns them) -------------------------------------------------------------------------
def key(name: str) -> str:
    return name.lower()


def vault_by_name(state: EmulatorState, name: str) -> dict[str, Any] | None:
    """The live vault holding a (global) name, wherever it lives."""
    rows = state.store.execute("SELECT body FROM objects WHERE kind=? AND lower(json_extract(body, '$.name'))=?",
                               (VAULT, key(name))).fetchall()
    return json.loads(rows[0]["body"]) if rows else None


def local_resource(port: int) -> str:
    return f"https://{LOCAL_RESOURCE_HOST}:{port}"


def vault_uri(port: int) -> str:
    return f"https://127.0.0.1:{port}/"


def is_vault_resource(state: EmulatorState, resource: str) -> bool:
    """Whether a scope's resource names one of the emulator's vault resources (`https://0.0.1:<vault port>`)."""
    m = _LOCAL_RESOURCE.match(resource or "")
    if not m:
        return False
    port = int(m.group(1))
    return any(v.get("_port") == port for v in state.store.list(VAULT))


def audiences(vault: dict[str, Any]) -> set[str]:
    """What a token's `aud` may be for this vault: its own resource, or Azure's public vault resource."""
    own = local_resource(vault["_port"])
    return {own, own + "/", PUBLIC_RESOURCE, PUBLIC_RESOURCE + "/"}


def soft_delete(vault: dict[str, Any]) -> bool:
    return bool(vault["properties"].get("enableSoftDelete", True))


def retention_days(vault: dict[str, Any]) -> int:
    return int(vault["properties"].get("softDeleteRetentionInDays", 90))


def recovery_level(vault: dict[str, Any]) -> str:
    if not soft_delete(vault):
        return "Purgeable"
    prefix = "Customized" if retention_days(vault) < 90 else ""
    purge = "" if vault["properties"].get("enablePurgeProtection") else "+Purgeable"
    return f"{prefix}Recoverable{purge}"


# -- authorization ----------------------------------------------------------------------------------------------------
def role_assignments(vault: dict[str, Any]) -> list[dict[str, str]]:
    return vault.get("_roleAssignments", [])


def authorize(state: EmulatorState, vault: dict[str, Any], caller: Any, operation: str, resource: str) -> None:
    """RBAC vaults: a role assignment on the vault granting the operation's data action. Access-policy vaults: a
    policy for the caller with the operation's permission. Otherwise 403 Forbidden as Key Vault writes it."""
    props = vault["properties"]
    iss = caller.claims.get("iss", "")
    who = f"appid={caller.app_id};oid={caller.object_id};iss={iss}"
    where = f"{vault['name']};location={vault['location']}"
    if props.get("enableRbacAuthorization"):
        for a in role_assignments(vault):
            if a["principalId"] == caller.object_id and operation in ROLES.get(a["roleName"], set()):
                return
        raise KeyVaultError(
            "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or "
            "role definitions were changed recently, please observe propagation time.\r\n"
            f"Caller: {who}\r\nAction: '{ACTIONS[operation]}'\r\nResource: '{resource.lower()}'\r\n"
            "Assignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\n"
            f"Vault: {where}\r\n", code="Forbidden", status=403, inner="ForbiddenByRbac")
    wanted = POLICY_PERMISSION[operation]
    for policy in props.get("accessPolicies") or []:
        if policy.get("objectId") != caller.object_id:
            continue
        granted = {p.lower() for p in (policy.get("permissions") or {}).get("secrets") or []}
        if wanted in granted or "all" in granted:
            return
    raise KeyVaultError(
        f"The user, group or application '{who}' does not have secrets {wanted} permission on key vault '{where}'. "
        f"For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287",
        code="Forbidden", status=403, inner="AccessDenied")


# -- secrets -----------------------------------------------------------------------------------------------------------
def check_name(name: str) -> None:
    if not _SECRET_NAME.match(name or ""):
        raise bad_parameter(f"The request URI contains an invalid name: {name}")


def _scope(vault: dict[str, Any]) -> str:
    return f"keyvault/{key(vault['name'])}"


def _versions(state: EmulatorState, vault: dict[str, Any], name: str | None = None) -> list[dict[str, Any]]:
    """Versions oldest first (by the store's creation order), of one secret or of all."""
    docs = state.store.list(SECRET, scope=_scope(vault))
    return docs if name is None else [d for d in docs if key(d["name"]) == key(name)]


def _deleted(state: EmulatorState, vault: dict[str, Any], name: str) -> dict[str, Any] | None:
    return state.store.get(DELETED_SECRET, f"{key(vault['name'])}/{key(name)}")


def not_found(name: str, version: str | None = None) -> KeyVaultError:
    what = f"{name}/{version}" if version else name
    return KeyVaultError(
        f"A secret with (name/id) {what} was not found in this key vault. If you recently deleted this secret you "
        f"may be able to recover it using the correct recovery command. For help resolving this issue, please see "
        f"https://go.microsoft.com/fwlink/?linkid=2125182", code="SecretNotFound", status=404)


def _deleted_not_found(name: str) -> KeyVaultError:
    return KeyVaultError(f"Deleted Secret not found: {name}", code="SecretNotFound", status=404)


def _in_deleted_state(name: str) -> KeyVaultError:
    return KeyVaultError(f"Secret {name} is currently in a deleted but recoverable state, and its name cannot be "
                         f"reused; in this state, the secret can only be recovered or purged.",
                         code="Conflict", status=409, inner="ObjectIsDeletedButRecoverable")


def _base(vault: dict[str, Any]) -> str:
    return vault["properties"]["vaultUri"].rstrip("/")


def _attributes(vault: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    attrs = {k: v for k, v in doc["attributes"].items() if v is not None}
    attrs["recoveryLevel"] = recovery_level(vault)
    if soft_delete(vault):
        attrs["recoverableDays"] = retention_days(vault)
    return attrs


def bundle(vault: dict[str, Any], doc: dict[str, Any], *, value: bool = True) -> dict[str, Any]:
    """A SecretBundle in the recorded field order: value, contentType, id, attributes, tags."""
    out: dict[str, Any] = {}
    if value:
        out["value"] = doc["value"]
    if doc.get("contentType") is not None:
        out["contentType"] = doc["contentType"]
    out["id"] = f"{_base(vault)}/secrets/{doc['name']}/{doc['version']}"
    out["attributes"] = _attributes(vault, doc)
    if doc.get("tags"):
        out["tags"] = doc["tags"]
    return out


def item(vault: dict[str, Any], doc: dict[str, Any], *, versioned: bool) -> dict[str, Any]:
    """A SecretItem (list entry): no value; the id names the secret (list) or the version (list versions)."""
    out = bundle(vault, doc, value=False)
    if not versioned:
        out["id"] = f"{_base(vault)}/secrets/{doc['name']}"
    return out


def _parse_attributes(given: Any) -> dict[str, Any]:
    if given is None:
        return {}
    if not isinstance(given, dict):
        raise bad_parameter("Property 'attributes' has invalid value")
    out: dict[str, Any] = {}
    if "enabled" in given and given["enabled"] is not None:
        if not isinstance(given["enabled"], bool):
            raise bad_parameter("Property 'attributes.enabled' has invalid value")
        out["enabled"] = given["enabled"]
    for f in ("nbf", "exp"):
        if f in given:
            if given[f] is not None and (not isinstance(given[f], int) or isinstance(given[f], bool)):
                raise bad_parameter(f"Property 'attributes.{f}' has invalid value")
            out[f] = given[f]
    return out


def _parse_tags(given: Any) -> dict[str, str] | None:
    if given is None:
        return None
    if not isinstance(given, dict) or not all(isinstance(v, str) for v in given.values()):
        raise bad_parameter("Property 'tags' has invalid value")
    if len(given) > MAX_TAGS:
        raise bad_parameter(f"The number of tags exceeds the limit of {MAX_TAGS}.")
    return given


def _content_type(given: Any) -> str | None:
    if given is not None and not isinstance(given, str):
        raise bad_parameter("Property 'contentType' has invalid value")
    return given


def set_secret(state: EmulatorState, vault: dict[str, Any], name: str, body: dict[str, Any]) -> dict[str, Any]:
    """A new version (the secret's latest); the name must not be held by a deleted secret (409, recorded)."""
    check_name(name)
    value = body.get("value")
    if not isinstance(value, str):
        raise bad_parameter("Property 'value' is required and must be a string.")
    if len(value) > MAX_VALUE_CHARS:
        raise bad_parameter(f"Secret value exceeds the maximum length of {MAX_VALUE_CHARS} characters.")
    attrs = _parse_attributes(body.get("attributes"))
    tags = _parse_tags(body.get("tags"))
    content_type = _content_type(body.get("contentType"))
    with state.store.transaction():
        if _deleted(state, vault, name):
            raise _in_deleted_state(name)
        existing = _versions(state, vault, name)
        now = int(time.time())
        doc = {"name": existing[0]["name"] if existing else name, "version": uuid.uuid4().hex, "value": value,
               "contentType": content_type, "tags": tags,
               "attributes": {"enabled": attrs.get("enabled", True), "nbf": attrs.get("nbf"),
                              "exp": attrs.get("exp"), "created": now, "updated": now}}
        state.store.put(SECRET, f"{key(vault['name'])}/{key(name)}/{doc['version']}", doc, scope=_scope(vault))
    return bundle(vault, doc)


def _live_versions(state: EmulatorState, vault: dict[str, Any], name: str) -> list[dict[str, Any]]:
    check_name(name)
    versions = _versions(state, vault, name)
    if not versions or _deleted(state, vault, name):
        raise not_found(name)
    return versions


def _version(state: EmulatorState, vault: dict[str, Any], name: str, version: str | None) -> dict[str, Any]:
    versions = _live_versions(state, vault, name)
    if not version:
        return versions[-1]
    doc = next((v for v in versions if v["version"] == version.lower()), None)
    if doc is None:
        raise not_found(name, version)
    return doc


def get_secret(state: EmulatorState, vault: dict[str, Any], name: str, version: str | None) -> dict[str, Any]:
    doc = _version(state, vault, name, version)
    if not doc["attributes"].get("enabled", True):
        raise KeyVaultError("Operation get is not allowed on a disabled secret.", code="Forbidden", status=403,
                            inner="SecretDisabled")
    return bundle(vault, doc)


def update_secret(state: EmulatorState, vault: dict[str, Any], name: str, version: str | None,
                  body: dict[str, Any]) -> dict[str, Any]:
    """Change a version's contentType, attributes (enabled, nbf, exp) or tags; the value never changes."""
    attrs = _parse_attributes(body.get("attributes"))
    tags = _parse_tags(body.get("tags"))
    content_type = _content_type(body.get("contentType"))
    with state.store.transaction():
        doc = _version(state, vault, name, version)
        doc["attributes"].update(attrs)
        doc["attributes"]["updated"] = int(time.time())
        if tags is not None:
            doc["tags"] = tags
        if "contentType" in body:
            doc["contentType"] = content_type
        state.store.put(SECRET, f"{key(vault['name'])}/{key(name)}/{doc['version']}", doc, scope=_scope(vault))
    return bundle(vault, doc, value=False)


def delete_secret(state: EmulatorState, vault: dict[str, Any], name: str) -> dict[str, Any]:
    """Soft delete (a DeletedSecretBundle with recoveryId and dates); a vault without soft delete purges at once."""
    with state.store.transaction():
        latest = _live_versions(state, vault, name)[-1]
        out = bundle(vault, latest, value=False)
        if not soft_delete(vault):
            _purge(state, vault, name)
            return out
        now = int(time.time())
        marker = {"name": latest["name"], "deletedDate": now,
                  "scheduledPurgeDate": now + retention_days(vault) * 86400}
        state.store.put(DELETED_SECRET, f"{key(vault['name'])}/{key(name)}", marker, scope=_scope(vault))
    return _deleted_bundle(vault, marker, out)


def _deleted_bundle(vault: dict[str, Any], marker: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    return {"recoveryId": f"{_base(vault)}/deletedsecrets/{marker['name']}", "deletedDate": marker["deletedDate"],
            "scheduledPurgeDate": marker["scheduledPurgeDate"], **out}


def get_deleted(state: EmulatorState, vault: dict[str, Any], name: str) -> dict[str, Any]:
    check_name(name)
    marker = _deleted(state, vault, name)
    versions = _versions(state, vault, name)
    if marker is None or not versions:
        raise _deleted_not_found(name)
    return _deleted_bundle(vault, marker, bundle(vault, versions[-1], value=False))


def list_deleted(state: EmulatorState, vault: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for marker in state.store.list(DELETED_SECRET, scope=_scope(vault)):
        versions = _versions(state, vault, marker["name"])
        if versions:
            entry = _deleted_bundle(vault, marker, item(vault, versions[-1], versioned=False))
            out.append(entry)
    return out


def recover(state: EmulatorState, vault: dict[str, Any], name: str) -> dict[str, Any]:
    with state.store.transaction():
        current = get_deleted(state, vault, name)
        state.store.delete(DELETED_SECRET, f"{key(vault['name'])}/{key(name)}")
    return {k: v for k, v in current.items() if k not in ("recoveryId", "deletedDate", "scheduledPurgeDate")}


def purge(state: EmulatorState, vault: dict[str, Any], name: str) -> None:
    with state.store.transaction():
        get_deleted(state, vault, name)
        _purge(state, vault, name)


def _purge(state: EmulatorState, vault: dict[str, Any], name: str) -> None:
    prefix = f"{key(vault['name'])}/{key(name)}/"
    state.store.execute("DELETE FROM objects WHERE kind=? AND scope=? AND substr(id, 1, ?)=?",
                        (SECRET, _scope(vault), len(prefix), prefix))
    state.store.delete(DELETED_SECRET, f"{key(vault['name'])}/{key(name)}")


def list_secrets(state: EmulatorState, vault: dict[str, Any]) -> list[dict[str, Any]]:
    """One item per live secret (its latest version), in order of first creation."""
    latest: dict[str, dict[str, Any]] = {}
    for doc in _versions(state, vault):
        latest[key(doc["name"])] = doc
    deleted = {key(m["name"]) for m in state.store.list(DELETED_SECRET, scope=_scope(vault))}
    return [item(vault, d, versioned=False) for k, d in latest.items() if k not in deleted]


def list_versions(state: EmulatorState, vault: dict[str, Any], name: str) -> list[dict[str, Any]]:
    check_name(name)
    if _deleted(state, vault, name):
        raise not_found(name)
    return [item(vault, d, versioned=True) for d in _versions(state, vault, name)]


def purge_vault_secrets(state: EmulatorState, vault_name: str) -> None:
    """A vault was purged (or deleted without soft delete): its secrets go with it."""
    state.store.execute("DELETE FROM objects WHERE kind IN (?, ?) AND scope=?",
                        (SECRET, DELETED_SECRET, f"keyvault/{key(vault_name)}"))


# -- paging ------------------------------------------------------------------------------------------------------------
def page_size(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_PAGE
    try:
        n = int(raw)
    except ValueError:
        raise bad_parameter(f"Invalid value for maxresults: {raw}. It must be an integer between 1 and "
                            f"{MAX_PAGE}.") from None
    if not 1 <= n <= MAX_PAGE:
        raise bad_parameter(f"Invalid value for maxresults: {raw}. It must be an integer between 1 and "
                            f"{MAX_PAGE}.")
    return n


def skip_token(offset: int) -> str:
    raw = json.dumps({"NextMarker": offset, "TargetLocation": 0}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def offset_of(token: str | None) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return max(0, int(data["NextMarker"]))
    except (ValueError, KeyError, TypeError):
        raise bad_parameter("The $skiptoken is invalid.") from None
