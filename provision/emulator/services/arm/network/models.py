"""Microsoft.Network state: network security groups with their rules, virtual networks with their subnets.

No HTTP here: functions take parsed bodies and raise ArmError with the Network resource provider's own codes.

Storage layout. An NSG is one document holding its `securityRules` and `defaultSecurityRules`, as Azure returns
it; a virtual network is one document holding its `subnets`. The child endpoints (securityRules, subnets) edit the
parent document, which gives an NSG PUT its replace semantics for free and keeps one etag per parent (Azure gives
a parent and all its sub-resources the same etag, new on every change). The NSG <-> subnet association is stored
only on the subnet (`networkSecurityGroup: {id}`) and shown on the NSG's read-only `subnets` at read time.

Every write is a long-running operation: the body says "Updating" (or "Deleting") until the operation comes due
and its completion flips it to "Succeeded" (or removes the resource). Each pending write stamps `_op` on what it
changed so an older operation finishing late never overrides a newer one.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass
from typing import Any

from provision.emulator.services.arm import core
from provision.emulator.state import EmulatorState
from provision.emulator.wire import ArmError

NSG = "network:networkSecurityGroup"
VNET = "network:virtualNetwork"
NSG_TYPE = "Microsoft.Network/networkSecurityGroups"
RULE_TYPE = NSG_TYPE + "/securityRules"
DEFAULT_RULE_TYPE = NSG_TYPE + "/defaultSecurityRules"
VNET_TYPE = "Microsoft.Network/virtualNetworks"
SUBNET_TYPE = VNET_TYPE + "/subnets"
PROVISIONED = "network.provisioned"
REMOVED = "network.removed"

# The six rules Azure puts in every NSG (recorded: names, descriptions, prefixes, priorities).
DEFAULT_RULES = [
    ("AllowVnetInBound", "Allow inbound traffic from all VMs in VNET", "VirtualNetwork", "VirtualNetwork", "Allow",
     65000, "Inbound"),
    ("AllowAzureLoadBalancerInBound", "Allow inbound traffic from azure load balancer", "AzureLoadBalancer", "*",
     "Allow", 65001, "Inbound"),
    ("DenyAllInBound", "Deny all inbound traffic", "*", "*", "Deny", 65500, "Inbound"),
    ("AllowVnetOutBound", "Allow outbound traffic from all VMs to all VMs in VNET", "VirtualNetwork",
     "VirtualNetwork", "Allow", 65000, "Outbound"),
    ("AllowInternetOutBound", "Allow outbound traffic from all VMs to Internet", "*", "Internet", "Allow", 65001,
     "Outbound"),
    ("DenyAllOutBound", "Deny all outbound traffic", "*", "*", "Deny", 65500, "Outbound"),
]

PROTOCOLS = {"tcp": "Tcp", "udp": "Udp", "icmp": "Icmp", "esp": "Esp", "ah": "Ah", "*": "*"}
ACCESSES = {"allow": "Allow", "deny": "Deny"}
DIRECTIONS = {"inbound": "Inbound", "outbound": "Outbound"}
# Service tags accepted in address prefixes (a subset of Azure's list), optionally regional: "HDInsight.WestUS".
SERVICE_TAGS = {t.lower() for t in (
    "Internet", "VirtualNetwork", "AzureLoadBalancer", "AzureCloud", "HDInsight", "Storage", "Sql", "SqlManagement",
    "AzureActiveDirectory", "AzureMonitor", "AzureKeyVault", "AzureResourceManager", "GatewayManager", "EventHub",
    "ServiceBus", "AzureTrafficManager", "AzureBackup", "AppService", "AzureContainerRegistry", "AzureCosmosDB",
    "ApiManagement", "AzureFrontDoor", "AzureDatabricks", "AzureKubernetesService", "DataFactory", "AzureBastion")}
_PORT = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")
_NRP = "Microsoft.WindowsAzure.Networking.Nrp.Frontend.Contract.Csm.Public"


@dataclass
class Change:
    """What a write did: the resource as it now reads, whether it was created, and the operation to poll."""

    resource: dict[str, Any]
    created: bool
    operation: str
    location: str


# -- ids ------------------------------------------------------------------------------------------------------------
def nsg_id(sub: str, rg: str, name: str) -> str:
    return f"{core.rg_id(sub, rg)}/providers/Microsoft.Network/networkSecurityGroups/{name}"


def vnet_id(sub: str, rg: str, name: str) -> str:
    return f"{core.rg_id(sub, rg)}/providers/Microsoft.Network/virtualNetworks/{name}"


def _split_child(resource_id: str, collection: str) -> tuple[str, str] | None:
    """'/…/virtualNetworks/v/subnets/s' -> ('/…/virtualNetworks/v', 's'), case-insensitively."""
    parts = resource_id.rstrip("/").split("/")
    if len(parts) < 3 or parts[-2].lower() != collection.lower():
        return None
    return "/".join(parts[:-2]), parts[-1]


def _scope_parts(resource_id: str) -> tuple[str, str]:
    """(subscription, resource group) of an ARM id."""
    parts = resource_id.split("/")
    return parts[2], parts[4]


# -- documents ------------------------------------------------------------------------------------------------------
def strip(obj: Any) -> Any:
    """The wire form: private `_` fields removed at every depth."""
    if isinstance(obj, dict):
        return {k: strip(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, list):
        return [strip(v) for v in obj]
    return obj


def _children(doc: dict[str, Any]) -> list[dict[str, Any]]:
    props = doc.get("properties", {})
    return [*props.get("securityRules", []), *props.get("defaultSecurityRules", []), *props.get("subnets", [])]


def _retag(doc: dict[str, Any]) -> None:
    """A change gives the parent and every sub-resource one new etag (as the recording shows)."""
    etag = core.new_etag()
    doc["etag"] = etag
    for child in _children(doc):
        child["etag"] = etag


def _find_child(doc: dict[str, Any], collection: str, name: str) -> dict[str, Any] | None:
    return next((c for c in doc["properties"].get(collection, []) if c["name"].lower() == name.lower()), None)


def _require_child(doc: dict[str, Any], parent_type: str, collection: str, name: str, rg: str) -> dict[str, Any]:
    child = _find_child(doc, collection, name)
    if child is None:
        raise core.not_found(parent_type, f"{doc['name']}/{collection}/{name}", rg)
    return child


def _start(state: EmulatorState, completion: str, kind: str, doc: dict[str, Any], collection: str | None = None,
           name: str | None = None) -> str:
    op = core.start_operation(state, duration=state.timing.lro_seconds, completion=completion,
                              args={"kind": kind, "id": doc["id"], "collection": collection, "name": name})
    return op["id"]


def _replacing(state: EmulatorState, kind: str, sub: str, rg: str, resource_id: str,
               body: dict[str, Any]) -> tuple[dict[str, Any] | None, str, str]:
    """A parent PUT's checks: (the resource it replaces or None, the location, the id as first spelled)."""
    core.require_writable_resource_group(state, sub, rg)
    location = core.require_location(body)
    existing = core.get_resource(state, kind, resource_id)
    core.require_same_location(existing, location, rg)
    return existing, location, existing["id"] if existing else resource_id


