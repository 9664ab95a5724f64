"""Microsoft.KeyVault state: vaults, soft-deleted vaults, purge, name rules. No HTTP here.

A vault is a document of kind `keyvault:vault` scoped to its resource group. Names are global (the emulator is
"all of Azure"): a name held by a live vault anywhere, or by a soft-deleted vault not yet purged, is taken. Deleting
a vault with soft delete on moves it to a `keyvault:deletedVault` document (id
`/subscriptions/{sub}/providers/Microsoft.KeyVault/locations/{loc}/deletedVaults/{name}`, scoped to the
subscription) that keeps the vault's document and its secrets until it is purged (a long-running operation polled
through a Location URL, as recorded) or recovered (PUT with `properties.createMode = "recover"`). Deleting the
vault's resource group soft-deletes it too.

Each live vault has its own data-plane origin (see services/keyvault/listeners.py): `properties.vaultUri` is
`https://127.0.0.1:<vault port>/`. The caller that creates a vault gets a Key Vault Secrets Officer assignment on
it (standing for the assignment an operator makes for itself in Azure). Further assignments of Key Vault's built-in
data roles are made at the vault's scope with Microsoft.Authorization roleAssignments (PUT/GET/DELETE/list); the
emulator has no assignments at other scopes.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from typing import Any

from provision.emulator.services import keyvault as dataplane
from provision.emulator.services.arm import core
from provision.emulator.services.arm.resources import models as resources
from provision.emulator.services.keyvault import models as kv
from provision.emulator.state import EmulatorState
from provision.emulator.wire import ArmError

VAULT = kv.VAULT
DELETED_VAULT = kv.DELETED_VAULT
VAULT_TYPE = "Microsoft.KeyVault/vaults"
DELETED_TYPE = "Microsoft.KeyVault/deletedVaults"
CREATED = "keyvault.vaultCreated"
PURGED = "keyvault.vaultPurged"

# 3-24 characters: letters, digits and hyphens; starts with a letter, ends with a letter or digit, no "--".
_NAME = re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$")
SKUS = {"standard": "standard", "premium": "premium"}
# Properties a PUT/PATCH may set, kept as given.
SETTABLE = ("enabledForDeployment", "enabledForDiskEncryption", "enabledForTemplateDeployment",
            "enableRbacAuthorization", "publicNetworkAccess", "networkAcls")
_DISPLAY = {r.replace(" ", "").lower(): r for r in resources.REGIONS}


def vault_id(sub: str, rg: str, name: str) -> str:
    return f"{core.rg_id(sub, rg)}/providers/Microsoft.KeyVault/vaults/{name}"


def deleted_id(sub: str, location: str, name: str) -> str:
    return f"/subscriptions/{sub}/providers/Microsoft.KeyVault/locations/{location}/deletedVaults/{name}"


def public(doc: dict[str, Any]) -> dict[str, Any]:
    return core.public(doc)


def _stamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _date() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- names ----------------------------------------------------------------------------------------------------------
def name_problem(name: str) -> str | None:
    if _NAME.match(name or ""):
        return None
    return (f"The vault name '{name}' is invalid. A vault's name must be between 3-24 alphanumeric characters. The "
            f"name must begin with a letter, end with a letter or digit, and not contain consecutive hyphens.")


def _taken_message(name: str) -> str:
    return (f"The vault name '{name}' is already in use. Vault names are globally unique so it is possible that the "
            f"name is already taken. If you are sure that the vault name was not taken then it is possible that a "
            f"vault with the same name was recently deleted but not purged after being placed in a recoverable "
            f"state. If the vault is in a recoverable state then the vault will need to be purged before reusing "
            f"the name. For more information on VaultAlreadyExists, soft delete and purging a vault follow this "
            f"link https://go.microsoft.com/fwlink/?linkid=2147740.")


def deleted_by_name(state: EmulatorState, name: str) -> dict[str, Any] | None:
    return next((d for d in state.store.list(DELETED_VAULT) if d["name"].lower() == name.lower()), None)


def check_name(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    """`checkNameAvailability`: {nameAvailable, reason?, message?}."""
    name = body.get("name") if isinstance(body.get("name"), str) else ""
    kind = body.get("type")
    if kind is not None and str(kind).lower() != VAULT_TYPE.lower():
        raise ArmError(f"The resource type '{kind}' is not valid: use '{VAULT_TYPE}'.", code="InvalidResourceType")
    problem = name_problem(name)
    if problem:
        return {"nameAvailable": False, "reason": "AccountNameInvalid", "message": problem}
    if kv.vault_by_name(state, name) or deleted_by_name(state, name):
        return {"nameAvailable": False, "reason": "AlreadyExists", "message": _taken_message(name)}
    return {"nameAvailable": True}


# -- vaults ---------------------------------------------------------------------------------------------------------
def _bad(message: str, code: str = "BadRequest") -> ArmError:
    return ArmError(message, code=code)


def _sku(given: Any) -> dict[str, str]:
    name = given.get("name") if isinstance(given, dict) else None
    canonical = SKUS.get(str(name).lower()) if name else None
    if canonical is None:
        raise _bad("The parameter sku.name is invalid: it must be 'standard' or 'premium'.")
    return {"family": "A", "name": canonical}


def _retention(given: Any) -> int:
    if isinstance(given, bool) or not isinstance(given, int) or not 7 <= given <= 90:
        raise _bad(f"The value of softDeleteRetentionInDays ({given}) is invalid: it must be between 7 and 90.")
    return given


def _apply(state: EmulatorState, doc: dict[str, Any], given: dict[str, Any], *, creating: bool) -> None:
    props = doc["properties"]
    if "sku" in given or creating:
        props["sku"] = _sku(given.get("sku"))
    if "tenantId" in given or creating:
        tenant = given.get("tenantId")
        if not isinstance(tenant, str) or tenant.lower() != state.boot.tenant_id:
            raise _bad(f"The tenant id '{tenant}' is invalid: a vault's tenantId must be the subscription's tenant "
                       f"'{state.boot.tenant_id}'.")
        props["tenantId"] = state.boot.tenant_id
    if "accessPolicies" in given:
        policies = given["accessPolicies"]
        if not isinstance(policies, list):
            raise _bad("The parameter accessPolicies is invalid: it must be an array.")
        props["accessPolicies"] = policies
    for f in SETTABLE:
        if f in given and given[f] is not None:
            props[f] = given[f]
    if given.get("enableSoftDelete") is not None:
        wanted = bool(given["enableSoftDelete"])
        if not creating and props.get("enableSoftDelete", True) and not wanted:
            raise _bad("The property \"enableSoftDelete\" has been set to true. Once soft delete is enabled on a "
                       "vault it cannot be disabled.")
        props["enableSoftDelete"] = wanted
    if given.get("softDeleteRetentionInDays") is not None:
        props["softDeleteRetentionInDays"] = _retention(given["softDeleteRetentionInDays"])
    if given.get("enablePurgeProtection") is not None:
        if props.get("enablePurgeProtection") and not given["enablePurgeProtection"]:
            raise _bad("The property \"enablePurgeProtection\" cannot be set to false once it has been enabled.")
        if given["enablePurgeProtection"]:
            props["enablePurgeProtection"] = True


def find_vault(state: EmulatorState, sub: str, rg: str, name: str) -> dict[str, Any] | None:
    return core.get_resource(state, VAULT, vault_id(sub, rg, name))


def get_vault(state: EmulatorState, sub: str, rg: str, name: str) -> dict[str, Any]:
    return core.require_resource(state, VAULT, VAULT_TYPE, sub, rg, name, vault_id(sub, rg, name))


def list_vaults(state: EmulatorState, sub: str, rg: str | None = None) -> list[dict[str, Any]]:
    return core.list_resources(state, VAULT, sub, rg)


def _order(props: dict[str, Any]) -> dict[str, Any]:
    """Properties in the recorded order (the SDK does not care; people reading dumps do)."""
    order = ("sku", "tenantId", "networkAcls", "accessPolicies", "enabledForDeployment", "enabledForDiskEncryption",
             "enabledForTemplateDeployment", "enableSoftDelete", "softDeleteRetentionInDays",
             "enableRbacAuthorization", "enablePurgeProtection", "vaultUri", "provisioningState",
             "publicNetworkAccess")
    return {**{k: props[k] for k in order if k in props}, **{k: v for k, v in props.items() if k not in order}}


def put_vault(state: EmulatorState, caller: Any, sub: str, rg: str, name: str,
              body: dict[str, Any]) -> dict[str, Any]:
    """Create (provisioningState "RegisteringDns" until its operation is due, as recorded) or update in place."""
    problem = name_problem(name)
    if problem:
        raise ArmError(problem + " Follow this link for more information: https://go.microsoft.com/fwlink/?linkid="
                       "2147742", code="VaultNameNotValid")
    core.require_writable_resource_group(state, sub, rg)
    location = core.require_location(body)
    given = body.get("properties")
    if not isinstance(given, dict):
        raise _bad("The request content was invalid: 'properties' is required.", code="InvalidRequestContent")
    existing = find_vault(state, sub, rg, name)
    if existing is not None:
        core.require_same_location(existing, location, rg)
        return update_vault(state, existing, body)
    holder = kv.vault_by_name(state, name)
    if holder is not None:
        raise ArmError(_taken_message(name), code="VaultAlreadyExists", status=409)
    deleted = deleted_by_name(state, name)
    if str(given.get("createMode", "default")).lower() == "recover":
        if deleted is None:
            raise ArmError(f"A deleted vault named '{name}' was not found in this subscription: there is nothing "
                           f"to recover.", code="DeletedVaultNotFound", status=404)
        return _recover(state, caller, sub, rg, deleted, body)
    if deleted is not None:
        raise ArmError("A vault with the same name already exists in deleted state. You need to either recover or "
                       "purge existing key vault. Follow this link https://go.microsoft.com/fwlink/?linkid=2149745 "
                       "for more information on soft delete.", code="ConflictError", status=409)
    the_id = vault_id(sub, rg, name)
    doc: dict[str, Any] = {
        "id": the_id, "name": name, "type": VAULT_TYPE, "location": location,
        "tags": body.get("tags") if isinstance(body.get("tags"), dict) else {},
        "systemData": {"createdBy": caller.app_id, "createdByType": "Application", "createdAt": _stamp(),
                       "lastModifiedBy": caller.app_id, "lastModifiedByType": "Application",
                       "lastModifiedAt": _stamp()},
        "properties": {"accessPolicies": [], "enabledForDeployment": False, "enableSoftDelete": True,
                       "softDeleteRetentionInDays": 90, "enableRbacAuthorization": False,
                       "publicNetworkAccess": "Enabled"},
        "_roleAssignments": [{"principalId": caller.object_id, "roleName": kv.SECRETS_OFFICER,
                              "roleDefinitionId": kv.ROLE_IDS[kv.SECRETS_OFFICER], "id": str(uuid.uuid4()),
                              "principalType": "ServicePrincipal", "createdOn": _stamp(),
                              "createdBy": caller.object_id}],
    }
    _apply(state, doc, given, creating=True)
    port = dataplane.open_vault(state, name)
    doc["_port"] = port
    doc["properties"]["vaultUri"] = kv.vault_uri(port)
    doc["properties"]["provisioningState"] = "RegisteringDns"
    doc["properties"] = _order(doc["properties"])
    core.start_operation(state, duration=state.timing.lro_seconds, completion=CREATED, args={"id": the_id})
    core.put_resource(state, VAULT, doc, sub, rg)
    return doc


def _recover(state: EmulatorState, caller: Any, sub: str, rg: str, deleted: dict[str, Any],
             body: dict[str, Any]) -> dict[str, Any]:
    """PUT with createMode "recover": the deleted vault comes back (with its secrets) in the group named."""
    doc = deleted["_vault"]
    doc["id"] = vault_id(sub, rg, doc["name"])
    if isinstance(body.get("tags"), dict) and body["tags"]:
        doc["tags"] = body["tags"]
    port = dataplane.open_vault(state, doc["name"], doc.get("_port", 0))
    doc["_port"] = port
    doc["properties"]["vaultUri"] = kv.vault_uri(port)
    doc["properties"]["provisioningState"] = "Succeeded"
    with state.store.transaction():
        state.store.delete(DELETED_VAULT, core.key(deleted["id"]))
        core.put_resource(state, VAULT, doc, sub, rg)
    return doc


def update_vault(state: EmulatorState, doc: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """PATCH (and a PUT on an existing vault): tags and the settable properties change in place."""
    if isinstance(body.get("tags"), dict):
        doc["tags"] = body["tags"]
    given = body.get("properties")
    if isinstance(given, dict):
        _apply(state, doc, {k: v for k, v in given.items() if k not in ("vaultUri", "provisioningState")},
               creating=False)
    doc["properties"] = _order(doc["properties"])
    if "systemData" in doc:
        doc["systemData"]["lastModifiedAt"] = _stamp()
    core.save_resource(state, VAULT, doc)
    return doc


@core.register_completion(CREATED)
def _created(state: EmulatorState, op: dict[str, Any]) -> None:
    doc = core.get_resource(state, VAULT, op["_args"]["id"])
    if doc is not None and doc["properties"].get("provisioningState") == "RegisteringDns":
        doc["properties"]["provisioningState"] = "Succeeded"
        core.save_resource(state, VAULT, doc)


def _soft_delete(state: EmulatorState, doc: dict[str, Any]) -> None:
    """Move a vault to the deleted vaults (soft delete on) or remove it and its secrets (off)."""
    sub = doc["id"].split("/")[2]
    dataplane.close_vault(state, doc["name"])
    core.delete_resource(state, VAULT, doc["id"])
    if not doc["properties"].get("enableSoftDelete", True):
        kv.purge_vault_secrets(state, doc["name"])
        return
    now = time.time()
    days = int(doc["properties"].get("softDeleteRetentionInDays", 90))
    props: dict[str, Any] = {
        "vaultId": doc["id"], "location": _DISPLAY.get(doc["location"], doc["location"]), "tags": doc.get("tags", {}),
        "deletionDate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "scheduledPurgeDate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + days * 86400)),
    }
    if doc["properties"].get("enablePurgeProtection"):
        props["purgeProtectionEnabled"] = True
    the_id = deleted_id(sub, doc["location"], doc["name"])
    state.store.put(DELETED_VAULT, core.key(the_id), {"id": the_id, "name": doc["name"], "type": DELETED_TYPE,
                                                      "properties": props, "_vault": doc},
                    scope=f"/subscriptions/{sub}".lower())


def delete_vault(state: EmulatorState, sub: str, rg: str, name: str) -> bool:
    """Delete (soft, when the vault has soft delete on). False when there was no such vault."""
    core.require_resource_group(state, sub, rg)
    doc = find_vault(state, sub, rg, name)
    if doc is None:
        return False
    with state.store.transaction():
        _soft_delete(state, doc)
    return True


@resources.on_group_deleted("keyvault")
def _group_deleted(state: EmulatorState, sub: str, rg: str) -> None:
    """Deleting a resource group soft-deletes its vaults (their secrets stay recoverable), as in Azure."""
    for doc in state.store.list(VAULT, scope=core.scope_of_rg(sub, rg)):
        _soft_delete(state, doc)


# -- deleted vaults -------------------------------------------------------------------------------------------------
def list_deleted(state: EmulatorState, sub: str) -> list[dict[str, Any]]:
    return state.store.list(DELETED_VAULT, scope=f"/subscriptions/{sub}".lower())


def get_deleted(state: EmulatorState, sub: str, location: str, name: str) -> dict[str, Any]:
    doc = state.store.get(DELETED_VAULT, core.key(deleted_id(sub, core.normalize_location(location), name)))
    if doc is None:
        raise ArmError(f"The Resource '{DELETED_TYPE}/{name}' in location '{location}' was not found. For more "
                       f"details please go to https://aka.ms/ARMResourceNotFoundFix", code="ResourceNotFound",
                       status=404)
    return doc


def begin_purge(state: EmulatorState, sub: str, location: str, name: str) -> dict[str, Any]:
    """Start purging a deleted vault; the name stays taken until the operation is done."""
    doc = get_deleted(state, sub, location, name)
    if doc["properties"].get("purgeProtectionEnabled"):
        raise ArmError(f"Operation 'DeletedVaultPurge' is not allowed on vault '{name}': purge protection is enabled "
                       f"and the vault is purged only when its retention period ends.", code="ConflictError",
                       status=409)
    running = doc.get("_purgeOperation")
    if running:
        op = state.store.get(core.OPERATION, running)
        if op is not None:
            return op
    op = core.start_operation(state, duration=state.timing.lro_seconds, completion=PURGED,
                              args={"id": doc["id"], "name": doc["name"]})
    op["_created"] = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    state.store.put(core.OPERATION, op["id"], op)
    doc["_purgeOperation"] = op["id"]
    state.store.put(DELETED_VAULT, core.key(doc["id"]), doc, scope=f"/subscriptions/{sub}".lower())
    return op


@core.register_completion(PURGED)
def _purged(state: EmulatorState, op: dict[str, Any]) -> None:
    state.store.delete(DELETED_VAULT, core.key(op["_args"]["id"]))
    if kv.vault_by_name(state, op["_args"]["name"]) is None:
        kv.purge_vault_secrets(state, op["_args"]["name"])


def purge_status(state: EmulatorState, op_id: str) -> dict[str, Any] | None:
    """The operationResults body: {createdDateTime, status: NotStarted} while running; then with
    lastActionDateTime and status Succeeded (recorded)."""
    op = core.get_operation(state, op_id)
    if op is None or op.get("_completion") != PURGED:
        return None
    body = {"createdDateTime": op.get("_created", _date()),
            "status": "NotStarted" if op["status"] == "InProgress" else op["status"]}
    if op["status"] != "InProgress":
        body["lastActionDateTime"] = time.strftime("%Y-%m-%d %H:%M:%SZ",
                                                   time.gmtime(op.get("_until", time.time())))
    return {"_running": op["status"] == "InProgress", **body}


# -- role assignments on a vault (Microsoft.Authorization, at the vault's scope only) --------------------------------
ASSIGNMENT_TYPE = "Microsoft.Authorization/roleAssignments"
_ROLE_BY_ID = {v: k for k, v in kv.ROLE_IDS.items()}
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _assignment_view(vault: dict[str, Any], a: dict[str, Any]) -> dict[str, Any]:
    sub = vault["id"].split("/")[2]
    return {
        "properties": {
            "roleDefinitionId": f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/"
                                f"{a['roleDefinitionId']}",
            "principalId": a["principalId"], "principalType": a.get("principalType", "ServicePrincipal"),
            "scope": vault["id"], "condition": None, "conditionVersion": None,
            "createdOn": a.get("createdOn"), "updatedOn": a.get("createdOn"), "createdBy": a.get("createdBy"),
            "updatedBy": a.get("createdBy"), "delegatedManagedIdentityResourceId": None, "description": None},
        "id": f"{vault['id']}/providers/{ASSIGNMENT_TYPE}/{a['id']}",
        "type": ASSIGNMENT_TYPE,
        "name": a["id"],
    }


def list_assignments(state: EmulatorState, sub: str, rg: str, name: str) -> list[dict[str, Any]]:
    vault = get_vault(state, sub, rg, name)
    return [_assignment_view(vault, a) for a in kv.role_assignments(vault)]


def get_assignment(state: EmulatorState, sub: str, rg: str, name: str, assignment: str) -> dict[str, Any]:
    vault = get_vault(state, sub, rg, name)
    found = next((a for a in kv.role_assignments(vault) if a["id"].lower() == assignment.lower()), None)
    if found is None:
        raise ArmError("The role assignment '{}' is not found.".format(assignment), code="RoleAssignmentNotFound",
                       status=404)
    return _assignment_view(vault, found)


def put_assignment(state: EmulatorState, caller: Any, sub: str, rg: str, name: str, assignment: str,
                   body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Assign one of Key Vault's built-in data roles on the vault to a principal of the tenant."""
    vault = get_vault(state, sub, rg, name)
    if not _GUID.match(assignment):
        raise ArmError(f"The role assignment ID '{assignment}' is not valid. The role assignment ID must be a GUID.",
                       code="InvalidRoleAssignmentId")
    props = body.get("properties") if isinstance(body.get("properties"), dict) else {}
    role_id = str(props.get("roleDefinitionId", "")).rstrip("/").rsplit("/", 1)[-1].lower()
    role = _ROLE_BY_ID.get(role_id)
    if role is None:
        raise ArmError(f"The specified role definition with ID '{role_id}' does not exist.",
                       code="RoleDefinitionDoesNotExist", status=400)
    principal = str(props.get("principalId", ""))
    from provision.emulator import directory as d

    if state.store.get(d.SERVICE_PRINCIPAL, principal) is None:
        raise ArmError(f"Principal {principal.replace('-', '')} does not exist in the directory "
                       f"{state.boot.tenant_id}.", code="PrincipalNotFound", status=400)
    assignments = kv.role_assignments(vault)
    existing = next((a for a in assignments if a["id"].lower() == assignment.lower()), None)
    if existing is not None:
        if existing["principalId"] != principal or existing["roleName"] != role:
            raise ArmError("Role assignment update is not permitted: delete it and create it again.",
                           code="RoleAssignmentUpdateNotPermitted", status=400)
        return _assignment_view(vault, existing), False
    if any(a["principalId"] == principal and a["roleName"] == role for a in assignments):
        raise ArmError("The role assignment already exists.", code="RoleAssignmentExists", status=409)
    new = {"id": assignment.lower(), "principalId": principal, "roleName": role, "roleDefinitionId": role_id,
           "principalType": props.get("principalType", "ServicePrincipal"), "createdOn": _stamp(),
           "createdBy": caller.object_id}
    vault["_roleAssignments"] = [*assignments, new]
    core.save_resource(state, VAULT, vault)
    return _assignment_view(vault, new), True


def delete_assignment(state: EmulatorState, sub: str, rg: str, name: str, assignment: str) -> dict[str, Any] | None:
    vault = get_vault(state, sub, rg, name)
    found = next((a for a in kv.role_assignments(vault) if a["id"].lower() == assignment.lower()), None)
    if found is None:
        return None
    vault["_roleAssignments"] = [a for a in kv.role_assignments(vault) if a is not found]
    core.save_resource(state, VAULT, vault)
    return _assignment_view(vault, found)
