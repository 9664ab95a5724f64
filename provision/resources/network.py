"""Network: the NSG with inbound allow rules for 443 (HDInsight service tag, client CIDRs) and 9400 (the REST
proxy), and the cluster subnet associated with it.

Which NSG: the one named by `network.nsg_id`; else, for a `network.subnet_id` whose subnet already has an NSG, that
one (the association is left as it is); else `network.nsg_name` in the environment's resource group. The first two
are external: we add our rules (named `provision-…`) and `down` removes exactly those. Rules are decided with
Azure's semantics — priority order, Allow/Deny, service tags, CIDRs, port ranges, `*`: an existing Allow that
already admits the traffic first is reused; a Deny that would take effect before our rule is refused before any
write, naming it. A new NSG gets its rules in its own PUT.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from typing import Any

from provision import armapi
from provision.errors import InvalidInput, ProvisionError
from provision.plan import Change
from provision.resources.base import EXTERNAL, OURS, Resource, Settling, arm_owned, conflict, props, wire

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


def rule_prefix(ctx: Any, nsg: dict[str, Any] | None) -> str:
    """`provision-` in an NSG of our own; `provision-<environment key>-` in someone else's, which other
    environments may share: each adds, reuses and removes only its own rules there."""
    return f"{RULE_PREFIX}{ctx.env_key}-" if nsg is not None and nsg.get("_ownership") != OURS else RULE_PREFIX


def desired_rules(ctx: Any, nsg: dict[str, Any] | None = None) -> list[RuleSpec]:
    prefix = rule_prefix(ctx, nsg)
    return [RuleSpec(prefix + r.name[len(RULE_PREFIX):], r.sources, r.ports, r.description)
            for r in desired_rules_for(ctx.spec.values)]


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


def names(ctx: Any) -> dict[str, str]:
    """Resource group + names of the NSG, VNet and subnet (from ids when the spec names existing ones)."""
    v = ctx.spec.values
    out = {"rg": v["resource_group"], "nsg": v["network.nsg_name"], "nsg_rg": v["resource_group"],
           "vnet": v["network.vnet_name"], "vnet_rg": v["resource_group"], "subnet": v["network.subnet_name"]}
    if v["network.nsg_id"]:
        out.update(_id_parts(v["network.nsg_id"], "nsg"))
    if v["network.subnet_id"]:
        parts = v["network.subnet_id"].split("/")
        out.update(vnet_rg=parts[4], vnet=parts[8], subnet=parts[10])
    return out


def _id_parts(resource_id: str, what: str) -> dict[str, str]:
    parts = resource_id.split("/")
    return {f"{what}_rg": parts[4], what: parts[8]}


# -- rule semantics (on the wire form) --------------------------------------------------------------------------
def _rp(rule: dict[str, Any]) -> dict[str, Any]:
    return rule.get("properties") or {}


def _plural(p: dict[str, Any], one: str, many: str) -> list[str]:
    return [p[one]] if p.get(one) else list(p.get(many) or [])


def _sources(rule: dict[str, Any]) -> list[str]:
    return _plural(_rp(rule), "sourceAddressPrefix", "sourceAddressPrefixes")


def _ports(rule: dict[str, Any]) -> list[str]:
    return _plural(_rp(rule), "destinationPortRange", "destinationPortRanges")


def _dests(rule: dict[str, Any]) -> list[str]:
    return _plural(_rp(rule), "destinationAddressPrefix", "destinationAddressPrefixes")


def _net(value: str) -> Any:
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def _is_tag(value: str) -> bool:
    return _net(value) is None and value != "*"


def _source_relation(rule_source: str, ours: str) -> str:
    """How a rule's source prefix relates to one of our sources: 'contains', 'overlaps' or 'none'."""
    rs, us = rule_source.strip(), ours.strip()
    if rs == "*":
        return "contains"
    rn, un = _net(rs), _net(us)
    if rn is not None and un is not None:
        if rn.version != un.version:
            return "none"
        return "contains" if un.subnet_of(rn) else ("overlaps" if rn.overlaps(un) else "none")
    if rs.lower() == "internet" and us.lower() != "internet":  # service tags' and public CIDRs' addresses are
        return "contains" if (un is None or un.is_global) else "none"  # Internet addresses
    if rn is None and un is None:  # two service tags: the same tag, or a regional part of it
        a, b = rs.lower(), us.lower()
        return "contains" if a == b or b.startswith(a + ".") else ("overlaps" if a.startswith(b + ".") else "none")
    if rs.lower() == "virtualnetwork" and un is not None and un.is_private:
        return "overlaps"
    return "none"


