"""The single steps of `up`, for people who run them one at a time: app register, group create / add-member,
network open, storage ensure, cluster deploy. Each is the engine over one resource and what it needs, so it
converges exactly as `up` does for that resource (preflight, ownership and conflicts included)."""

from __future__ import annotations

import json
from typing import Any

import click

from provision.cli.env import run_async, Runner, command, emit, print_plan, spec_options
from provision.errors import ProvisionError
from provision.plan import Change


def _step(r: Runner, key: str, result: Any, *, create: tuple[str, ...] = (), **options: Any) -> None:
    """Run the engine over `key`, then print its changes and `result(ctx, state)`."""
    from provision import engine

    ctx = r.context(**options)
    with r.locked(ctx):
        changes, state = run_async(engine.step(ctx, key, create=create))
    out = result(ctx, state)
    emit(r, {"changes": [c.as_dict() for c in changes], "result": out},
         lambda: (print_plan(changes), click.echo(json.dumps(out, indent=2, default=str))))


@click.group("app")
def app_group() -> None:
    """The environment's Entra app registration (the REST proxy client identity)."""


@app_group.command("register")
@spec_options
@click.option("--rotate", is_flag=True, help="Add a new client secret, prove it with a token, then remove this "
                                             "environment's older ones.")
@click.option("--keep-old", is_flag=True, help="With --rotate: keep the older secrets (they expire on their own).")
@click.option("--show-secret", is_flag=True, help="Print the client secret (otherwise only its 0600 file path).")
@command
def app_register(**params: Any) -> None:
    """Application (Graph upsert by uniqueName) + service principal + client secret."""
    from provision.resources import app_registration

    r = Runner(params)

    def result(ctx: Any, state: dict[str, Any]) -> dict[str, Any]:
        app = state["app"]
        out = {k: app.get(k) for k in ("id", "appId", "servicePrincipalId", "secretKeyId")}
        held = run_async(app_registration.held_secret(ctx)) or {}
        out["secretExpires"] = held.get("endDateTime") if held.get("keyId") == app.get("secretKeyId") else None
        out["secretFile"] = str(app_registration.secret_path(ctx))
        if r.extra.get("show_secret"):
            out["clientSecret"] = held.get("clientSecret")
        return out

    _step(r, "app", result, create=("resource_group", "vault"), rotate=r.extra.get("rotate", False),
          keep_old=r.extra.get("keep_old", False))


@click.group("group")
def group_group() -> None:
    """The security group whose members may call the REST proxy."""


def _group_result(ctx: Any, state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state["group"].items() if not k.startswith("_")}


@group_group.command("create")
@spec_options
@command
def group_create(**params: Any) -> None:
    """Security group (upsert by uniqueName), checked securityEnabled true and mailEnabled false."""
    _step(Runner(params), "group", _group_result)


@group_group.command("add-member")
@spec_options
@click.option("--sp-object-id", default=None, help="Service principal to add (default: this environment's app).")
@command
def group_add_member(**params: Any) -> None:
    """Add a service principal to the group and verify it with checkMemberGroups."""
    r = Runner(params)
    sp_id = r.extra.get("sp_object_id")
    if sp_id:  # someone else's service principal: membership only, through the group's resource
        from provision.resources import group_membership, security_group

        ctx = r.context()

        async def add_other() -> tuple[Any, dict[str, Any]]:
            group = await security_group.find(ctx)
            if group is None:
                raise ProvisionError(f"security group {ctx.spec.values['group.name']} does not exist; "
                                     f"{security_group.SECURITY_GROUP.missing_hint}")
            member = await group_membership.is_member(ctx, sp_id, group["id"])
            action = "noop" if member else "create"
            if not member:
                await group_membership.add(ctx, sp_id, group["id"])
            return Change(group_membership.RESOURCE, f"{sp_id} in {group['displayName']}", action), {
                "group": group["id"], "member": sp_id}

        with r.locked(ctx):
            change, out = run_async(add_other())
        emit(r, {"changes": [change.as_dict()], "result": out},
             lambda: (print_plan([change]), click.echo(json.dumps(out, indent=2))))
        return
    _step(r, "membership", lambda ctx, state: state["membership"])


@click.group("network")
def network_group() -> None:
    """NSG rules and subnet for the cluster."""


@network_group.command("open")
@spec_options
@command
def network_open(**params: Any) -> None:
    """Inbound allow rules for 443 (HDInsight tag + client CIDRs) and 9400; associate the NSG with the subnet."""
    from provision.resources.base import props

    def result(ctx: Any, state: dict[str, Any]) -> dict[str, Any]:
        net = state["network"]
        return {"nsg": (net["nsg"] or {}).get("id"), "subnet": (net["subnet"] or {}).get("id"),
                "rules": sorted(rule["name"] for rule in props(net["nsg"]).get("securityRules") or [])}

    _step(Runner(params), "network", result, create=("resource_group",))


@click.group("storage")
def storage_group() -> None:
    """The cluster's storage account and container."""


@storage_group.command("ensure")
@spec_options
@command
def storage_ensure(**params: Any) -> None:
    """Storage account + blob container."""
    _step(Runner(params), "storage", lambda ctx, state: {"account": ctx.spec.values["storage.account"],
                                                         "container": ctx.spec.values["storage.container"]},
          create=("resource_group",))


@click.group("cluster")
def cluster_group() -> None:
    """The HDInsight Kafka cluster with the REST proxy."""


@cluster_group.command("deploy")
@spec_options
@click.option("--wait/--no-wait", default=True, show_default=True)
@command
def cluster_deploy(**params: Any) -> None:
    """Preflight, then the HDInsight Kafka PUT with kafkaRestProperties; progress until Running."""
    from provision.resources import hdinsight_kafka
    from provision.resources.base import props

    def result(ctx: Any, state: dict[str, Any]) -> dict[str, Any]:
        cluster = state["cluster"] or {}
        return {"name": ctx.spec.values["cluster.name"], "provisioningState": props(cluster).get("provisioningState"),
                "clusterState": props(cluster).get("clusterState"),
                "endpoint": hdinsight_kafka.rest_proxy_endpoint(cluster)}

    r = Runner(params)
    _step(r, "cluster", result, wait=r.extra.get("wait", True))


GROUPS = [app_group, group_group, network_group, storage_group, cluster_group]
