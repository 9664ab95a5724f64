"""The single steps of `up`, for people who run them one at a time: app register, group create / add-member,
network open, storage ensure, cluster deploy. Each converges exactly like `up` does for its resource."""

from __future__ import annotations

import json
from typing import Any

import click

from provision.cli.env import run_async, Runner, command, emit, print_plan, spec_options
from provision.errors import ProvisionError


def _run(r: Runner, work: Any) -> tuple[list[Any], dict[str, Any]]:
    ctx = r.context()

    async def go() -> tuple[list[Any], dict[str, Any]]:
        changes, result = await work(ctx)
        return changes, result

    changes, result = run_async(go())
    emit(r, {"changes": [c.as_dict() for c in changes], "result": result},
         lambda: (print_plan(changes), click.echo(json.dumps(result, indent=2, default=str))))
    return changes, result


@click.group("app")
def app_group() -> None:
    """The environment's Entra app registration (the REST proxy client identity)."""


@app_group.command("register")
@spec_options
@click.option("--rotate", is_flag=True, help="Add a new client secret and remove the previous one.")
@click.option("--show-secret", is_flag=True, help="Print the client secret (otherwise only its 0600 file path).")
@command
def app_register(**params: Any) -> None:
    """Application (Graph upsert by uniqueName) + service principal + client secret."""
    from provision.resources import app_registration

    r = Runner(params)

    async def work(ctx: Any) -> tuple[list[Any], dict[str, Any]]:
        actual = await app_registration.read(ctx)
        change = app_registration.diff(ctx, actual, rotate=r.extra.get("rotate", False))
        result = await app_registration.apply(ctx, change) if change.writes else actual
        out = {k: result.get(k) for k in ("id", "appId", "servicePrincipalId", "secretKeyId", "secretExpires")}
        out["secretFile"] = str(app_registration.secret_path(ctx))
        if r.extra.get("show_secret"):
            held = app_registration.load_secret(ctx) or {}
            out["clientSecret"] = held.get("clientSecret")
        return [change], out

    _run(r, work)


@click.group("group")
def group_group() -> None:
    """The security group whose members may call the REST proxy."""


@group_group.command("create")
@spec_options
@command
def group_create(**params: Any) -> None:
    """Security group (upsert by uniqueName), checked securityEnabled true and mailEnabled false."""
    from provision.resources import security_group

    r = Runner(params)

    async def work(ctx: Any) -> tuple[list[Any], dict[str, Any]]:
        change = security_group.diff(ctx, await security_group.read(ctx))
        return [change], await security_group.apply(ctx, change)

    _run(r, work)


@group_group.command("add-member")
@spec_options
@click.option("--sp-object-id", default=None, help="Service principal to add (default: this environment's app).")
@command
def group_add_member(**params: Any) -> None:
    """Add a service principal to the group and verify it with checkMemberGroups."""
    from provision.resources import app_registration, group_membership, security_group

    r = Runner(params)

    async def work(ctx: Any) -> tuple[list[Any], dict[str, Any]]:
        group = await security_group.read(ctx)
        if group is None:
            raise ProvisionError(f"group {ctx.spec.values['group.name']} does not exist; run `provision group "
                                 f"create` first")
        sp_id = r.extra.get("sp_object_id")
        if not sp_id:
            app = await app_registration.read(ctx)
            if app is None or not app.get("servicePrincipalId"):
                raise ProvisionError("the app has no service principal yet; run `provision app register` first")
            sp_id = app["servicePrincipalId"]
        actual = await group_membership.read(ctx, sp_id, group["id"])
        change = group_membership.diff(ctx, actual, sp_id, group["id"])
        result = await group_membership.add(ctx, sp_id, group["id"]) if change.writes else actual
        return [change], result

    _run(r, work)


@click.group("network")
def network_group() -> None:
    """NSG rules and subnet for the cluster."""


@network_group.command("open")
@spec_options
@command
def network_open(**params: Any) -> None:
    """Inbound allow rules for 443 (HDInsight tag + client CIDRs) and 9400; associate the NSG with the subnet."""
    from provision.resources import network, resource_group

    r = Runner(params)

    async def work(ctx: Any) -> tuple[list[Any], dict[str, Any]]:
        rg_change = resource_group.diff(ctx, await resource_group.read(ctx))
        await resource_group.apply(ctx, rg_change)
        actual = await network.read(ctx)
        changes = network.diff(ctx, actual)
        if any(c.writes for c in changes):
            actual = await network.apply(ctx, changes, actual)
        result = {"nsg": actual["nsg"].id if actual["nsg"] else None,
                  "subnet": actual["subnet"].id if actual["subnet"] else None,
                  "rules": sorted(rule.name for rule in actual["rules"])}
        return [rg_change, *changes], result

    _run(r, work)


@click.group("storage")
def storage_group() -> None:
    """The cluster's storage account and container."""


@storage_group.command("ensure")
@spec_options
@command
def storage_ensure(**params: Any) -> None:
    """Storage account + blob container."""
    from provision.resources import resource_group, storage

    r = Runner(params)

    async def work(ctx: Any) -> tuple[list[Any], dict[str, Any]]:
        rg_change = resource_group.diff(ctx, await resource_group.read(ctx))
        await resource_group.apply(ctx, rg_change)
        changes = storage.diff(ctx, await storage.read(ctx))
        if any(c.writes for c in changes):
            await storage.apply(ctx, changes)
        return [rg_change, *changes], {"account": ctx.spec.values["storage.account"],
                                       "container": ctx.spec.values["storage.container"]}

    _run(r, work)


@click.group("cluster")
def cluster_group() -> None:
    """The HDInsight Kafka cluster with the REST proxy."""


@cluster_group.command("deploy")
@spec_options
@click.option("--wait/--no-wait", default=True, show_default=True)
@command
def cluster_deploy(**params: Any) -> None:
    """Preflight, then the HDInsight Kafka PUT with kafkaRestProperties; progress until Running."""
    from provision.resources import hdinsight_kafka, network, security_group, storage

    r = Runner(params)

    async def work(ctx: Any) -> tuple[list[Any], dict[str, Any]]:
        group = await security_group.read(ctx)
        if group is None:
            raise ProvisionError("the security group does not exist; run `provision group create` (or `up`)")
        st = await storage.read(ctx)
        if st["account"] is None or st["container"] is None:
            raise ProvisionError("the storage account/container does not exist; run `provision storage ensure`")
        net = await network.read(ctx)
        if net["subnet"] is None:  # never deploy outside the NSG-protected subnet by accident
            raise ProvisionError("the cluster subnet does not exist; run `provision network open` first")
        change = hdinsight_kafka.diff(ctx, await hdinsight_kafka.read(ctx), group["id"])
        actual = await hdinsight_kafka.apply(ctx, change, group, net, wait=r.extra.get("wait", True))
        props = (actual or {}).get("properties", {})
        return [change], {"name": ctx.spec.values["cluster.name"],
                          "provisioningState": props.get("provisioning_state"),
                          "clusterState": props.get("cluster_state"),
                          "endpoint": hdinsight_kafka.rest_proxy_endpoint(actual or {})}

    _run(r, work)


GROUPS = [app_group, group_group, network_group, storage_group, cluster_group]
