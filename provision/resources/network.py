"""Network: the NSG with inbound allow rules for 443 (HDInsight service tag, client CIDRs) and 9400 (the REST
proxy), and the cluster subnet associated with it.

Rules this tool owns are named `provision-…`. An existing rule of anyone's that already allows the same traffic
is reused; rules we did not create are never modified or deleted; new rules take the first free priority.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provision.context import Context
from provision.errors import InvalidInput, ProvisionError
from provision.plan import Change

RESOURCE_NSG = "network security group"
RESOURCE_RULE = "security rule"
RESOURCE_SUBNET = "subnet"
RULE_PREFIX = "provision-"
FIRST_PRIORITY, LAST_PRIORITY, STEP = 300, 4096, 10


@dataclass(frozen=True)
class RuleSpec:
    name: str
    sources: tuple[str, ...]
    ports: tuple[str, ...]
    description: str


def desired_rules(ctx: Context) -> list[RuleSpec]:
    return desired_rules_for(ctx.spec.values)


def desired_rules_for(values: dict[str, Any]) -> list[RuleSpec]:
    """The inbound rules a REST-proxy cluster needs (also the template export's source)."""
    rules = [
        RuleSpec("provision-hdinsight-443", ("HDInsight",), ("443",),
                 "HDInsight health and management service (required)"),
        RuleSpec("provision-kafkarest-9400", ("HDInsight",), ("9400",),
                 "Kafka REST proxy (required for REST-proxy clusters)"),
    ]
    cidrs = tuple(values["network.client_cidrs"])
    if cidrs:
        rules.append(RuleSpec("provision-clients-443-9400", cidrs, ("443", "9400"), "Kafka REST proxy clients"))
    return rules


def _v(x: Any) -> str:
    return str(getattr(x, "value", x) or "")


def names(ctx: Context) -> dict[str, str]:
    """Resource group + names of the NSG, VNet and subnet (from ids when the spec names existing ones)."""
    v = ctx.spec.values
    out = {"rg": v["resource_group"], "nsg": v["network.nsg_name"], "nsg_rg": v["resource_group"],
           "vnet": v["network.vnet_name"], "vnet_rg": v["resource_group"], "subnet": v["network.subnet_name"]}
    if v["network.nsg_id"]:
        parts = v["network.nsg_id"].split("/")
        out.update(nsg_rg=parts[4], nsg=parts[8])
    if v["network.subnet_id"]:
        parts = v["network.subnet_id"].split("/")
        out.update(vnet_rg=parts[4], vnet=parts[8], subnet=parts[10])
    return out


def _covers(rule: Any, source: str, port: str) -> bool:
    if _v(rule.access).lower() != "allow" or _v(rule.direction).lower() != "inbound":
        return False
    dests = [rule.destination_address_prefix] if rule.destination_address_prefix else list(
        rule.destination_address_prefixes or [])
    if not any(d in ("*", "VirtualNetwork") for d in dests):  # a rule for one address does not serve the subnet
        return False
    if _v(rule.protocol).lower() not in ("tcp", "*"):
        return False
    sources = [rule.source_address_prefix] if rule.source_address_prefix else list(rule.source_address_prefixes or [])
    if not any(s and (s == "*" or s.lower() == source.lower()) for s in sources):
        return False
    ranges = [rule.destination_port_range] if rule.destination_port_range else list(rule.destination_port_ranges or [])
    for r in ranges:
        if r == "*":
            return True
        lo, _, hi = r.partition("-")
        if int(lo) <= int(port) <= int(hi or lo):
            return True
    return False


async def read(ctx: Context) -> dict[str, Any]:
    from azure.core.exceptions import ResourceNotFoundError

    n = names(ctx)
    out: dict[str, Any] = {"nsg": None, "rules": [], "vnet": None, "subnet": None}
    try:
        out["nsg"] = await ctx.arm_call(ctx.network.network_security_groups.get, n["nsg_rg"], n["nsg"])
        out["rules"] = list(out["nsg"].security_rules or [])
    except ResourceNotFoundError:
        if ctx.spec.values["network.nsg_id"]:
            raise InvalidInput(f"network.nsg_id: {ctx.spec.values['network.nsg_id']} does not exist; fix the id "
                               f"or unset it to have provision create one") from None
    try:
        out["vnet"] = await ctx.arm_call(ctx.network.virtual_networks.get, n["vnet_rg"], n["vnet"])
        out["subnet"] = await ctx.arm_call(ctx.network.subnets.get, n["vnet_rg"], n["vnet"], n["subnet"])
    except ResourceNotFoundError:
        if ctx.spec.values["network.subnet_id"]:
            raise InvalidInput(f"network.subnet_id: {ctx.spec.values['network.subnet_id']} does not exist; fix "
                               f"the id or unset it to have provision create a VNet") from None
    return out


def _missing_rules(ctx: Context, rules: list[Any]) -> list[RuleSpec]:
    """Rules to create: ours that are absent, unless some existing rule already allows the same traffic."""
    have = {r.name for r in rules}
    missing = []
    for want in desired_rules(ctx):
        if want.name in have:
            continue
        if all(any(_covers(r, s, p) for r in rules) for s in want.sources for p in want.ports):
            continue  # reuse someone else's equivalent rule
        missing.append(want)
    return missing


def _sources_ports(rule: Any) -> tuple[list[str], list[str]]:
    sources = [rule.source_address_prefix] if rule.source_address_prefix else list(rule.source_address_prefixes or [])
    ports = [rule.destination_port_range] if rule.destination_port_range else list(rule.destination_port_ranges or [])
    return sorted(sources), sorted(ports)


def diff(ctx: Context, actual: dict[str, Any]) -> list[Change]:
    n = names(ctx)
    changes = []
    nsg = actual["nsg"]
    tags = ctx.spec.managed_tags
    own = not ctx.spec.values["network.nsg_id"]  # an NSG named by id is the user's: we only add our rules to it
    if nsg is None:
        changes.append(Change(RESOURCE_NSG, n["nsg"], "create", {"location": (None, ctx.spec.values["location"])}))
    else:
        missing_tags = {k: v for k, v in tags.items() if (nsg.tags or {}).get(k) != v}
        changes.append(Change(RESOURCE_NSG, n["nsg"], "update" if own and missing_tags else "noop",
                              {"tags": (nsg.tags, {**(nsg.tags or {}), **tags})} if own and missing_tags else {},
                              nsg))
    for rule in _missing_rules(ctx, actual["rules"]):
        changes.append(Change(RESOURCE_RULE, rule.name, "create",
                              {"sources": (None, list(rule.sources)), "ports": (None, list(rule.ports))}))
    wanted = {r.name: r for r in desired_rules(ctx)}
    for existing in actual["rules"]:
        if not existing.name.startswith(RULE_PREFIX):
            continue  # never touch rules we did not create
        want = wanted.get(existing.name)
        if want is None:
            changes.append(Change(RESOURCE_RULE, existing.name, "delete", actual=existing,
                                  note="no longer wanted by the spec"))
            continue
        have_sources, have_ports = _sources_ports(existing)
        fields = {}
        if have_sources != sorted(want.sources):
            fields["sources"] = (have_sources, sorted(want.sources))
        if have_ports != sorted(want.ports):
            fields["ports"] = (have_ports, sorted(want.ports))
        changes.append(Change(RESOURCE_RULE, existing.name, "update" if fields else "noop", fields, existing))
    subnet = actual["subnet"]
    nsg_id = nsg.id if nsg is not None else None
    if subnet is None:
        changes.append(Change(RESOURCE_SUBNET, f"{n['vnet']}/{n['subnet']}", "create",
                              {"addressPrefix": (None, ctx.spec.values["network.subnet_prefix"]),
                               "networkSecurityGroup": (None, n["nsg"])}))
    else:
        current = subnet.network_security_group.id if subnet.network_security_group else None
        if nsg_id is None or (current or "").lower() != nsg_id.lower():
            changes.append(Change(RESOURCE_SUBNET, f"{n['vnet']}/{n['subnet']}", "update",
                                  {"networkSecurityGroup": (current, n["nsg"])}, subnet))
        else:
            changes.append(Change(RESOURCE_SUBNET, f"{n['vnet']}/{n['subnet']}", "noop", actual=subnet))
    return changes


def security_rule(rs: RuleSpec, priority: int) -> Any:
    """The SecurityRule model for a RuleSpec: what the SDK path PUTs and the template export embeds."""
    from azure.mgmt.network.models import SecurityRule

    return SecurityRule(
        protocol="Tcp", access="Allow", direction="Inbound", priority=priority, source_port_range="*",
        destination_address_prefix="*", description=rs.description,
        **({"source_address_prefix": rs.sources[0]} if len(rs.sources) == 1 else
           {"source_address_prefixes": list(rs.sources)}),
        **({"destination_port_range": rs.ports[0]} if len(rs.ports) == 1 else
           {"destination_port_ranges": list(rs.ports)}))


def new_vnet(values: dict[str, Any], location: Any, tags: Any, nsg_id: str, *, subnet_name: Any = None,
             address_space: Any = None, subnet_prefix: Any = None) -> Any:
    """The VNet created when the spec names no subnet: one subnet, associated with the NSG."""
    from azure.mgmt.network.models import AddressSpace, NetworkSecurityGroup, Subnet, VirtualNetwork

    return VirtualNetwork(location=location, tags=tags, address_space=AddressSpace(
        address_prefixes=[address_space or values["network.address_space"]]), subnets=[Subnet(
            name=subnet_name or values["network.subnet_name"],
            address_prefix=subnet_prefix or values["network.subnet_prefix"],
            network_security_group=NetworkSecurityGroup(id=nsg_id))])


async def _create_rule(ctx: Context, n: dict[str, str], rs: RuleSpec, taken: list[Any], attempts: int = 5) -> int:
    """PUT the rule at the first free priority. Someone else (another run, a person) may take that priority in
    the meantime: Azure answers SecurityRuleConflict, and we re-read the NSG and take the next free one."""
    from azure.core.exceptions import HttpResponseError

    for _ in range(attempts):
        priority = free_priorities(taken, 1)[0]
        try:
            poller = await ctx.arm_call(ctx.network.security_rules.begin_create_or_update, n["nsg_rg"], n["nsg"],
                                        rs.name, security_rule(rs, priority))
            rule = await ctx.arm_call(poller.result)
        except HttpResponseError as e:
            if getattr(e.error, "code", None) != "SecurityRuleConflict":
                raise
            nsg = await ctx.arm_call(ctx.network.network_security_groups.get, n["nsg_rg"], n["nsg"])
            taken[:] = list(nsg.security_rules or [])
            continue
        taken.append(rule)
        return priority
    raise ProvisionError(f"network: rule {rs.name} kept conflicting with other rules' priorities; run again")


def free_priorities(rules: list[Any], count: int) -> list[int]:
    used = {r.priority for r in rules if _v(r.direction).lower() == "inbound"}
    free = [p for p in range(FIRST_PRIORITY, LAST_PRIORITY + 1, STEP) if p not in used]
    if len(free) < count:
        raise ProvisionError("network: no free inbound priority left in the NSG (300–4096)")
    return free[:count]


async def apply(ctx: Context, changes: list[Change], actual: dict[str, Any]) -> dict[str, Any]:
    from azure.mgmt.network.models import NetworkSecurityGroup, Subnet

    from azure.mgmt.network.models import TagsObject

    n = names(ctx)
    loc = ctx.spec.values["location"]
    nsg = actual["nsg"]
    by = {(c.resource, c.action) for c in changes}
    if (RESOURCE_NSG, "create") in by:
        poller = await ctx.arm_call(ctx.network.network_security_groups.begin_create_or_update, n["nsg_rg"],
                                    n["nsg"], NetworkSecurityGroup(location=loc, tags=ctx.spec.managed_tags))
        nsg = await ctx.arm_call(poller.result)
        ctx.event(RESOURCE_NSG, f"{n['nsg']} ready")
    elif (RESOURCE_NSG, "update") in by:  # tags only: PATCH, never a PUT that could drop rules others add
        nsg = await ctx.arm_call(ctx.network.network_security_groups.update_tags, n["nsg_rg"], n["nsg"],
                                 TagsObject(tags={**(nsg.tags or {}), **ctx.spec.managed_tags}))
    new_rules = [c for c in changes if c.resource == RESOURCE_RULE and c.action == "create"]
    rules = list(nsg.security_rules or [])
    specs = {r.name: r for r in desired_rules(ctx)}
    taken = list(rules)
    for change in new_rules:
        rs = specs[change.name]
        priority = await _create_rule(ctx, n, rs, taken)
        ctx.event(RESOURCE_RULE, f"{rs.name} allows {','.join(rs.ports)} from {','.join(rs.sources)} "
                                 f"(priority {priority})")
    for change in changes:
        if change.resource != RESOURCE_RULE or change.action not in ("update", "delete"):
            continue
        if change.action == "update":  # ours: same name and priority, the spec's sources and ports
            poller = await ctx.arm_call(ctx.network.security_rules.begin_create_or_update, n["nsg_rg"], n["nsg"],
                                        change.name, security_rule(specs[change.name], change.actual.priority))
        else:
            poller = await ctx.arm_call(ctx.network.security_rules.begin_delete, n["nsg_rg"], n["nsg"], change.name)
        await ctx.arm_call(poller.result)
        ctx.event(RESOURCE_RULE, f"{change.name} {change.action}d")
    subnet_change = next((c for c in changes if c.resource == RESOURCE_SUBNET and c.writes), None)
    if subnet_change is not None:
        if subnet_change.action == "create" and actual["vnet"] is None:
            vnet = new_vnet(ctx.spec.values, loc, ctx.spec.managed_tags, nsg.id, subnet_name=n["subnet"])
            poller = await ctx.arm_call(ctx.network.virtual_networks.begin_create_or_update, n["vnet_rg"],
                                        n["vnet"], vnet)
            await ctx.arm_call(poller.result)
        else:
            subnet = actual["subnet"] or Subnet(address_prefix=ctx.spec.values["network.subnet_prefix"])
            subnet.network_security_group = NetworkSecurityGroup(id=nsg.id)
            poller = await ctx.arm_call(ctx.network.subnets.begin_create_or_update, n["vnet_rg"], n["vnet"],
                                        n["subnet"], subnet)
            await ctx.arm_call(poller.result)
        ctx.event(RESOURCE_SUBNET, f"{n['vnet']}/{n['subnet']} associated with {n['nsg']}")
    return await read(ctx)


async def delete_owned_rules(ctx: Context) -> list[str]:
    """`down` for an NSG we do not own: remove only our rules."""
    n = names(ctx)
    actual = await read(ctx)
    removed = []
    for r in actual["rules"]:
        if r.name.startswith(RULE_PREFIX):
            poller = await ctx.arm_call(ctx.network.security_rules.begin_delete, n["nsg_rg"], n["nsg"], r.name)
            await ctx.arm_call(poller.result)
            removed.append(r.name)
    return removed

