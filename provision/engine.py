"""Plan and apply: read actual state, diff it against the spec, apply only the differences, in dependency order,
with independent steps running concurrently.

    resource group ─┬─ network ──┐
                    └─ storage ──┼─ cluster ─ endpoint
    app registration ─┐          │
    security group ───┼──────────┘
                      └─ group membership

All of it runs in one asyncio loop: Graph calls are async (msgraph-sdk); ARM SDK calls run in threads.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from provision.clouds import KAFKAREST_SCOPE
from provision.context import Context
from provision.errors import ProvisionError
from provision.plan import Change
from provision.resources import (
    app_registration, group_membership, hdinsight_kafka, network, resource_group, security_group, storage,
)


@dataclass
class Actual:
    """What exists, as read at the start of a run."""

    resource_group: Any = None
    app: dict[str, Any] | None = None
    group: dict[str, Any] | None = None
    membership: dict[str, Any] | None = None
    network: dict[str, Any] = field(default_factory=dict)
    storage: dict[str, Any] = field(default_factory=dict)
    cluster: dict[str, Any] | None = None


async def read_all(ctx: Context) -> Actual:
    """Read everything, concurrently. Each read answers None/empty for what does not exist (even when its resource
    group does not), and an NSG or subnet named by id is always read — never assumed absent."""
    a = Actual()
    (a.resource_group, a.app, a.group, a.network, a.storage, a.cluster) = await asyncio.gather(
        resource_group.read(ctx), app_registration.read(ctx), security_group.read(ctx), network.read(ctx),
        storage.read(ctx), hdinsight_kafka.read(ctx))
    a.membership = await group_membership.read(ctx, (a.app or {}).get("servicePrincipalId"),
                                               (a.group or {}).get("id"))
    return a


def diff_all(ctx: Context, a: Actual) -> list[Change]:
    sp_id = (a.app or {}).get("servicePrincipalId")
    group_id = (a.group or {}).get("id")
    return [
        resource_group.diff(ctx, a.resource_group),
        app_registration.diff(ctx, a.app),
        security_group.diff(ctx, a.group),
        group_membership.diff(ctx, a.membership, sp_id, group_id),
        *network.diff(ctx, a.network),
        *storage.diff(ctx, a.storage),
        hdinsight_kafka.diff(ctx, a.cluster, group_id),
    ]


async def plan(ctx: Context, *, preflight: bool = True) -> tuple[Actual, list[Change]]:
    """Read and diff; with `preflight`, also the read-only checks that would make the cluster PUT fail (name
    availability, core quota), so bad input stops before any write."""
    actual = await read_all(ctx)
    changes = diff_all(ctx, actual)
    cluster = _pick(changes, hdinsight_kafka.RESOURCE)[0]
    if preflight and cluster.action == "create":
        await hdinsight_kafka.preflight_readonly(ctx)
    return actual, changes


def _pick(changes: list[Change], *resources: str) -> list[Change]:
    return [c for c in changes if c.resource in resources]


async def apply(ctx: Context, actual: Actual, changes: list[Change], *, wait: bool = True) -> dict[str, Any]:
    """Apply a plan; returns the outputs. Steps start as soon as what they need is done."""
    failed = [c for c in changes if c.action == "failed"]
    if failed:  # something in the way that a re-run cannot fix: write nothing
        raise ProvisionError(failed[0].note)

    async def rg_step() -> Any:
        return await resource_group.apply(ctx, _pick(changes, resource_group.RESOURCE)[0])

    async def app_step() -> dict[str, Any]:
        c = _pick(changes, app_registration.RESOURCE)[0]
        return await app_registration.apply(ctx, c) if c.writes else c.actual

    async def group_step() -> dict[str, Any]:
        return await security_group.apply(ctx, _pick(changes, security_group.RESOURCE)[0])

    async def membership_step() -> dict[str, Any]:
        app, group = await app_task, await group_task
        c = _pick(changes, group_membership.RESOURCE)[0]
        if c.writes:
            return await group_membership.add(ctx, app["servicePrincipalId"], group["id"])
        return c.actual

    async def network_step() -> dict[str, Any]:
        await rg_task
        cs = _pick(changes, network.RESOURCE_NSG, network.RESOURCE_RULE, network.RESOURCE_SUBNET)
        if any(c.writes for c in cs):
            return await network.apply(ctx, cs, actual.network)
        return actual.network

    async def storage_step() -> dict[str, Any]:
        await rg_task
        cs = _pick(changes, storage.RESOURCE_ACCOUNT, storage.RESOURCE_CONTAINER)
        if any(c.writes for c in cs):
            return await storage.apply(ctx, cs)
        return actual.storage

    async def cluster_step() -> dict[str, Any]:
        group, net, _ = await group_task, await network_task, await storage_task
        c = _pick(changes, hdinsight_kafka.RESOURCE)[0]
        if c.action in ("create", "wait", "failed"):
            return await hdinsight_kafka.apply(ctx, c, group, net, wait=wait)
        return c.actual

    rg_task = asyncio.ensure_future(rg_step())
    app_task = asyncio.ensure_future(app_step())
    group_task = asyncio.ensure_future(group_step())
    membership_task = asyncio.ensure_future(membership_step())
    network_task = asyncio.ensure_future(network_step())
    storage_task = asyncio.ensure_future(storage_step())
    cluster_task = asyncio.ensure_future(cluster_step())
    tasks = [rg_task, app_task, group_task, membership_task, network_task, storage_task, cluster_task]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:  # let running steps stop cleanly; what they created is found again by the next run
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return outputs(ctx, app_task.result(), group_task.result(), cluster_task.result())


def outputs(ctx: Context, app: dict[str, Any] | None, group: dict[str, Any] | None,
            cluster: dict[str, Any] | None) -> dict[str, Any]:
    """What the clients need: the kafkarest endpoint, tenant, client id and scope."""
    out = {
        "endpoint": hdinsight_kafka.rest_proxy_endpoint(cluster) if cluster else None,
        "tenantId": ctx.tenant_id,
        "clientId": (app or {}).get("appId"),
        "scope": ctx.cloud.kafkarest_scope,
        "securityGroupId": (group or {}).get("id"),
        "securityGroupName": (group or {}).get("displayName"),
        "clusterName": ctx.spec.values["cluster.name"],
        "clusterState": ((cluster or {}).get("properties") or {}).get("cluster_state"),
        "resourceGroup": ctx.spec.values["resource_group"],
        "clientSecretFile": str(app_registration.secret_path(ctx)) if app else None,
    }
    if ctx.cloud.name != "public":
        out["authorityHost"] = ctx.cloud.authority
    if ctx.cloud.ca_bundle:
        out["caBundle"] = ctx.cloud.ca_bundle
    return out


async def current_outputs(ctx: Context) -> dict[str, Any]:
    app, group, cluster = await asyncio.gather(app_registration.read(ctx), security_group.read(ctx),
                                               hdinsight_kafka.read(ctx))
    if cluster is None:
        raise ProvisionError(f"cluster {ctx.spec.values['cluster.name']} does not exist in resource group "
                             f"{ctx.spec.values['resource_group']}; run `provision up` first")
    return outputs(ctx, app, group, cluster)


async def destroy(ctx: Context) -> list[Change]:
    """Delete what this tool created (found by tags / uniqueName / description), in reverse dependency order.
    Anything else — a user's resource group, NSG, rules, VNet, storage, group — is left as it is."""
    a = await read_all(ctx)
    done: list[Change] = []
    v = ctx.spec.values

    async def wait(poller_call: Any, *args: Any) -> None:
        poller = await ctx.arm_call(poller_call, *args)
        await ctx.arm_call(poller.result)

    if a.cluster is not None:
        await hdinsight_kafka.delete(ctx)
        done.append(Change(hdinsight_kafka.RESOURCE, v["cluster.name"], "delete"))
    nsg_ours = a.network.get("nsg") is not None and not v["network.nsg_id"] and _tagged(ctx, a.network["nsg"])
    if a.network.get("nsg") is not None and not nsg_ours:
        for name in await network.delete_owned_rules(ctx):  # only our rules in someone else's NSG
            done.append(Change(network.RESOURCE_RULE, name, "delete"))
    if a.resource_group is not None and resource_group.created_by_us(ctx, a.resource_group):
        await wait(ctx.resource.resource_groups.begin_delete, v["resource_group"])
        done.append(Change(resource_group.RESOURCE, v["resource_group"], "delete", note="with everything in it"))
    else:  # a resource group we did not create: delete only the resources we tagged
        n = network.names(ctx)
        vnet = a.network.get("vnet")
        if vnet is not None and not v["network.subnet_id"] and _tagged(ctx, vnet):
            await wait(ctx.network.virtual_networks.begin_delete, n["vnet_rg"], n["vnet"])
            done.append(Change(network.RESOURCE_SUBNET, n["vnet"], "delete", note="virtual network"))
        if nsg_ours:
            await wait(ctx.network.network_security_groups.begin_delete, n["nsg_rg"], n["nsg"])
            done.append(Change(network.RESOURCE_NSG, n["nsg"], "delete"))
        account = a.storage.get("account")
        if account is not None and _tagged(ctx, account):
            await ctx.arm_call(ctx.storage.storage_accounts.delete, v["resource_group"], v["storage.account"])
            done.append(Change(storage.RESOURCE_ACCOUNT, v["storage.account"], "delete"))
    # Entra objects are deleted only when this environment made them (app tags, group description).
    if a.group is not None and security_group.created_by_us(ctx, a.group):
        await security_group.delete(ctx, a.group)
        done.append(Change(security_group.RESOURCE, a.group["displayName"], "delete"))
    if a.app is not None and app_registration.created_by_us(ctx, a.app):
        await app_registration.delete(ctx, a.app)
        done.append(Change(app_registration.RESOURCE, a.app["displayName"], "delete"))
    return done


def _tagged(ctx: Context, resource: Any) -> bool:
    tags = getattr(resource, "tags", None) or {}
    return tags.get("managed-by") == "provision" and tags.get("provision-environment") == ctx.spec.values["name"]


def client_document(ctx: Context, endpoint: str | None, client_id: str | None) -> dict[str, str]:
    """The environment variables azure-identity and `provision kafka` read (without a credential): what
    `endpoint --format dotenv` prints and what `access grant` writes, with the client's credential added."""
    doc = {"KAFKAREST_ENDPOINT": endpoint or "", "AZURE_TENANT_ID": ctx.tenant_id, "AZURE_CLIENT_ID": client_id or "",
           "KAFKAREST_SCOPE": ctx.cloud.kafkarest_scope or KAFKAREST_SCOPE}
    if ctx.cloud.name != "public":
        doc["AZURE_AUTHORITY_HOST"] = ctx.cloud.authority
    if ctx.cloud.ca_bundle:
        doc["REQUESTS_CA_BUNDLE"] = ctx.cloud.ca_bundle
    return doc