def _port_in(ranges: list[str], port: str) -> bool:
    for r in ranges:
        if r.strip() == "*":
            return True
        lo, _, hi = r.partition("-")
        try:
            if int(lo) <= int(port) <= int(hi or lo):
                return True
        except ValueError:
            continue
    return False


def _matches(rule: dict[str, Any], source: str, port: str, subnet_prefix: str | None, *, allow: bool) -> bool:
    """Does the rule decide TCP traffic from `source` to `port` on the cluster subnet? For an Allow we ask that it
    admits all of it (containment); for a Deny that it blocks any of it (overlap)."""
    p = _rp(rule)
    if str(p.get("direction", "")).lower() != "inbound" or str(p.get("protocol", "")).lower() not in ("tcp", "*"):
        return False
    rel = {"contains"} if allow else {"contains", "overlaps"}
    if not any(_source_relation(s, source) in rel for s in _sources(rule)):
        return False
    if not _port_in(_ports(rule), port):
        return False
    sn = _net(subnet_prefix) if subnet_prefix else None
    for d in _dests(rule):
        if d == "*" or d.lower() == "virtualnetwork":
            return True
        dn = _net(d)
        if dn is None:
            continue
        if sn is None:
            if not allow:  # the subnet's range is not known yet: a Deny on addresses may well hit it
                return True
            continue
        if dn.version == sn.version and (sn.subnet_of(dn) if allow else dn.overlaps(sn)):
            return True
    return False


def first_match(rules: list[dict[str, Any]], source: str, port: str, subnet_prefix: str | None,
                before: int | None = None) -> dict[str, Any] | None:
    """The rule Azure applies to this traffic: the lowest priority number among the matching ones (an Allow must
    admit all of it, a Deny need only touch part of it to count)."""
    ordered = sorted((r for r in rules if str(_rp(r).get("direction", "")).lower() == "inbound"),
                     key=lambda r: _rp(r).get("priority") or 0)
    for r in ordered:
        if before is not None and (_rp(r).get("priority") or 0) >= before:
            return None
        allow = str(_rp(r).get("access", "")).lower() == "allow"
        if _matches(r, source, port, subnet_prefix, allow=allow):
            return r
    return None


def free_priorities(rules: list[Any], count: int) -> list[int]:
    used = set()
    for r in rules:
        p = _rp(r) if isinstance(r, dict) else {"direction": _v(r.direction), "priority": r.priority}
        if str(p.get("direction", "")).lower() == "inbound":
            used.add(p.get("priority"))
    free = [p for p in range(FIRST_PRIORITY, LAST_PRIORITY + 1, STEP) if p not in used]
    if len(free) < count:
        raise ProvisionError("network: no free inbound priority left in the NSG (300–4096)")
    return free[:count]


def _other_env(name: str) -> bool:
    """A rule named by another environment's prefix (`provision-<8 hex>-…`)."""
    import re

    return re.match(RULE_PREFIX + r"[0-9a-f]{8}-", name) is not None


def _v(x: Any) -> str:
    return str(getattr(x, "value", x) or "")


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


def _all_rules(nsg: dict[str, Any] | None) -> list[dict[str, Any]]:
    p = props(nsg)
    return [*(p.get("securityRules") or []), *(p.get("defaultSecurityRules") or [])]


