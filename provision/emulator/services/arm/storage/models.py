"""Microsoft.Storage state: storage accounts (with their access keys) and blob containers. No HTTP here.

An account is a document of kind `storage:account` scoped to its resource group; its two keys live in the private
`_keys` field, never in a GET. Containers are documents of kind `storage:container` scoped to their account's id,
so deleting the account (or its group) removes them with `core.delete_under`.

Account names are global: the emulator is "all of Azure", so a name held by any account anywhere in it is taken.
Creating an account is a long-running operation polled through a Location URL; it reads "Creating" until due.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import secrets
import uuid
from typing import Any

from provision.emulator.services.arm import core
from provision.emulator.state import EmulatorState
from provision.emulator.wire import ArmError

ACCOUNT = "storage:account"
CONTAINER = "storage:container"
ACCOUNT_TYPE = "Microsoft.Storage/storageAccounts"
CONTAINER_TYPE = "Microsoft.Storage/storageAccounts/blobServices/containers"
CREATED = "storage.accountCreated"
BLOB_SUFFIX = ".blob.core.windows.net"

_ACCOUNT_NAME = re.compile(r"^[a-z0-9]{3,24}$")
_CONTAINER_CHARS = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$")  # no leading, trailing or double hyphen
_SPECIAL_CONTAINERS = {"$root", "$web", "$logs"}
SKUS = {s.lower(): s for s in ("Standard_LRS", "Standard_GRS", "Standard_RAGRS", "Standard_ZRS", "Premium_LRS",
                               "Premium_ZRS", "Standard_GZRS", "Standard_RAGZRS", "StandardV2_LRS",
                               "StandardV2_GRS", "StandardV2_ZRS", "StandardV2_GZRS", "PremiumV2_LRS",
                               "PremiumV2_ZRS")}
KINDS = {k.lower(): k for k in ("StorageV2", "Storage", "BlobStorage", "BlockBlobStorage", "FileStorage")}
# Which endpoints each kind of account has (StorageV2 has them all).
ENDPOINTS = {"StorageV2": ("dfs", "web", "blob", "queue", "table", "file"), "Storage": ("blob", "queue", "table",
             "file"), "BlobStorage": ("dfs", "blob", "table"), "BlockBlobStorage": ("dfs", "web", "blob"),
             "FileStorage": ("file",)}
# Azure's region pairs, for geo-redundant accounts' secondaryLocation.
PAIRS = {"eastus": "westus", "westus": "eastus", "eastus2": "centralus", "centralus": "eastus2",
         "westus2": "westcentralus", "westcentralus": "westus2", "westus3": "eastus", "northcentralus":
         "southcentralus", "southcentralus": "northcentralus", "northeurope": "westeurope", "westeurope":
         "northeurope", "uksouth": "ukwest", "ukwest": "uksouth", "francecentral": "francesouth",
         "germanywestcentral": "germanynorth", "swedencentral": "swedensouth", "southeastasia": "eastasia",
         "eastasia": "southeastasia", "japaneast": "japanwest", "japanwest": "japaneast", "australiaeast":
         "australiasoutheast", "centralindia": "southindia", "canadacentral": "canadaeast", "brazilsouth":
         "southcentralus"}
# Account properties a PUT/PATCH may set, kept as given.
SETTABLE = ("minimumTlsVersion", "allowBlobPublicAccess", "allowSharedKeyAccess", "isHnsEnabled",
            "publicNetworkAccess", "allowCrossTenantReplication", "defaultToOAuthAuthentication",
            "largeFileSharesState", "dnsEndpointType", "isSftpEnabled", "isLocalUserEnabled", "isNfsV3Enabled")


def _now() -> str:
    """A timestamp as Storage writes them: seven fractional digits, 'Z'."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _new_key() -> str:
    """A 512-bit account key, base64: 88 characters ending in '=='."""
    return base64.b64encode(secrets.token_bytes(64)).decode()


def account_id(sub: str, rg: str, name: str) -> str:
    return f"{core.rg_id(sub, rg)}/providers/Microsoft.Storage/storageAccounts/{name}"


def strip(doc: dict[str, Any]) -> dict[str, Any]:
    return core.public(doc)


# -- names ----------------------------------------------------------------------------------------------------------
def name_problem(name: str) -> str | None:
    """Azure's message for an invalid account name, or None when the name is valid."""
    if _ACCOUNT_NAME.match(name or ""):
        return None
    return (f"{name} is not a valid storage account name. Storage account name must be between 3 and 24 "
            f"characters in length and use numbers and lower-case letters only.")


def account_by_name(state: EmulatorState, name: str) -> dict[str, Any] | None:
    """The account holding a (global) name, wherever it lives."""
    return next((a for a in state.store.list(ACCOUNT) if a["name"].lower() == name.lower()), None)