def _parent_doc(existing: dict[str, Any] | None, name: str, the_id: str, etag: str, resource_type: str,
                location: str, body: dict[str, Any]) -> dict[str, Any]:
    """What a PUT writes for every parent: name (as first spelled), tags, "Updating", the kept resourceGuid."""
    doc: dict[str, Any] = {"name": existing["name"] if existing else name, "id": the_id, "etag": etag,
                           "type": resource_type, "location": location}
    tags = _tags(body)
    if tags is not None:
        doc["tags"] = tags
    doc["properties"] = {
        "provisioningState": "Updating",
        "resourceGuid": existing["properties"]["resourceGuid"] if existing else str(uuid.uuid4()),
    }
    return doc


def _store_provisioning(state: EmulatorState, kind: str, doc: dict[str, Any]) -> str:
    """A PUT of a whole parent: the parent and every child it holds are "Updating" under one new operation."""
    op = _start(state, PROVISIONED, kind, doc)
    doc["_op"] = op
    for child in _children(doc):
        child["_op"] = op
    core.save_resource(state, kind, doc)
    return op


def _properties(body: dict[str, Any]) -> dict[str, Any]:
    props = body.get("properties") or {}
    if not isinstance(props, dict):
        raise _cannot_parse(props, "PropertiesFormat", "properties")
    return props


def _tags(body: dict[str, Any]) -> dict[str, Any] | None:
    """The body's tags (None when absent: a PUT without tags leaves the resource without tags)."""
    tags = body.get("tags")
    if tags is not None and (not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values())):
        raise _cannot_parse(tags, "IDictionary`2[System.String,System.String]", "tags")
    return tags


def _cannot_parse(value: Any, type_name: str, path: str) -> ArmError:
    """Network's answer to a body it cannot deserialize (an unknown enum value, a wrong JSON type)."""
    return ArmError("Cannot parse the request.", code="InvalidRequestFormat", details=[{
        "code": "InvalidJsonReaderException",
        "message": f"Error converting value \"{value}\" to type '{_NRP}.{type_name}'. Path '{path}'."}])


def _missing(prop: str, path: str) -> ArmError:
    return ArmError("Cannot parse the request.", code="InvalidRequestFormat", details=[{
        "code": "InvalidJsonReaderException",
        "message": f"Required property '{prop}' not found in JSON. Path '{path}'."}])