def _subnet_prefix(ctx: Any, subnet: dict[str, Any] | None) -> str | None:
    if subnet is not None:
        p = props(subnet)
        return p.get("addressPrefix") or next(iter(p.get("addressPrefixes") or []), None)
    return None if ctx.spec.values["network.subnet_id"] else ctx.spec.values["network.subnet_prefix"]


def plan_rules(ctx: Any, nsg: dict[str, Any] | None, subnet: dict[str, Any] | None,
               ) -> tuple[list[tuple[RuleSpec, int]], list[Change]]:
    """(rules to create with their priorities, conflicts). A wanted rule is skipped when for every source and port
    an existing Allow already decides the traffic; a Deny deciding it before our rule's priority is a conflict."""
    rules = _all_rules(nsg)
    have = {r.get("name") for r in rules}
    prefix = _subnet_prefix(ctx, subnet)
    todo: list[tuple[RuleSpec, int]] = []
    conflicts: list[Change] = []
    taken = list(rules)
    # Another environment's rules are not reused: they go when that environment goes.
    ours = rule_prefix(ctx, nsg)
    reusable = [r for r in rules if not (r.get("name") or "").startswith(RULE_PREFIX)
                or (r.get("name") or "").startswith(ours) and not (ours == RULE_PREFIX and _other_env(r["name"]))]
    for want in desired_rules(ctx, nsg):
        if want.name in have:
            continue
        pairs = [(s, p) for s in want.sources for p in want.ports]
        decided = {pair: first_match(reusable, *pair, prefix) for pair in pairs}
        if all(r is not None and str(_rp(r).get("access")).lower() == "allow" for r in decided.values()):
            continue  # someone else's rules already admit it: reuse, never duplicate
        priority = free_priorities(taken, 1)[0]
        taken.append({"properties": {"direction": "Inbound", "priority": priority}})
        for (s, p) in pairs:
            deny = first_match(rules, s, p, prefix, before=priority)
            if deny is not None and str(_rp(deny).get("access")).lower() == "deny":
                conflicts.append(Change(
                    RESOURCE_RULE, want.name, "conflict",
                    note=f"rule '{deny.get('name')}' (priority {_rp(deny).get('priority')}, Deny) in NSG "
                         f"{(nsg or {}).get('name')} blocks TCP {p} from {s} before provision's rule could allow "
                         f"it (first free priority {priority}); change or remove that rule, or use another NSG"))
                break
        else:
            todo.append((want, priority))
    return todo, conflicts


def nsg_path(ctx: Any, n: dict[str, str]) -> str:
    """The NSG's ARM id (also its path), from `names`."""
    return f"{armapi.rg_path(ctx, n['nsg_rg'])}/providers/Microsoft.Network/networkSecurityGroups/{n['nsg']}"


def vnet_path(ctx: Any, n: dict[str, str]) -> str:
    return f"{armapi.rg_path(ctx, n['vnet_rg'])}/providers/Microsoft.Network/virtualNetworks/{n['vnet']}"


