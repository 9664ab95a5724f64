"""Microsoft.Resources state: subscriptions, resource providers and resource groups. No HTTP here.

Resource groups are documents of kind `arm:resourceGroup` keyed by the lower-cased id, scoped to the subscription;
everything a provider creates inside a group is scoped to the group's id (or below it), so deleting the group is
one `core.delete_under`. Deletion is a long-running operation: the group reads "Deleting" until it comes due.

Providers that keep data outside the document table (the Kafka REST proxy's own tables, keyed by cluster) register
a cleanup with `on_group_deleted`; it runs when a group's deletion comes due, before the group's documents go.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any, Callable

from provision.emulator.services.arm import core
from provision.emulator.state import EmulatorState
from provision.emulator.wire import ArmError

RESOURCE_GROUP = "arm:resourceGroup"  # the kind core.require_resource_group reads
SUBSCRIPTION = "subscription"  # written by EmulatorState at first start
GROUP_TYPE = "Microsoft.Resources/resourceGroups"
DELETE_COMPLETION = "resources.deleteGroup"

# ARM: 1-90 characters of letters, digits, '_', '-', '.', '(' and ')', not ending in a period.
_GROUP_NAME = re.compile(r"^[-\w.()]{1,90}$")
_TAG_FILTER = re.compile(r"^\s*tagname\s+eq\s+'([^']*)'(?:\s+and\s+tagvalue\s+eq\s+'([^']*)')?\s*$", re.IGNORECASE)

# The regions the emulator advertises for every resource type (display names, as the providers API lists them).
REGIONS = ["East US", "East US 2", "West US", "West US 2", "West US 3", "Central US", "North Central US",
           "South Central US", "West Central US", "Canada Central", "North Europe", "West Europe", "UK South",
           "France Central", "Germany West Central", "Sweden Central", "Southeast Asia", "East Asia", "Japan East",
           "Australia East", "Central India", "Brazil South"]

# Resource providers the emulator serves, with the resource types (and api-versions) the SDKs use.
PROVIDERS: dict[str, dict[str, list[str]]] = {
    "Microsoft.Resources": {
        "resourceGroups": ["2025-04-01", "2024-11-01", "2021-04-01"],
        "subscriptions": ["2022-12-01", "2021-01-01"],
        "operationresults": ["2025-04-01", "2021-04-01"],
    },
    "Microsoft.Network": {
        "networkSecurityGroups": ["2026-03-01", "2024-05-01", "2021-03-01"],
        "virtualNetworks": ["2026-03-01", "2024-05-01", "2021-03-01"],
        "locations/operations": ["2026-03-01", "2024-05-01", "2021-03-01"],
        "locations/operationResults": ["2026-03-01", "2024-05-01", "2021-03-01"],
    },
    "Microsoft.Storage": {
        "storageAccounts": ["2026-09-01", "2023-05-01", "2021-02-01"],
        "storageAccounts/blobServices": ["2026-09-01", "2023-05-01"],
        "storageAccounts/blobServices/containers": ["2026-09-01", "2023-05-01"],
        "checkNameAvailability": ["2026-09-01", "2023-05-01", "2021-02-01"],
        "locations/asyncoperations": ["2026-09-01", "2023-05-01", "2021-02-01"],
    },
    "Microsoft.HDInsight": {
        "clusters": ["2024-08-01-preview", "2021-06-01"],
        "locations/capabilities": ["2024-08-01-preview", "2021-06-01"],
        "locations/usages": ["2024-08-01-preview", "2021-06-01"],
        "locations/azureasyncoperations": ["2024-08-01-preview", "2021-06-01"],
    },
}


# -- group-deletion cleanups ------------------------------------------------------------------------------------
GroupCleanup = Callable[[EmulatorState, str, str], None]
_group_cleanups: dict[str, GroupCleanup] = {}


def on_group_deleted(name: str) -> Callable[[GroupCleanup], GroupCleanup]:
    """Register `fn(state, subscription, resource_group)` under `name` (a second registration under the same name
    replaces the first, so re-importing a module does not run a cleanup twice).

    It is called when a group's deletion comes due, inside the same transaction as the removal and *before* the
    documents scoped to the group are deleted — so it can still read what its provider kept there (e.g. which
    clusters the group held) and remove data that lives outside the document table. A cleanup that raises rolls
    the whole deletion back (the request that was settling fails) and the next settle tries again."""
    def deco(fn: GroupCleanup) -> GroupCleanup:
        _group_cleanups[name] = fn
        return fn

    return deco


# -- subscriptions and providers ----------------------------------------------------------------------------------
def subscription(state: EmulatorState, sub: str) -> dict[str, Any]:
    """The subscription as `GET /subscriptions/{id}` shows it (core.authenticate has already matched the id)."""
    doc = state.store.get(SUBSCRIPTION, sub.lower()) or state.store.get(SUBSCRIPTION, state.boot.subscription_id)
    return {
        "id": doc["id"], "authorizationSource": "RoleBased", "managedByTenants": [],
        "subscriptionId": doc["subscriptionId"], "tenantId": doc["tenantId"], "displayName": doc["displayName"],
        "state": doc["state"],
        "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01",
                                 "spendingLimit": "Off"},
    }


def subscriptions(state: EmulatorState) -> list[dict[str, Any]]:
    return [subscription(state, d["subscriptionId"]) for d in state.store.list(SUBSCRIPTION)]


def provider(namespace: str, sub: str | None = None) -> dict[str, Any]:
    """A resource provider, always "Registered": the emulator never answers 409 MissingSubscriptionRegistration,
    so azure-mgmt-core's auto-registration policy never fires."""
    canonical = next((ns for ns in PROVIDERS if ns.lower() == namespace.lower()), None)
    if canonical is None:
        raise ArmError(f"The resource namespace '{namespace}' is invalid.", code="InvalidResourceNamespace",
                       status=404)
    doc: dict[str, Any] = {"namespace": canonical}
    if sub is not None:
        doc = {"id": f"/subscriptions/{sub}/providers/{canonical}", **doc, "registrationState": "Registered",
               "registrationPolicy": "RegistrationRequired"}
    doc["resourceTypes"] = [{"resourceType": rt, "locations": REGIONS, "apiVersions": versions,
                             "capabilities": "None"} for rt, versions in PROVIDERS[canonical].items()]
    return doc


