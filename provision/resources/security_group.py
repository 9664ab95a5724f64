"""The Entra security group whose members may call the REST proxy (the cluster's clientGroupInfo)."""

from __future__ import annotations

from typing import Any

from provision.consistency import retry_lag
from provision.context import Context
from provision.errors import AlreadyExists
from provision.plan import Change
from provision.resources.graph_util import get_or_none, prefer_create_if_missing

RESOURCE = "security group"


def _as_dict(g: Any) -> dict[str, Any]:
    return {"id": g.id, "displayName": g.display_name, "mailNickname": g.mail_nickname,
            "securityEnabled": g.security_enabled, "mailEnabled": g.mail_enabled, "description": g.description}


async def read(ctx: Context) -> dict[str, Any] | None:
    name = ctx.spec.values["group.name"]
    g = await get_or_none(lambda: ctx.graph.groups_with_unique_name(name).get())
    return _as_dict(g) if g else None


def diff(ctx: Context, actual: dict[str, Any] | None) -> Change:
    name = ctx.spec.values["group.name"]
    if actual is None:
        return Change(RESOURCE, name, "create", {"displayName": (None, name), "securityEnabled": (None, True),
                                                  "mailEnabled": (None, False)})
    if actual["securityEnabled"] is not True or actual["mailEnabled"] is not False:
        # The REST proxy only honours security groups, and Graph cannot turn an M365 group into one.
        return Change(RESOURCE, name, "failed", actual=actual,
                      note=f"group {name} ({actual['id']}) exists but is not a security group (securityEnabled="
                           f"{actual['securityEnabled']}, mailEnabled={actual['mailEnabled']}); choose another "
                           f"group.name")
    fields = {}
    if actual["displayName"] != name:
        fields["displayName"] = (actual["displayName"], name)
    return Change(RESOURCE, name, "update" if fields else "noop", fields, actual)


async def apply(ctx: Context, change: Change) -> dict[str, Any]:
    from msgraph.generated.models.group import Group

    name = ctx.spec.values["group.name"]
    if change.action == "failed":
        raise AlreadyExists(change.note)
    if change.action == "noop":
        return change.actual
    body = Group(display_name=name, mail_enabled=False, mail_nickname=ctx.spec.values["group.mail_nickname"],
                 security_enabled=True, group_types=[], description=description(ctx))
    g = await ctx.graph.groups_with_unique_name(name).patch(body, request_configuration=prefer_create_if_missing())
    if g is None:
        g = await retry_lag(lambda: ctx.graph.groups_with_unique_name(name).get(), what=f"group {name}")
    ctx.event(RESOURCE, f"security group {name} ({g.id})")
    return _as_dict(g)


def description(ctx: Context) -> str:
    # Groups carry no tags: the description marks the ones this tool made (what `down` may delete).
    return f"Clients allowed to call the Kafka REST proxy (environment {ctx.spec.values['name']}, managed by provision)"


def created_by_us(ctx: Context, actual: dict[str, Any]) -> bool:
    return actual.get("description") == description(ctx)


async def delete(ctx: Context, actual: dict[str, Any]) -> None:
    await ctx.graph.groups.by_group_id(actual["id"]).delete()