def check_name(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    """`checkNameAvailability`: {nameAvailable, reason?, message?} (recorded shape)."""
    name = body.get("name")
    if not isinstance(name, str):
        name = ""
    problem = name_problem(name)
    if problem:
        return {"nameAvailable": False, "reason": "AccountNameInvalid", "message": problem}
    if account_by_name(state, name):
        return {"nameAvailable": False, "reason": "AlreadyExists",
                "message": f"The storage account named {name} is already taken."}
    return {"nameAvailable": True}


def _claim_name(state: EmulatorState, sub: str, the_id: str, name: str) -> None:
    """Refuse a name another account holds: in this subscription (another group) or anywhere else in Azure."""
    holder = account_by_name(state, name)
    if holder is None or core.key(holder["id"]) == core.key(the_id):
        return
    if holder["id"].split("/")[2].lower() == sub.lower():
        raise ArmError(f"The account {name} is already in another resource group in this subscription.",
                       code="StorageAccountInAnotherResourceGroup", status=409)
    raise ArmError(f"The storage account named {name} is already taken.", code="StorageAccountAlreadyTaken",
                   status=409)


# -- accounts -------------------------------------------------------------------------------------------------------
def _invalid(param: str) -> ArmError:
    return ArmError(f"Values for request parameters are invalid: {param}.", code="InvalidValuesForRequestParameters")


def _sku(body: dict[str, Any]) -> dict[str, str]:
    sku = body.get("sku")
    name = sku.get("name") if isinstance(sku, dict) else None
    canonical = SKUS.get(str(name).lower()) if name else None
    if canonical is None:
        raise _invalid("sku")
    return {"name": canonical, "tier": "Premium" if canonical.startswith("Premium") else "Standard"}


def _kind(body: dict[str, Any]) -> str:
    canonical = KINDS.get(str(body.get("kind", "")).lower())
    if canonical is None:
        raise _invalid("kind")
    return canonical


def _endpoints(name: str, kind: str, suffix: str = "") -> dict[str, str]:
    hosts = {"web": f"{name}{suffix}.z13.web.core.windows.net"}
    return {e: f"https://{hosts.get(e, f'{name}{suffix}.{e}.core.windows.net')}/" for e in ENDPOINTS[kind]}


def _encryption(given: Any, when: str) -> dict[str, Any]:
    key_source = given.get("keySource", "Microsoft.Storage") if isinstance(given, dict) else "Microsoft.Storage"
    service = {"keyType": "Account", "enabled": True, "lastEnabledTime": when}
    return {"services": {"file": dict(service), "blob": dict(service)}, "keySource": key_source}


def _geo(doc: dict[str, Any]) -> None:
    """Geo-redundant SKUs have a secondary region; read-access ones also secondary endpoints."""
    props, sku, location = doc["properties"], doc["sku"]["name"], doc["location"]
    for k in ("secondaryLocation", "statusOfSecondary", "secondaryEndpoints"):
        props.pop(k, None)
    if "GRS" in sku or "GZRS" in sku:
        props["secondaryLocation"] = PAIRS.get(location, location)
        props["statusOfSecondary"] = "available"
        if "RAG" in sku:
            props["secondaryEndpoints"] = {e: u for e, u in _endpoints(doc["name"], doc["kind"], "-secondary").items()
                                           if e != "file"}


def _apply_settable(props: dict[str, Any], given: dict[str, Any]) -> None:
    for f in SETTABLE:
        if f in given:
            props[f] = given[f]
    if "supportsHttpsTrafficOnly" in given:
        props["supportsHttpsTrafficOnly"] = bool(given["supportsHttpsTrafficOnly"])
    if isinstance(given.get("networkAcls"), dict):
        props["networkAcls"] = {"bypass": "AzureServices", "virtualNetworkRules": [], "ipRules": [],
                                "defaultAction": "Allow", **given["networkAcls"]}
    if given.get("accessTier") in ("Hot", "Cool", "Cold", "Premium"):
        props["accessTier"] = given["accessTier"]


def _new_account(the_id: str, name: str, location: str, sku: dict, kind: str, body: dict[str, Any]) -> dict:
    """A freshly created account in the recorded shape, "Creating" until its operation is due."""
    when = _now()
    given = body.get("properties") if isinstance(body.get("properties"), dict) else {}
    props: dict[str, Any] = {
        "keyCreationTime": {"key1": when, "key2": when},
        "privateEndpointConnections": [],
        "networkAcls": {"bypass": "AzureServices", "virtualNetworkRules": [], "ipRules": [], "defaultAction": "Allow"},
        "supportsHttpsTrafficOnly": True,
        "encryption": _encryption(given.get("encryption"), when),
        "allowBlobPublicAccess": False,  # the default for accounts created since API 2023-01-01
        "minimumTlsVersion": "TLS1_2",
    }
    if kind in ("StorageV2", "BlobStorage"):
        props["accessTier"] = "Hot"
    _apply_settable(props, given)
    props.update({"provisioningState": "Creating", "creationTime": when, "primaryEndpoints": _endpoints(name, kind),
                  "primaryLocation": location, "statusOfPrimary": "available"})
    doc = {"sku": sku, "kind": kind, "id": the_id, "name": name, "type": ACCOUNT_TYPE, "location": location,
           "tags": body.get("tags") if isinstance(body.get("tags"), dict) else {}, "properties": props,
           "_keys": [{"creationTime": when, "keyName": k, "value": _new_key(), "permissions": "FULL"}
                     for k in ("key1", "key2")]}
    _geo(doc)
    return doc


def find_account(state: EmulatorState, sub: str, rg: str, name: str) -> dict[str, Any] | None:
    return core.get_resource(state, ACCOUNT, account_id(sub, rg, name))


def get_account(state: EmulatorState, sub: str, rg: str, name: str) -> dict[str, Any]:
    return core.require_resource(state, ACCOUNT, ACCOUNT_TYPE, sub, rg, name, account_id(sub, rg, name))


def list_accounts(state: EmulatorState, sub: str, rg: str | None = None) -> list[dict[str, Any]]:
    return core.list_resources(state, ACCOUNT, sub, rg)


def put_account(state: EmulatorState, sub: str, rg: str, name: str,
                body: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Create (returns the new account and the operation to poll) or update in place (operation None)."""
    problem = name_problem(name)
    if problem:
        raise ArmError(problem, code="AccountNameInvalid")
    core.require_writable_resource_group(state, sub, rg)
    location = core.require_location(body)
    sku, kind = _sku(body), _kind(body)
    existing = find_account(state, sub, rg, name)
    the_id = existing["id"] if existing else account_id(sub, rg, name)
    _claim_name(state, sub, the_id, name)
    if existing is not None:
        core.require_same_location(existing, location, rg)
        return update_account(state, existing, {**body, "sku": sku, "kind": kind}), None
    doc = _new_account(the_id, name, location, sku, kind, body)
    op = core.start_operation(state, duration=state.timing.lro_seconds, completion=CREATED, args={"id": the_id})
    core.put_resource(state, ACCOUNT, doc, sub, rg)
    return doc, op["id"]


def update_account(state: EmulatorState, doc: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """PATCH (and a PUT on an existing account): tags, sku, kind and the settable properties change in place."""
    if isinstance(body.get("tags"), dict):
        doc["tags"] = body["tags"]
    if body.get("sku") is not None:
        doc["sku"] = _sku(body)
    if body.get("kind") is not None:
        doc["kind"] = _kind(body)
    if isinstance(body.get("properties"), dict):
        _apply_settable(doc["properties"], body["properties"])
    _geo(doc)
    core.save_resource(state, ACCOUNT, doc)
    return doc


@core.register_completion(CREATED)
def _created(state: EmulatorState, op: dict[str, Any]) -> None:
    doc = core.get_resource(state, ACCOUNT, op["_args"]["id"])
    if doc is not None and doc["properties"]["provisioningState"] == "Creating":
        doc["properties"]["provisioningState"] = "Succeeded"
        core.save_resource(state, ACCOUNT, doc)


def created_account_id(state: EmulatorState, op_id: str) -> str | None:
    """The id of the account a create operation is about (None for another kind of operation)."""
    op = state.store.get(core.OPERATION, op_id)
    if op is None or op.get("_completion") != CREATED:
        return None
    return op["_args"]["id"]


def delete_account(state: EmulatorState, sub: str, rg: str, name: str) -> bool:
    """Delete an account and its containers (synchronous, as Storage does). False when there was none."""
    core.require_resource_group(state, sub, rg)
    doc = find_account(state, sub, rg, name)
    if doc is None:
        return False
    with state.store.transaction():
        core.delete_under(state, core.key(doc["id"]))
        core.delete_resource(state, ACCOUNT, doc["id"])
    return True


# -- keys -----------------------------------------------------------------------------------------------------------
def list_keys(state: EmulatorState, sub: str, rg: str, name: str) -> dict[str, Any]:
    return {"keys": get_account(state, sub, rg, name)["_keys"]}


def regenerate_key(state: EmulatorState, sub: str, rg: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """A new value for key1 or key2; the other key is untouched (recorded)."""
    doc = get_account(state, sub, rg, name)
    wanted = str(body.get("keyName", "")).lower()
    key = next((k for k in doc["_keys"] if k["keyName"] == wanted), None)
    if key is None:
        raise _invalid("keyName")
    key.update(value=_new_key(), creationTime=_now())
    doc["properties"]["keyCreationTime"][key["keyName"]] = key["creationTime"]
    core.put_resource(state, ACCOUNT, doc, sub, rg)
    return {"keys": doc["_keys"]}


# -- for other providers (HDInsight validates storageProfile against these) ---------------------------------------
def account_by_blob_host(state: EmulatorState, host: str) -> dict[str, Any] | None:
    """The account behind a blob endpoint host ("name.blob.core.windows.net"; a scheme, port or path is ignored),
    in its public form, or None. Check `properties.provisioningState` if a finished account is required."""
    host = re.sub(r"^[a-z]+://", "", (host or "").strip().lower()).split("/", 1)[0].split(":", 1)[0]
    if not host.endswith(BLOB_SUFFIX):
        return None
    doc = account_by_name(state, host[: -len(BLOB_SUFFIX)])
    return strip(doc) if doc else None


def account_keys(state: EmulatorState, account_doc: dict[str, Any]) -> list[str]:
    """The current values of an account's two keys (key1, key2) — what a valid `key` must equal."""
    doc = core.get_resource(state, ACCOUNT, account_doc["id"])
    return [k["value"] for k in doc["_keys"]] if doc else []


# -- blob containers -------------------------------------------------------------------------------------------------
def _container_error(message: str, status: int = 400) -> ArmError:
    """Storage relays the blob service's own error (typo included) with its request id and time."""
    return ArmError(f"{message}\nRequestId:{uuid.uuid4()}\nTime:{_now()}", code="ContainerOperationFailure",
                    status=status)


def _check_container_name(name: str) -> None:
    if name in _SPECIAL_CONTAINERS:
        return
    if not 3 <= len(name) <= 63:
        raise _container_error("The specifed resource name length is not within the permissible limits.")
    if not _CONTAINER_CHARS.match(name):
        raise _container_error("The specifed resource name contains invalid characters.")


def _account_for_container(state: EmulatorState, sub: str, rg: str, account: str, action: str,
                           *, write: bool = False) -> dict[str, Any]:
    return core.require_parent(state, ACCOUNT, CONTAINER_TYPE, sub, rg, account_id(sub, rg, account), action,
                               write=write)


def container_id(account_doc: dict[str, Any], name: str) -> str:
    return f"{account_doc['id']}/blobServices/default/containers/{name}"


def _container_etag() -> str:
    return f'"0x8D{uuid.uuid4().hex[:13].upper()}"'


def put_container(state: EmulatorState, sub: str, rg: str, account: str, name: str,
                  body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Create (True) or update (False) a blob container."""
    acct = _account_for_container(state, sub, rg, account, "write", write=True)
    _check_container_name(name)
    given = body.get("properties") if isinstance(body.get("properties"), dict) else {}
    access = {"none": "None", "blob": "Blob", "container": "Container"}.get(str(given.get("publicAccess", "None"))
                                                                            .lower())
    if access is None:
        raise _invalid("publicAccess")
    if access != "None" and not acct["properties"].get("allowBlobPublicAccess", False):
        raise _container_error("Public access is not permitted on this storage account.", status=409)
    the_id = container_id(acct, name)
    existing = core.get_resource(state, CONTAINER, the_id)
    props = dict(existing["properties"]) if existing else {
        "deleted": False, "remainingRetentionDays": 0, "defaultEncryptionScope": "$account-encryption-key",
        "denyEncryptionScopeOverride": False, "leaseStatus": "Unlocked", "leaseState": "Available",
        "hasImmutabilityPolicy": False, "hasLegalHold": False}
    props.update(publicAccess=access, lastModifiedTime=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    for f in ("metadata", "defaultEncryptionScope", "denyEncryptionScopeOverride"):
        if f in given:
            props[f] = given[f]
    doc = {"id": the_id, "name": name, "type": CONTAINER_TYPE, "etag": _container_etag(), "properties": props}
    state.store.put(CONTAINER, core.key(the_id), doc, scope=core.key(acct["id"]))
    return doc, existing is None


def get_container(state: EmulatorState, sub: str, rg: str, account: str, name: str) -> dict[str, Any]:
    acct = _account_for_container(state, sub, rg, account, "read")
    doc = core.get_resource(state, CONTAINER, container_id(acct, name))
    if doc is None:
        raise ArmError(f"The specified container does not exist.\nRequestId:{uuid.uuid4()}\nTime:{_now()}",
                       code="ContainerNotFound", status=404)
    return doc


def list_containers(state: EmulatorState, sub: str, rg: str, account: str) -> list[dict[str, Any]]:
    acct = _account_for_container(state, sub, rg, account, "read")
    return state.store.list(CONTAINER, scope=core.key(acct["id"]))


def delete_container(state: EmulatorState, sub: str, rg: str, account: str, name: str) -> bool:
    acct = _account_for_container(state, sub, rg, account, "delete")
    return core.delete_resource(state, CONTAINER, container_id(acct, name))