def providers(sub: str) -> list[dict[str, Any]]:
    return [provider(ns, sub) for ns in PROVIDERS]


# -- resource groups ----------------------------------------------------------------------------------------------
def _group_key(sub: str, rg: str) -> str:
    return core.key(core.rg_id(sub, rg))


def find_group(state: EmulatorState, sub: str, rg: str) -> dict[str, Any] | None:
    return state.store.get(RESOURCE_GROUP, _group_key(sub, rg))


def get_group(state: EmulatorState, sub: str, rg: str) -> dict[str, Any]:
    return core.require_resource_group(state, sub, rg)


def _check_name(rg: str) -> None:
    if not _GROUP_NAME.match(rg) or rg.endswith("."):
        raise ArmError("Resource group names only allow alphanumeric characters, periods, underscores, hyphens and "
                       "parenthesis and cannot end in a period.", code="InvalidResourceGroupName")


def _check_tags(tags: Any) -> dict[str, str] | None:
    if tags is None:
        return None
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise ArmError("The request content was invalid and could not be deserialized: 'tags' must be an object "
                       "of string values.", code="InvalidRequestContent")
    return tags


def _render_group(doc: dict[str, Any], *, location: str, managed_by: Any, tags: dict | None) -> dict[str, Any]:
    """Field order as ARM writes it: id, name, type, location, managedBy?, tags?, properties."""
    out: dict[str, Any] = {"id": doc["id"], "name": doc["name"], "type": GROUP_TYPE, "location": location}
    if managed_by:
        out["managedBy"] = managed_by
    if tags is not None:
        out["tags"] = tags
    out["properties"] = {"provisioningState": "Succeeded"}
    return out