class Network(Resource):
    key = "network"
    kind = RESOURCE_NSG
    depends_on = ("resource_group",)
    apply_imports = ("azure.mgmt.network", "azure.mgmt.network.models")
    read_after = ()  # reads on its own (a missing resource group reads as absent too)
    missing_hint = "run `provision network open` (or `provision up`) first"

    def label(self, ctx: Any) -> str:
        return names(ctx)["nsg"]

    def exists(self, actual: Any) -> bool:
        return bool(actual and actual["subnet"] is not None)

    async def read(self, ctx: Any, deps: dict[str, Any]) -> Any:
        v, n = ctx.spec.values, names(ctx)
        out: dict[str, Any] = {"nsg": None, "vnet": None, "subnet": None, "names": n}

        async def get_vnet() -> Any:
            return await armapi.get(ctx, vnet_path(ctx, n), armapi.NETWORK)

        async def get_subnet() -> Any:
            return await armapi.get(ctx, f"{vnet_path(ctx, n)}/subnets/{n['subnet']}", armapi.NETWORK)

        async def get_nsg() -> Any:
            return await armapi.get(ctx, nsg_path(ctx, n), armapi.NETWORK)

        if v["network.subnet_id"]:  # the subnet first: it may name the NSG to use
            out["vnet"], out["subnet"] = await asyncio.gather(get_vnet(), get_subnet())
            if out["subnet"] is None:
                raise InvalidInput(f"network.subnet_id: {v['network.subnet_id']} does not exist; fix the id or "
                                   f"unset it to have provision create a VNet")
            out["vnet"]["_ownership"] = out["subnet"]["_ownership"] = EXTERNAL
            current = (props(out["subnet"]).get("networkSecurityGroup") or {}).get("id")
            if current and not v["network.nsg_id"]:
                n.update(_id_parts(current, "nsg"))  # the subnet's own NSG: ours to add rules to, not replace
                out["subnetNsg"] = True
            out["nsg"] = await get_nsg()
        else:  # a missing resource group reads as absent resources
            out["vnet"], out["subnet"], out["nsg"] = await asyncio.gather(get_vnet(), get_subnet(), get_nsg())
            if out["vnet"] is not None:
                owned = arm_owned(ctx, out["vnet"].get("tags"))
                out["vnet"]["_ownership"] = OURS if owned else (EXTERNAL if ctx.adopt else "conflict")
        if out["nsg"] is None and v["network.nsg_id"]:
            raise InvalidInput(f"network.nsg_id: {v['network.nsg_id']} does not exist; fix the id or unset it to "
                               f"have provision create one")
        if out["nsg"] is not None:
            if v["network.nsg_id"] or out.get("subnetNsg"):
                out["nsg"]["_ownership"] = EXTERNAL
            else:
                owned = arm_owned(ctx, out["nsg"].get("tags"))
                out["nsg"]["_ownership"] = OURS if owned else (EXTERNAL if ctx.adopt else "conflict")
        return out

    def diff(self, ctx: Any, actual: Any, deps: dict[str, Any]) -> list[Change]:
        n = actual["names"]
        nsg, vnet, subnet = actual["nsg"], actual["vnet"], actual["subnet"]
        subnet_label = f"{n['vnet']}/{n['subnet']}"
        changes: list[Change] = []
        if nsg is not None and nsg["_ownership"] == "conflict":
            changes.append(conflict(RESOURCE_NSG, n["nsg"], f"network security group {n['nsg']}",
                                    by_id="network.nsg_id", rename="network.nsg_name"))
        if vnet is not None and vnet.get("_ownership") == "conflict":
            changes.append(conflict(RESOURCE_SUBNET, n["vnet"], f"virtual network {n['vnet']}",
                                    by_id="network.subnet_id", rename="network.vnet_name"))
        if changes:
            return changes
        todo, conflicts = plan_rules(ctx, nsg, subnet)
        if conflicts:
            return conflicts
        if nsg is None:
            changes.append(Change(RESOURCE_NSG, n["nsg"], "create", {
                "location": (None, ctx.spec.values["location"]),
                "securityRules": (None, [f"{rs.name} ({p})" for rs, p in todo])}))
        else:
            changes.append(Change(RESOURCE_NSG, n["nsg"], "noop", actual=nsg,
                                  note="" if nsg["_ownership"] == OURS else "external: only our rules added"))
            for rs, priority in todo:
                changes.append(Change(RESOURCE_RULE, rs.name, "create", {
                    "sources": (None, list(rs.sources)), "ports": (None, list(rs.ports)),
                    "priority": (None, priority)}))
            wanted = {r.name: r for r in desired_rules(ctx, nsg)}
            ours = rule_prefix(ctx, nsg)
            for existing in props(nsg).get("securityRules") or []:
                name = existing.get("name") or ""
                if not name.startswith(ours) or (ours == RULE_PREFIX and name not in wanted and _other_env(name)):
                    continue  # never touch rules we did not create (nor another environment's)
                want = wanted.get(name)
                if want is None:
                    changes.append(Change(RESOURCE_RULE, name, "delete", actual=existing,
                                          note="no longer wanted by the spec"))
                    continue
                fields = {}
                if sorted(_sources(existing)) != sorted(want.sources):
                    fields["sources"] = (sorted(_sources(existing)), sorted(want.sources))
                if sorted(_ports(existing)) != sorted(want.ports):
                    fields["ports"] = (sorted(_ports(existing)), sorted(want.ports))
                changes.append(Change(RESOURCE_RULE, name, "update" if fields else "noop", fields, existing))
        if subnet is None:
            changes.append(Change(RESOURCE_SUBNET, subnet_label, "create",
                                  {"addressPrefix": (None, ctx.spec.values["network.subnet_prefix"]),
                                   "networkSecurityGroup": (None, n["nsg"])}))
        else:
            current = (props(subnet).get("networkSecurityGroup") or {}).get("id")
            if nsg is None or (current or "").lower() != (nsg.get("id") or "").lower():
                changes.append(Change(RESOURCE_SUBNET, subnet_label, "update",
                                      {"networkSecurityGroup": (current, n["nsg"])}, subnet))
            else:
                changes.append(Change(RESOURCE_SUBNET, subnet_label, "noop", actual=subnet))
        return changes

    async def apply(self, ctx: Any, changes: list[Change], actual: Any, deps: dict[str, Any]) -> Any:
        from azure.mgmt.network.models import NetworkSecurityGroup, Subnet

        n = actual["names"]
        loc = ctx.spec.values["location"]
        nsg = actual["nsg"]
        nsg_made = None  # the NSG's operation, when this run creates it
        by = {(c.resource, c.action) for c in changes}
        if (RESOURCE_NSG, "create") in by:
            todo, _ = plan_rules(ctx, None, actual["subnet"])
            rules = []
            for rs, priority in todo:
                rule = security_rule(rs, priority)
                rule.name = rs.name
                rules.append(rule)
            nsg_made = await ctx.begin(ctx.network.network_security_groups.begin_create_or_update, n["nsg_rg"],
                                       n["nsg"], NetworkSecurityGroup(location=loc, tags=ctx.spec.managed_tags,
                                                                      security_rules=rules),
                                       what=f"creating NSG {n['nsg']}")
            # Succeeded is all a subnet needs to reference it (Azure refuses a reference to an NSG still
            # Updating); the poller's final read of the NSG goes on meanwhile and is awaited below.
            await nsg_made.succeeded()
            ctx.event(RESOURCE_NSG, f"{n['nsg']} ready with {', '.join(r.name for r in rules)}")
            nsg = {"id": nsg_path(ctx, n), "_ownership": OURS}
        specs = {r.name: r for r in desired_rules(ctx, nsg)}
        taken = _all_rules(nsg)
        rules_written = False
        for change in changes:
            if change.resource != RESOURCE_RULE or not change.writes:
                continue
            rules_written = True
            if change.action == "create":
                priority = await _create_rule(ctx, n, specs[change.name], taken)
                ctx.event(RESOURCE_RULE, f"{change.name} allows {','.join(specs[change.name].ports)} from "
                                         f"{','.join(specs[change.name].sources)} (priority {priority})")
                continue
            if change.action == "update":  # ours: same name and priority, the spec's sources and ports
                await ctx.lro(ctx.network.security_rules.begin_create_or_update, n["nsg_rg"], n["nsg"], change.name,
                              security_rule(specs[change.name], _rp(change.actual)["priority"]),
                              what=f"updating rule {change.name}")
            else:
                await ctx.lro(ctx.network.security_rules.begin_delete, n["nsg_rg"], n["nsg"], change.name,
                              what=f"deleting rule {change.name}")
            ctx.event(RESOURCE_RULE, f"{change.name} {change.action}d")
        subnet_change = next((c for c in changes if c.resource == RESOURCE_SUBNET and c.writes), None)
        if subnet_change is not None:
            if subnet_change.action == "create" and actual["vnet"] is None:
                vnet_made = await _referencing_nsg(ctx, n, lambda: ctx.begin(
                    ctx.network.virtual_networks.begin_create_or_update, n["vnet_rg"], n["vnet"],
                    new_vnet(ctx.spec.values, loc, ctx.spec.managed_tags, nsg["id"], subnet_name=n["subnet"]),
                    what=f"creating VNet {n['vnet']}"))
                if nsg_made is not None and not rules_written:
                    # All three made by this run. Once the VNet's operation reports Succeeded the cluster may be
                    # placed in its subnet: the ids go on to it then, and the operations' results (the pollers'
                    # final reads, no re-read) become this step's state when they arrive.
                    await vnet_made.succeeded()
                    ctx.event(RESOURCE_SUBNET, f"{n['vnet']}/{n['subnet']} associated with {n['nsg']}")
                    vnet_id = vnet_path(ctx, n)
                    usable = {"nsg": nsg, "vnet": {"id": vnet_id, "name": n["vnet"], "_ownership": OURS},
                              "subnet": {"id": f"{vnet_id}/subnets/{n['subnet']}", "name": n["subnet"]}, "names": n}
                    return Settling(usable, _made_state(nsg_made, vnet_made, n))
                await vnet_made.result()
            else:
                subnet = (await ctx.arm_call(ctx.network.subnets.get, n["vnet_rg"], n["vnet"], n["subnet"])
                          if actual["subnet"] is not None else
                          Subnet(address_prefix=ctx.spec.values["network.subnet_prefix"]))
                subnet.network_security_group = NetworkSecurityGroup(id=nsg["id"])
                await _referencing_nsg(ctx, n, lambda: ctx.lro(
                    ctx.network.subnets.begin_create_or_update, n["vnet_rg"], n["vnet"], n["subnet"], subnet,
                    what=f"associating subnet {n['subnet']} with {n['nsg']}"))
            ctx.event(RESOURCE_SUBNET, f"{n['vnet']}/{n['subnet']} associated with {n['nsg']}")
        if nsg_made is not None:
            await nsg_made.result()  # its failure is this step's
        return await self.read(ctx, {})

    async def delete(self, ctx: Any, actual: Any, deps: dict[str, Any]) -> list[Change]:
        if actual is None:
            return []
        n = actual["names"]
        nsg, vnet, subnet = actual["nsg"], actual["vnet"], actual["subnet"]
        done: list[Change] = []
        if vnet is not None and vnet.get("_ownership") == OURS:
            await ctx.lro(ctx.network.virtual_networks.begin_delete, n["vnet_rg"], n["vnet"],
                          what=f"deleting VNet {n['vnet']}")
            done.append(Change(RESOURCE_SUBNET, n["vnet"], "delete", note="virtual network"))
        elif subnet is not None and nsg is not None and nsg["_ownership"] == OURS and (
                (props(subnet).get("networkSecurityGroup") or {}).get("id") or "").lower() == nsg["id"].lower():
            # We associated our NSG with the user's subnet: take the association back before deleting the NSG.
            model = await ctx.arm_call(ctx.network.subnets.get, n["vnet_rg"], n["vnet"], n["subnet"])
            model.network_security_group = None
            await ctx.lro(ctx.network.subnets.begin_create_or_update, n["vnet_rg"], n["vnet"], n["subnet"], model,
                          what=f"dissociating subnet {n['subnet']}")
            done.append(Change(RESOURCE_SUBNET, f"{n['vnet']}/{n['subnet']}", "update",
                               {"networkSecurityGroup": (nsg["id"], None)}))
        if nsg is None:
            return done
        if nsg["_ownership"] == OURS:
            await ctx.lro(ctx.network.network_security_groups.begin_delete, n["nsg_rg"], n["nsg"],
                          what=f"deleting NSG {n['nsg']}")
            done.append(Change(RESOURCE_NSG, n["nsg"], "delete"))
            return done
        for r in props(nsg).get("securityRules") or []:  # external: only the rules this environment added
            if (r.get("name") or "").startswith(rule_prefix(ctx, nsg)):
                await ctx.lro(ctx.network.security_rules.begin_delete, n["nsg_rg"], n["nsg"], r["name"],
                              what=f"deleting rule {r['name']}")
                done.append(Change(RESOURCE_RULE, r["name"], "delete"))
        return done


