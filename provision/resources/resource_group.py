"""The resource group that holds everything this tool creates."""

from __future__ import annotations

from typing import Any

from provision.context import Context
from provision.plan import Change

RESOURCE = "resource group"


async def read(ctx: Context) -> Any | None:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return await ctx.arm_call(ctx.resource.resource_groups.get, ctx.spec.values["resource_group"])
    except ResourceNotFoundError:
        return None


def diff(ctx: Context, actual: Any | None) -> Change:
    name, tags = ctx.spec.values["resource_group"], ctx.spec.managed_tags
    if actual is None:
        return Change(RESOURCE, name, "create", {"location": (None, ctx.spec.values["location"]),
                                                  "tags": (None, tags)})
    # A pre-existing group that we did not create is used as is; we only tag groups we created.
    return Change(RESOURCE, name, "noop", actual=actual)


async def apply(ctx: Context, change: Change) -> Any:
    from azure.mgmt.resource.resources.models import ResourceGroup

    if change.action == "noop":
        return change.actual
    rg = await ctx.arm_call(ctx.resource.resource_groups.create_or_update, ctx.spec.values["resource_group"],
                            ResourceGroup(location=ctx.spec.values["location"], tags=ctx.spec.managed_tags))
    ctx.event(RESOURCE, f"{rg.name} in {rg.location}")
    return rg


def created_by_us(ctx: Context, actual: Any) -> bool:
    tags = actual.tags or {}
    return tags.get("managed-by") == "provision" and tags.get("provision-environment") == ctx.spec.values["name"]