def put_group(state: EmulatorState, sub: str, rg: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Create or replace a group. Returns (document, created). The first spelling of the name is kept."""
    _check_name(rg)
    location = core.require_location(body)
    tags = _check_tags(body.get("tags"))
    existing = find_group(state, sub, rg)
    if existing is not None:
        if existing["properties"]["provisioningState"] == "Deleting":
            raise ArmError(f"The resource group '{existing['name']}' is in deprovisioning state and cannot perform "
                           f"this operation.", code="ResourceGroupBeingDeleted", status=409)
        if existing["location"] != location:
            raise ArmError(f"Invalid resource group location '{location}'. The Resource group already exists in "
                           f"location '{existing['location']}'.", code="InvalidResourceGroupLocation", status=409)
    doc = _render_group(existing or {"id": core.rg_id(sub, rg), "name": rg}, location=location,
                        managed_by=body.get("managedBy"), tags=tags)
    core.put_resource(state, RESOURCE_GROUP, doc, sub, None)
    return doc, existing is None


def patch_group(state: EmulatorState, sub: str, rg: str, body: dict[str, Any]) -> dict[str, Any]:
    """`update`: tags and managedBy change when given; everything else stays."""
    doc = core.require_writable_resource_group(state, sub, rg)
    if "tags" in body:
        doc["tags"] = _check_tags(body["tags"]) or {}
    if body.get("managedBy"):
        doc["managedBy"] = body["managedBy"]
    doc = _render_group(doc, location=doc["location"], managed_by=doc.get("managedBy"), tags=doc.get("tags"))
    core.put_resource(state, RESOURCE_GROUP, doc, sub, None)
    return doc


def list_groups(state: EmulatorState, sub: str, filter_: str | None = None,
                top: int | None = None) -> list[dict[str, Any]]:
    """Groups of the subscription, optionally `$filter=tagName eq 'x' [and tagValue eq 'y']` (names compare
    case-insensitively, as ARM tag names do) and `$top`."""
    groups = state.store.list(RESOURCE_GROUP, scope=f"/subscriptions/{sub}".lower())
    if filter_:
        m = _TAG_FILTER.match(filter_)
        if not m:
            raise ArmError(f"Invalid $filter '{filter_}' specified in the query string.",
                           code="InvalidFilterInQueryString")
        name, value = m.group(1).lower(), m.group(2)
        groups = [g for g in groups if any(k.lower() == name and (value is None or v == value)
                                           for k, v in (g.get("tags") or {}).items())]
    return groups[:top] if top else groups


def delete_token(rg: str, location: str, op_suffix: str) -> str:
    """The opaque operationresults token ARM hands out: base64url JSON naming the deletion job."""
    job = {"jobId": f"RESOURCEGROUPDELETIONJOB-{re.sub(r'[^A-Z0-9]', '', rg.upper())[:40]}-{op_suffix}",
           "jobLocation": location}
    return base64.urlsafe_b64encode(json.dumps(job, separators=(",", ":")).encode()).decode().rstrip("=")


def begin_delete_group(state: EmulatorState, sub: str, rg: str) -> str:
    """Mark the group "Deleting" and start the operation that removes it and its contents. Returns the operation
    id (the token of the Location URL); deleting a group already being deleted returns the running operation."""
    doc = core.require_resource_group(state, sub, rg)
    if doc["properties"]["provisioningState"] == "Deleting" and doc.get("_deleteOperation"):
        return doc["_deleteOperation"]
    token = delete_token(doc["name"], doc["location"], uuid.uuid4().hex[:16].upper())
    core.start_operation(state, duration=state.timing.lro_seconds, completion=DELETE_COMPLETION,
                         args={"subscription": sub, "resourceGroup": doc["name"]}, name=token)
    doc["properties"]["provisioningState"] = "Deleting"
    doc["_deleteOperation"] = token
    core.put_resource(state, RESOURCE_GROUP, doc, sub, None)
    return token


@core.register_completion(DELETE_COMPLETION)
def _finish_delete(state: EmulatorState, op: dict[str, Any]) -> None:
    """The deletion came due: run the providers' cleanups, remove everything scoped to the group, then the group."""
    sub, rg = op["_args"]["subscription"], op["_args"]["resourceGroup"]
    for cleanup in list(_group_cleanups.values()):
        cleanup(state, sub, rg)
    core.delete_under(state, core.scope_of_rg(sub, rg))
    state.store.delete(RESOURCE_GROUP, _group_key(sub, rg))