async def _referencing_nsg(ctx: Any, n: dict[str, str], start: Any, attempts: int = 5) -> Any:
    """Start an operation whose body references the NSG. Azure refuses the reference while the NSG is Updating
    (400 ReferencedResourceNotProvisioned) — which it is when a twin run of this environment (another machine)
    has just PUT it again — so wait until the NSG reads Succeeded, then send it again."""
    from azure.core.exceptions import HttpResponseError

    attempt = 1
    while True:
        try:
            return await start()
        except HttpResponseError as e:
            if getattr(e.error, "code", None) != "ReferencedResourceNotProvisioned" or attempt >= attempts:
                raise
        attempt += 1
        ctx.event(RESOURCE_NSG, f"{n['nsg']} is being updated by another operation; waiting for it to finish")
        await _nsg_succeeded(ctx, n)


async def _nsg_succeeded(ctx: Any, n: dict[str, str]) -> None:
    from provision.consistency import wait_until
    from provision.context import operation_timeout

    async def settled() -> bool:
        nsg = await armapi.get(ctx, nsg_path(ctx, n), armapi.NETWORK)
        return nsg is None or props(nsg).get("provisioningState") == "Succeeded"  # gone: the retry says so

    await wait_until(settled, what=f"NSG {n['nsg']} back in Succeeded state", timeout=operation_timeout(),
                     interval=ctx.polling_interval)