# -- security rules: validation -----------------------------------------------------------------------------------
def _enum(props: dict[str, Any], field: str, values: dict[str, str], type_name: str) -> str:
    raw = props.get(field)
    if raw is None:
        raise _missing(field, "properties")
    canonical = values.get(str(raw).lower())
    if canonical is None:
        raise _cannot_parse(raw, type_name, f"properties.{field}")
    return canonical


def _priority(props: dict[str, Any]) -> int:
    raw = props.get("priority", 0)  # absent reads as 0, which the range check then rejects, as Azure does
    if isinstance(raw, bool) or not isinstance(raw, (int, str)) or not str(raw).lstrip("-").isdigit():
        raise _cannot_parse(raw, "Int32", "properties.priority")
    value = int(raw)
    if not 100 <= value <= 4096:
        raise ArmError(f"Security rule has invalid Priority. Value provided: {value} Allowed range 100-4096.",
                       code="SecurityRuleInvalidPriority")
    return value


def _one_of(props: dict[str, Any], rule_id: str, single: str, plural: str, *, also: str | None = None) -> None:
    """Exactly one of the singular / plural field carries a value ("" and [] count as absent, as recorded)."""
    has_single = isinstance(props.get(single), str) and props[single] != ""
    has_plural = bool(props.get(plural))
    has_other = bool(also and props.get(also))  # application security groups stand in for address prefixes
    if (has_single and has_plural) or not (has_single or has_plural or has_other):
        label = lambda f: f[0].upper() + f[1:]  # noqa: E731 - sourcePortRange -> SourcePortRange
        raise ArmError(f"Security rule with Id {rule_id} must specify a non-empty value for either "
                       f"{label(single)} or {label(plural)}, but not both.",
                       code="SecurityRuleParameterContainsUnsupportedValue")


def _list_field(props: dict[str, Any], field: str) -> list[str]:
    value = props.get(field) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _cannot_parse(value, "List`1[System.String]", f"properties.{field}")
    return value


def port_range(value: str) -> tuple[int, int] | None:
    """'*' -> (0, 65535); '443' -> (443, 443); '1000-2000' -> (1000, 2000); anything else -> None."""
    if value == "*":
        return 0, 65535
    m = _PORT.match(value.strip())
    if not m:
        return None
    lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
    return (lo, hi) if lo <= hi <= 65535 else None


def _check_ports(values: list[str]) -> None:
    for v in values:
        if port_range(v) is None:
            raise ArmError(f"Security rule has invalid Port range. Value provided: {v}. Value should be an integer "
                           f"OR integer range with '-' delimiter. Valid range 0-65535.",
                           code="SecurityRuleInvalidPortRange")


def _valid_prefix(value: str) -> bool:
    if value == "*":
        return True
    try:
        ipaddress.ip_network(value, strict=False)
        return True
    except ValueError:
        return value.split(".", 1)[0].lower() in SERVICE_TAGS


def _check_prefixes(values: list[str]) -> None:
    for v in values:
        if not _valid_prefix(v):
            raise ArmError(f"Security rule has invalid Address prefix. Value provided: {v}",
                           code="SecurityRuleInvalidAddressPrefix")


def build_rule(rule_id: str, name: str, body: dict[str, Any], etag: str) -> dict[str, Any]:
    """A security rule in Azure's shape from a request body ({"properties": {...}}), validated."""
    props = _properties(body)
    protocol = _enum(props, "protocol", PROTOCOLS, "SecurityRuleProtocol")
    access = _enum(props, "access", ACCESSES, "SecurityRuleAccess")
    direction = _enum(props, "direction", DIRECTIONS, "SecurityRuleDirection")
    priority = _priority(props)
    plurals = {f: _list_field(props, f) for f in ("sourcePortRanges", "destinationPortRanges",
                                                   "sourceAddressPrefixes", "destinationAddressPrefixes")}
    _one_of(props, rule_id, "sourcePortRange", "sourcePortRanges")
    _one_of(props, rule_id, "destinationPortRange", "destinationPortRanges")
    _one_of(props, rule_id, "sourceAddressPrefix", "sourceAddressPrefixes", also="sourceApplicationSecurityGroups")
    _one_of(props, rule_id, "destinationAddressPrefix", "destinationAddressPrefixes",
            also="destinationApplicationSecurityGroups")
    singles = {f: props[f] for f in ("sourcePortRange", "destinationPortRange", "sourceAddressPrefix",
                                     "destinationAddressPrefix") if isinstance(props.get(f), str)}
    _check_ports([v for f, v in singles.items() if f.endswith("PortRange") and v]
                 + plurals["sourcePortRanges"] + plurals["destinationPortRanges"])
    _check_prefixes([v for f, v in singles.items() if f.endswith("AddressPrefix") and v]
                    + plurals["sourceAddressPrefixes"] + plurals["destinationAddressPrefixes"])
    out: dict[str, Any] = {"provisioningState": "Updating"}
    if isinstance(props.get("description"), str):
        out["description"] = props["description"]
    out["protocol"] = protocol
    out.update(singles)
    out.update({"access": access, "priority": priority, "direction": direction, **plurals})
    for f in ("sourceApplicationSecurityGroups", "destinationApplicationSecurityGroups"):
        if props.get(f):
            out[f] = props[f]
    return {"name": name, "id": rule_id, "etag": etag, "type": RULE_TYPE, "properties": out}


