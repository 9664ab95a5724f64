"""The resource group that holds everything this tool creates.

A group named explicitly (flag, env, file) is the user's choice: used as is, never tagged or deleted. The derived
default `rg-<name>` that exists without this environment's tags is a conflict unless --adopt.
"""

from __future__ import annotations

from typing import Any

from provision import armapi
from provision.plan import Change
from provision.resources.base import EXTERNAL, OURS, Resource, arm_owned, conflict, wire

RESOURCE = "resource group"


class ResourceGroup(Resource):
    key = "resource_group"
    kind = RESOURCE
    apply_imports = ("azure.mgmt.resource.resources", "azure.mgmt.resource.resources.models")

    def label(self, ctx: Any) -> str:
        return ctx.spec.values["resource_group"]

    async def read(self, ctx: Any, deps: dict[str, Any]) -> Any:
        rg = await armapi.get(ctx, armapi.rg_path(ctx), armapi.RESOURCES)
        if rg is None:
            return None
        rg["_ownership"] = OURS if arm_owned(ctx, rg.get("tags")) else EXTERNAL
        return rg

    def diff(self, ctx: Any, actual: Any, deps: dict[str, Any]) -> list[Change]:
        name = self.label(ctx)
        if actual is None:
            return [Change(RESOURCE, name, "create", {"location": (None, ctx.spec.values["location"]),
                                                       "tags": (None, ctx.spec.managed_tags)})]
        if (actual["_ownership"] == EXTERNAL and ctx.spec.sources.get("resource_group") == "derived"
                and not ctx.adopt):
            return [conflict(RESOURCE, name, f"resource group {name}", rename="--resource-group")]
        return [Change(RESOURCE, name, "noop", actual=actual,
                       note="" if actual["_ownership"] == OURS else "not created by provision: used as is")]

    async def apply(self, ctx: Any, changes: list[Change], actual: Any, deps: dict[str, Any]) -> Any:
        from azure.mgmt.resource.resources.models import ResourceGroup as Model

        rg = wire(await ctx.arm_call(ctx.resource.resource_groups.create_or_update, self.label(ctx),
                                     Model(location=ctx.spec.values["location"], tags=ctx.spec.managed_tags)))
        ctx.event(RESOURCE, f"{rg['name']} in {rg['location']}")
        return {**rg, "_ownership": OURS}

    async def delete(self, ctx: Any, actual: Any, deps: dict[str, Any]) -> list[Change]:
        if actual is None or actual["_ownership"] != OURS:
            return []
        name = self.label(ctx)
        # Our own resources were deleted one by one before this; anything left was put here by someone else.
        others = [r.name for r in await ctx.arm_call(lambda: list(ctx.resource.resources.list_by_resource_group(
            name))) if not arm_owned(ctx, r.tags)]
        if others:
            return [Change(RESOURCE, name, "noop", note=f"kept: it holds resources provision did not create "
                                                        f"({', '.join(sorted(others)[:5])})")]
        await ctx.lro(ctx.resource.resource_groups.begin_delete, name, what=f"deleting resource group {name}")
        return [Change(RESOURCE, name, "delete")]


RESOURCE_GROUP = ResourceGroup()