async def _made_state(nsg_made: Any, vnet_made: Any, n: dict[str, str]) -> dict[str, Any]:
    """The state of an NSG, VNet and subnet this run made: its operations' results."""
    nsg, vnet = (wire(r) for r in await asyncio.gather(nsg_made.result(), vnet_made.result()))
    subnet = next((s for s in props(vnet).get("subnets") or [] if s.get("name") == n["subnet"]), None)
    return {"nsg": {**nsg, "_ownership": OURS}, "vnet": {**vnet, "_ownership": OURS}, "subnet": subnet, "names": n}


async def _create_rule(ctx: Any, n: dict[str, str], rs: RuleSpec, taken: list[Any], attempts: int = 5) -> int:
    """PUT the rule at the first free priority. Someone else (another run, a person) may take that priority in
    the meantime: Azure answers SecurityRuleConflict, and we re-read the NSG and take the next free one."""
    from azure.core.exceptions import HttpResponseError

    for _ in range(attempts):
        priority = free_priorities(taken, 1)[0]
        try:
            rule = await ctx.lro(ctx.network.security_rules.begin_create_or_update, n["nsg_rg"], n["nsg"], rs.name,
                                 security_rule(rs, priority), what=f"creating rule {rs.name}")
        except HttpResponseError as e:
            if getattr(e.error, "code", None) != "SecurityRuleConflict":
                raise
            nsg = wire(await ctx.arm_call(ctx.network.network_security_groups.get, n["nsg_rg"], n["nsg"]))
            taken[:] = _all_rules(nsg)
            continue
        taken.append(wire(rule))
        return priority
    raise ProvisionError(f"network: rule {rs.name} kept conflicting with other rules' priorities; run again")


NETWORK = Network()