def check_conflicts(rules: list[dict[str, Any]]) -> None:
    """Two rules with the same priority and direction: 400 SecurityRuleConflict, the earlier one named first."""
    seen: dict[tuple[int, str], str] = {}
    for rule in rules:
        p = rule["properties"]
        slot = (p["priority"], p["direction"])
        if slot in seen and seen[slot].lower() != rule["name"].lower():
            raise ArmError(f"Security rule {seen[slot]} conflicts with rule {rule['name']}. Rules cannot have the "
                           f"same Priority and Direction. To learn more, see aka.ms/nsgrules.",
                           code="SecurityRuleConflict")
        seen.setdefault(slot, rule["name"])


def _default_rules(nsg: str, etag: str) -> list[dict[str, Any]]:
    return [{"name": name, "id": f"{nsg}/defaultSecurityRules/{name}", "etag": etag, "type": DEFAULT_RULE_TYPE,
             "properties": {"provisioningState": "Updating", "description": desc, "protocol": "*",
                            "sourcePortRange": "*", "destinationPortRange": "*", "sourceAddressPrefix": src,
                            "destinationAddressPrefix": dst, "access": access, "priority": priority,
                            "direction": direction, "sourcePortRanges": [], "destinationPortRanges": [],
                            "sourceAddressPrefixes": [], "destinationAddressPrefixes": []}}
            for name, desc, src, dst, access, priority, direction in DEFAULT_RULES]


# -- network security groups ----------------------------------------------------------------------------------------
def find_nsg(state: EmulatorState, resource_id: str) -> dict[str, Any] | None:
    return core.get_resource(state, NSG, resource_id)


def get_nsg(state: EmulatorState, sub: str, rg: str, name: str) -> dict[str, Any]:
    return core.require_resource(state, NSG, NSG_TYPE, sub, rg, name, nsg_id(sub, rg, name))


def subnets_using(state: EmulatorState, nsg: str) -> list[str]:
    """Ids of the subnets (in any virtual network of the subscription) associated with the NSG."""
    sub = _scope_parts(nsg)[0]
    found = []
    for vnet in state.store.list(VNET, scope_prefix=f"/subscriptions/{sub}/".lower()):
        for subnet in vnet["properties"].get("subnets", []):
            ref = subnet["properties"].get("networkSecurityGroup") or {}
            if core.key(ref.get("id", "")) == core.key(nsg):
                found.append(subnet["id"])
    return found


def render_nsg(state: EmulatorState, doc: dict[str, Any]) -> dict[str, Any]:
    """The NSG as Azure returns it, with the read-only `subnets` associated with it."""
    out = strip(doc)
    subnets = subnets_using(state, doc["id"])
    if subnets:
        out["properties"]["subnets"] = [{"id": s} for s in subnets]
    return out


def list_nsgs(state: EmulatorState, sub: str, rg: str | None = None) -> list[dict[str, Any]]:
    return core.list_resources(state, NSG, sub, rg)


def put_nsg(state: EmulatorState, sub: str, rg: str, name: str, body: dict[str, Any]) -> Change:
    """Create or replace an NSG: `securityRules` in the body become its rules (rules left out are deleted)."""
    existing, location, the_id = _replacing(state, NSG, sub, rg, nsg_id(sub, rg, name), body)
    props = _properties(body)
    given = props.get("securityRules") or []
    if not isinstance(given, list) or not all(isinstance(r, dict) for r in given):
        raise _cannot_parse(given, "List`1[SecurityRule]", "properties.securityRules")
    etag = core.new_etag()
    rules = []
    for raw in given:
        if not isinstance(raw.get("name"), str) or not raw["name"]:
            raise _missing("name", "properties.securityRules")
        rules.append(build_rule(f"{the_id}/securityRules/{raw['name']}", raw["name"], raw, etag))
    check_conflicts(rules)
    doc = _parent_doc(existing, name, the_id, etag, NSG_TYPE, location, body)
    doc["properties"].update(securityRules=rules, defaultSecurityRules=_default_rules(the_id, etag))
    op = _store_provisioning(state, NSG, doc)
    return Change(render_nsg(state, doc), existing is None, op, location)


