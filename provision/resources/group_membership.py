"""Membership of a service principal in the security group: a composite resource (group, member) with no
update, as in terraform-provider-azuread's group_member. Verified with checkMemberGroups."""

from __future__ import annotations

from typing import Any

from provision.consistency import retry_lag, wait_until
from provision.context import Context
from provision.plan import KNOWN_AFTER_APPLY, Change
from provision.resources.graph_util import is_already_member

RESOURCE = "group membership"


async def is_member(ctx: Context, sp_id: str, group_id: str) -> bool:
    from msgraph.generated.service_principals.item.check_member_groups.check_member_groups_post_request_body import (
        CheckMemberGroupsPostRequestBody,
    )

    res = await ctx.graph.service_principals.by_service_principal_id(sp_id).check_member_groups.post(
        CheckMemberGroupsPostRequestBody(group_ids=[group_id]))
    return group_id in (res.value or [])


async def read(ctx: Context, sp_id: str | None, group_id: str | None) -> dict[str, Any] | None:
    if not sp_id or not group_id:
        return None
    return {"group": group_id, "member": sp_id} if await is_member(ctx, sp_id, group_id) else None


def diff(ctx: Context, actual: dict[str, Any] | None, sp_id: str | None, group_id: str | None) -> Change:
    label = f"{ctx.spec.values['app.name']} in {ctx.spec.values['group.name']}"
    if actual is None:
        return Change(RESOURCE, label, "create", {"member": (None, sp_id or KNOWN_AFTER_APPLY)})
    return Change(RESOURCE, label, "noop", actual=actual)


async def add(ctx: Context, sp_id: str, group_id: str) -> dict[str, Any]:
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError
    from msgraph.generated.models.reference_create import ReferenceCreate

    ref = ReferenceCreate(odata_id=f"{ctx.cloud.graph_v1}/directoryObjects/{sp_id}")

    async def post() -> None:
        try:
            await ctx.graph.groups.by_group_id(group_id).members.ref.post(ref)
        except ODataError as e:
            if not is_already_member(e):  # an earlier attempt may have landed: that is success
                raise

    await retry_lag(post, what=f"adding {sp_id} to group {group_id}")
    await wait_until(lambda: is_member(ctx, sp_id, group_id), what=f"membership of {sp_id} in {group_id}")
    ctx.event(RESOURCE, f"{sp_id} is a member of {group_id} (checkMemberGroups)")
    return {"group": group_id, "member": sp_id}


async def remove(ctx: Context, sp_id: str, group_id: str) -> None:
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

    try:
        await ctx.graph.groups.by_group_id(group_id).members.by_directory_object_id(sp_id).ref.delete()
    except ODataError as e:
        if getattr(e, "response_status_code", None) != 404:
            raise