def patch_tags(state: EmulatorState, kind: str, doc: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """`update_tags` (PATCH {"tags": {...}}): synchronous, replaces the tags."""
    tags = _tags(body)
    doc["tags"] = tags or {}
    _retag(doc)
    core.save_resource(state, kind, doc)
    return doc


def begin_delete_nsg(state: EmulatorState, sub: str, rg: str, name: str) -> Change | None:
    """Start deleting an NSG (None when there is none). Refused while a subnet still uses it."""
    core.require_resource_group(state, sub, rg)
    doc = find_nsg(state, nsg_id(sub, rg, name))
    if doc is None:
        return None
    in_use = subnets_using(state, doc["id"])
    if in_use:
        raise ArmError(f"Network security group {doc['id']} cannot be deleted because it is in use by the following "
                       f"resources: {', '.join(in_use)}. In order to delete the Network security group, remove the "
                       f"association with the resource(s). To learn how to do this, see aka.ms/deletensg.",
                       code="InUseNetworkSecurityGroupCannotBeDeleted")
    return _begin_delete(state, NSG, doc)


def _begin_delete(state: EmulatorState, kind: str, doc: dict[str, Any], collection: str | None = None,
                  child: dict[str, Any] | None = None) -> Change:
    target = child if child is not None else doc
    op = _start(state, REMOVED, kind, doc, collection, child["name"] if child else None)
    target["properties"]["provisioningState"] = "Deleting"
    target["_op"] = op
    core.save_resource(state, kind, doc)
    return Change(strip(target), False, op, doc["location"])


def _begin_delete_child(state: EmulatorState, kind: str, doc: dict[str, Any], collection: str,
                        name: str) -> Change | None:
    child = _find_child(doc, collection, name)
    return None if child is None else _begin_delete(state, kind, doc, collection, child)


def _put_child(state: EmulatorState, kind: str, doc: dict[str, Any], collection: str, child: dict[str, Any],
               existing: dict[str, Any] | None) -> Change:
    """A child (security rule, subnet) takes `existing`'s place in its parent, or joins it, "Updating"."""
    op = _start(state, PROVISIONED, kind, doc, collection, child["name"])
    child["_op"] = op
    children = doc["properties"][collection]
    if existing is not None:
        children[children.index(existing)] = child
    else:
        children.append(child)
    _retag(doc)
    core.save_resource(state, kind, doc)
    return Change(strip(child), existing is None, op, doc["location"])


# -- security rules (child resource) ------------------------------------------------------------------------------
def _nsg_for_child(state: EmulatorState, sub: str, rg: str, nsg: str, action: str,
                   *, write: bool = False) -> dict[str, Any]:
    return core.require_parent(state, NSG, RULE_TYPE, sub, rg, nsg_id(sub, rg, nsg), action, write=write)


def get_rule(state: EmulatorState, sub: str, rg: str, nsg: str, name: str,
             collection: str = "securityRules") -> dict[str, Any]:
    return _require_child(_nsg_for_child(state, sub, rg, nsg, "read"), NSG_TYPE, collection, name, rg)


def list_rules(state: EmulatorState, sub: str, rg: str, nsg: str,
               collection: str = "securityRules") -> list[dict[str, Any]]:
    return _nsg_for_child(state, sub, rg, nsg, "read")["properties"].get(collection, [])


def put_rule(state: EmulatorState, sub: str, rg: str, nsg: str, name: str, body: dict[str, Any]) -> Change:
    """Create or replace one rule of an NSG; its priority and direction must be free among the other rules."""
    doc = _nsg_for_child(state, sub, rg, nsg, "write", write=True)
    existing = _find_child(doc, "securityRules", name)
    rule = build_rule(f"{doc['id']}/securityRules/{existing['name'] if existing else name}",
                      existing["name"] if existing else name, body, doc["etag"])
    others = [r for r in doc["properties"]["securityRules"] if r is not existing]
    check_conflicts(others + [rule])
    return _put_child(state, NSG, doc, "securityRules", rule, existing)


def begin_delete_rule(state: EmulatorState, sub: str, rg: str, nsg: str, name: str) -> Change | None:
    return _begin_delete_child(state, NSG, _nsg_for_child(state, sub, rg, nsg, "delete"), "securityRules", name)


# -- virtual networks and subnets -----------------------------------------------------------------------------------
def find_vnet(state: EmulatorState, resource_id: str) -> dict[str, Any] | None:
    return core.get_resource(state, VNET, resource_id)


def get_vnet(state: EmulatorState, sub: str, rg: str, name: str) -> dict[str, Any]:
    return core.require_resource(state, VNET, VNET_TYPE, sub, rg, name, vnet_id(sub, rg, name))


def list_vnets(state: EmulatorState, sub: str, rg: str | None = None) -> list[dict[str, Any]]:
    return core.list_resources(state, VNET, sub, rg)


def find_subnet(state: EmulatorState, subnet_id: str) -> dict[str, Any] | None:
    """The subnet with that id (any casing), or None."""
    split = _split_child(subnet_id, "subnets")
    vnet = find_vnet(state, split[0]) if split else None
    return _find_child(vnet, "subnets", split[1]) if vnet else None


def _network(prefix: Any, owner_id: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A CIDR as Network validates it: well-formed, and with no host bits set."""
    if not isinstance(prefix, str):
        raise _cannot_parse(prefix, "String", "properties.addressPrefix")
    try:
        loose = ipaddress.ip_network(prefix, strict=False)
        if "/" not in prefix:
            raise ValueError(prefix)
    except ValueError:
        raise ArmError(f"Address prefix {prefix} of resource {owner_id} is not formatted correctly. It should "
                       f"follow CIDR notation, for example 10.0.0.0/24.", code="InvalidAddressPrefixFormat"
                       ) from None
    try:
        return ipaddress.ip_network(prefix, strict=True)
    except ValueError:  # host bits set: 10.0.0.1/24
        raise ArmError(f"The address prefix {prefix} in resource {owner_id} has an invalid CIDR notation. For the "
                       f"given prefix length, the address prefix should be {loose}.", code="InvalidCIDRNotation"
                       ) from None


def _subnet_networks(subnet: dict[str, Any]) -> list:
    props = subnet["properties"]
    prefixes = props.get("addressPrefixes") or ([props["addressPrefix"]] if props.get("addressPrefix") else [])
    return [ipaddress.ip_network(p, strict=False) for p in prefixes]


def _nsg_reference(state: EmulatorState, ref: Any, subnet_id: str, location: str) -> dict[str, str] | None:
    """`networkSecurityGroup: {id}` must name an NSG that exists in the virtual network's region and whose last
    operation has succeeded: Azure answers 400 ReferencedResourceNotProvisioned while it is still Updating (the
    code and message as public error reports quote them, e.g. terraform-provider-azurerm subnet/NSG errors)."""
    if ref is None:
        return None
    ref_id = ref.get("id") if isinstance(ref, dict) else None
    nsg = find_nsg(state, ref_id) if isinstance(ref_id, str) else None
    if nsg is None or nsg["location"] != location:
        raise ArmError(f"Resource {ref_id} referenced by resource {subnet_id} was not found. Please make sure that "
                       f"the referenced resource exists, and that both resources are in the same region.",
                       code="InvalidResourceReference")
    provisioning = nsg["properties"].get("provisioningState")
    if provisioning != "Succeeded":  # an NSG whose own operation has not ended (code and wording as Azure's)
        raise ArmError(f"Cannot proceed with operation because resource {nsg['id']} used by resource {subnet_id} "
                       f"is not in Succeeded state. Resource is in {provisioning} state and the last operation that "
                       f"updated/is updating the resource is PutNetworkSecurityGroupOperation.",
                       code="ReferencedResourceNotProvisioned")
    return {"id": nsg["id"]}


def build_subnet(state: EmulatorState, vnet: dict[str, Any], name: str, body: dict[str, Any],
                 siblings: list[dict[str, Any]], etag: str) -> dict[str, Any]:
    """A subnet of `vnet` from a request body, validated against the address space and its sibling subnets."""
    props = _properties(body)
    subnet_id = f"{vnet['id']}/subnets/{name}"
    vnet_name = vnet["name"]
    prefixes = props.get("addressPrefixes") or ([props["addressPrefix"]] if props.get("addressPrefix") else [])
    if not isinstance(prefixes, list):
        raise _cannot_parse(prefixes, "List`1[System.String]", "properties.addressPrefixes")
    if not prefixes:
        raise ArmError(f"Subnet '{name}' is not valid in virtual network '{vnet_name}'.", code="NetcfgInvalidSubnet")
    networks = [_network(p, subnet_id) for p in prefixes]
    space = [ipaddress.ip_network(p, strict=False) for p in vnet["properties"]["addressSpace"]["addressPrefixes"]]
    for net in networks:
        if not any(net.version == s.version and net.subnet_of(s) for s in space):
            raise ArmError(f"Subnet '{name}' is not valid because its IP address range is outside the IP address "
                           f"range of virtual network '{vnet_name}'.", code="NetcfgSubnetRangeOutsideVnet")
        for other in siblings:
            if other["name"].lower() != name.lower() and any(
                    net.version == o.version and net.overlaps(o) for o in _subnet_networks(other)):
                raise ArmError(f"Subnet '{name}' is not valid because its IP address range overlaps with that of an "
                               f"existing subnet in virtual network '{vnet_name}'.",
                               code="NetcfgSubnetRangesOverlap")
    out: dict[str, Any] = {"provisioningState": "Updating"}
    if props.get("addressPrefixes"):
        out["addressPrefixes"] = list(props["addressPrefixes"])
    else:
        out["addressPrefix"] = props["addressPrefix"]
    nsg_ref = _nsg_reference(state, props.get("networkSecurityGroup"), subnet_id, vnet["location"])
    if nsg_ref:
        out["networkSecurityGroup"] = nsg_ref
    for f in ("serviceEndpoints", "defaultOutboundAccess", "routeTable", "natGateway"):
        if props.get(f) is not None:
            out[f] = props[f]
    out["delegations"] = props.get("delegations") or []
    out["privateEndpointNetworkPolicies"] = props.get("privateEndpointNetworkPolicies") or "Disabled"
    out["privateLinkServiceNetworkPolicies"] = props.get("privateLinkServiceNetworkPolicies") or "Enabled"
    return {"name": name, "id": subnet_id, "etag": etag, "type": SUBNET_TYPE, "properties": out}


def _address_space(props: dict[str, Any], owner_id: str) -> list[str]:
    space = props.get("addressSpace") or {}
    prefixes = space.get("addressPrefixes") if isinstance(space, dict) else None
    if prefixes is None:
        return []
    if not isinstance(prefixes, list):
        raise _cannot_parse(prefixes, "List`1[System.String]", "properties.addressSpace.addressPrefixes")
    for p in prefixes:
        _network(p, owner_id)
    return list(prefixes)


def put_vnet(state: EmulatorState, sub: str, rg: str, name: str, body: dict[str, Any]) -> Change:
    """Create or replace a virtual network; inline `subnets` replace its subnets (PUT semantics)."""
    existing, location, the_id = _replacing(state, VNET, sub, rg, vnet_id(sub, rg, name), body)
    props = _properties(body)
    etag = core.new_etag()
    doc = _parent_doc(existing, name, the_id, etag, VNET_TYPE, location, body)
    doc["properties"].update({
        "addressSpace": {"addressPrefixes": _address_space(props, the_id)},
        "subnets": [],
        "virtualNetworkPeerings": [],
        "enableDdosProtection": bool(props.get("enableDdosProtection", False)),
    })
    if isinstance(props.get("dhcpOptions"), dict):
        doc["properties"]["dhcpOptions"] = props["dhcpOptions"]
    given = props.get("subnets") or []
    if not isinstance(given, list) or not all(isinstance(s, dict) for s in given):
        raise _cannot_parse(given, "List`1[Subnet]", "properties.subnets")
    for raw in given:
        if not isinstance(raw.get("name"), str) or not raw["name"]:
            raise _missing("name", "properties.subnets")
        subnets = doc["properties"]["subnets"]
        subnets.append(build_subnet(state, doc, raw["name"], raw, subnets, etag))
    op = _store_provisioning(state, VNET, doc)
    return Change(strip(doc), existing is None, op, location)


def begin_delete_vnet(state: EmulatorState, sub: str, rg: str, name: str) -> Change | None:
    core.require_resource_group(state, sub, rg)
    doc = find_vnet(state, vnet_id(sub, rg, name))
    return None if doc is None else _begin_delete(state, VNET, doc)


def _vnet_for_child(state: EmulatorState, sub: str, rg: str, vnet: str, action: str,
                    *, write: bool = False) -> dict[str, Any]:
    return core.require_parent(state, VNET, SUBNET_TYPE, sub, rg, vnet_id(sub, rg, vnet), action, write=write)


def get_subnet(state: EmulatorState, sub: str, rg: str, vnet: str, name: str) -> dict[str, Any]:
    return _require_child(_vnet_for_child(state, sub, rg, vnet, "read"), VNET_TYPE, "subnets", name, rg)


def list_subnets(state: EmulatorState, sub: str, rg: str, vnet: str) -> list[dict[str, Any]]:
    return _vnet_for_child(state, sub, rg, vnet, "read")["properties"]["subnets"]


def put_subnet(state: EmulatorState, sub: str, rg: str, vnet: str, name: str, body: dict[str, Any]) -> Change:
    """Create or replace one subnet; `networkSecurityGroup: {id}` associates an NSG (by id, same region)."""
    doc = _vnet_for_child(state, sub, rg, vnet, "write", write=True)
    existing = _find_child(doc, "subnets", name)
    subnet = build_subnet(state, doc, existing["name"] if existing else name, body, doc["properties"]["subnets"],
                          doc["etag"])
    return _put_child(state, VNET, doc, "subnets", subnet, existing)


def begin_delete_subnet(state: EmulatorState, sub: str, rg: str, vnet: str, name: str) -> Change | None:
    return _begin_delete_child(state, VNET, _vnet_for_child(state, sub, rg, vnet, "delete"), "subnets", name)


# -- operation completions --------------------------------------------------------------------------------------------
def _load_target(state: EmulatorState, op: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(parent document, the resource the operation changed) if both still exist and this operation still owns it."""
    args = op["_args"]
    doc = core.get_resource(state, args["kind"], args["id"])
    if doc is None:
        return None, None
    target = _find_child(doc, args["collection"], args["name"]) if args.get("collection") else doc
    if target is None or target.get("_op") != op["id"]:
        return doc, None
    return doc, target


@core.register_completion(PROVISIONED)
def _provisioned(state: EmulatorState, op: dict[str, Any]) -> None:
    """A create/update came due: "Updating" -> "Succeeded" on the resource (and the sub-resources it wrote)."""
    doc, target = _load_target(state, op)
    if target is None:
        return
    for res in [target, *(_children(target) if target is doc else [])]:
        if res.get("_op") == op["id"]:
            res["properties"]["provisioningState"] = "Succeeded"
            del res["_op"]
    _retag(doc)
    core.save_resource(state, op["_args"]["kind"], doc)


@core.register_completion(REMOVED)
def _removed(state: EmulatorState, op: dict[str, Any]) -> None:
    """A delete came due: the resource (or the child, from its parent) is gone."""
    doc, target = _load_target(state, op)
    if target is None:
        return
    kind = op["_args"]["kind"]
    if target is doc:
        core.delete_resource(state, kind, doc["id"])
        return
    collection = doc["properties"][op["_args"]["collection"]]
    collection.remove(target)
    _retag(doc)
    core.save_resource(state, kind, doc)


# -- questions other providers ask ------------------------------------------------------------------------------------
_EXTERNAL_TAGS = {"*", "internet", "hdinsight"}


def _external_source(prefix: str) -> bool:
    """A source other networks' traffic can come from: any, Internet, HDInsight (regional too), or a CIDR."""
    p = prefix.lower()
    if p in _EXTERNAL_TAGS or p.startswith("hdinsight."):
        return True
    try:
        ipaddress.ip_network(prefix, strict=False)
        return True
    except ValueError:
        return False


def _values(props: dict[str, Any], single: str, plural: str) -> list[str]:
    return [props[single]] if props.get(single) else list(props.get(plural) or [])


def _reaches_subnet(props: dict[str, Any], subnet_nets: list) -> bool:
    for prefix in _values(props, "destinationAddressPrefix", "destinationAddressPrefixes"):
        if prefix.lower() in ("*", "virtualnetwork"):
            return True
        try:
            net = ipaddress.ip_network(prefix, strict=False)
        except ValueError:
            continue
        if not subnet_nets or any(net.version == s.version and net.overlaps(s) for s in subnet_nets):
            return True
    return False


def _covers_port(props: dict[str, Any], port: int) -> bool:
    ranges = [port_range(v) for v in _values(props, "destinationPortRange", "destinationPortRanges")]
    return any(r and r[0] <= port <= r[1] for r in ranges)


def inbound_allows(state: EmulatorState, subnet_id: str, port: int) -> bool:
    """Would the subnet's NSG let TCP traffic from outside the virtual network in on `port`?

    - No NSG on the subnet (or no such subnet, or a dangling NSG id) -> True: nothing filters the traffic.
    - Otherwise the NSG's inbound rules — custom and the six defaults — are read in priority order (lowest number
      first) and the first one that decides wins, as Azure evaluates them:
        * a rule applies when its protocol is Tcp or `*`, a destination port range covers `port`, and a destination
          prefix reaches the subnet (`*`, `VirtualNetwork`, or a CIDR overlapping the subnet's prefix);
        * an Allow decides (True) when one of its source prefixes is external: `*`, `Internet`, `HDInsight` /
          `HDInsight.<region>`, or any CIDR (e.g. a client's address);
        * a Deny decides (False) only when its source is `*` or `Internet`, i.e. it blocks every outside caller; a
          Deny for a narrower source (one CIDR, one tag) leaves other callers to later rules.
    - The defaults end the list: AllowVnetInBound and AllowAzureLoadBalancerInBound admit only internal sources, so
      DenyAllInBound (65500) answers False when no custom rule allowed the port first.
    Rules still "Updating" count: validation sees the configuration as written.
    """
    subnet = find_subnet(state, subnet_id)
    ref = (subnet or {}).get("properties", {}).get("networkSecurityGroup")
    nsg = find_nsg(state, ref["id"]) if ref else None
    if nsg is None:
        return True
    subnet_nets = _subnet_networks(subnet)
    rules = [r["properties"] for r in nsg["properties"]["securityRules"] + nsg["properties"]["defaultSecurityRules"]
             if r["properties"]["direction"] == "Inbound"]
    for props in sorted(rules, key=lambda p: p["priority"]):
        if props["protocol"] not in ("Tcp", "*") or not _covers_port(props, port):
            continue
        if not _reaches_subnet(props, subnet_nets):
            continue
        sources = _values(props, "sourceAddressPrefix", "sourceAddressPrefixes")
        if props["access"] == "Allow" and any(_external_source(s) for s in sources):
            return True
        if props["access"] == "Deny" and any(s.lower() in ("*", "internet") for s in sources):
            return False
    return False
