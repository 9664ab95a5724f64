"""Membership of the environment's service principal in the security group: a composite resource (group, member)
with no update, as in terraform-provider-azuread's group_member. Verified with checkMemberGroups.

`down` removes the membership only when this environment made the app or the group (then it surely added it);
between an adopted app and an adopted group it cannot tell, and leaves it.
"""

from __future__ import annotations

from typing import Any

from provision import graphapi
from provision.plan import KNOWN_AFTER_APPLY, Change
from provision.resources.base import OURS, Resource

RESOURCE = "group membership"


async def is_member(ctx: Any, sp_id: str, group_id: str) -> bool:
    res = await graphapi.call(ctx, "POST", f"/servicePrincipals/{sp_id}/checkMemberGroups", {"groupIds": [group_id]})
    return group_id in (res.get("value") or [])


async def add(ctx: Any, sp_id: str, group_id: str) -> dict[str, Any]:
    """Add (an earlier attempt that landed counts as success) and wait until checkMemberGroups agrees."""
    from provision.consistency import retry_lag, wait_until

    ref = {"@odata.id": f"{ctx.cloud.graph_v1}/directoryObjects/{sp_id}"}

    async def post() -> None:
        try:
            await graphapi.call(ctx, "POST", f"/groups/{group_id}/members/$ref", ref)
        except graphapi.GraphError as e:
            if not (e.response_status_code == 400 and "already exist" in e.message):
                raise

    fresh = sp_id in ctx.created or group_id in ctx.created
    await retry_lag(post, what=f"adding {sp_id} to group {group_id}", expect_lag=fresh)
    await wait_until(lambda: is_member(ctx, sp_id, group_id), what=f"membership of {sp_id} in {group_id}")
    ctx.event(RESOURCE, f"{sp_id} is a member of {group_id} (checkMemberGroups)")
    return {"group": group_id, "member": sp_id}


async def remove(ctx: Any, sp_id: str, group_id: str) -> bool:
    try:
        await graphapi.call(ctx, "DELETE", f"/groups/{group_id}/members/{sp_id}/$ref")
    except graphapi.GraphError as e:
        if e.response_status_code != 404:
            raise
        return False
    return True


def _ids(deps: dict[str, Any]) -> tuple[str | None, str | None]:
    app, group = deps.get("app") or {}, deps.get("group") or {}
    usable = ("ours", "external")
    return (app.get("servicePrincipalId") if app.get("_ownership") in usable else None,
            group.get("id") if group.get("_ownership") in usable else None)


class GroupMembership(Resource):
    key = "membership"
    kind = RESOURCE
    depends_on = ("group", "app")

    def label(self, ctx: Any) -> str:
        return f"{ctx.spec.values['app.name']} in {ctx.spec.values['group.name']}"

    async def read(self, ctx: Any, deps: dict[str, Any]) -> Any:
        sp_id, group_id = _ids(deps)
        if not sp_id or not group_id:
            return None
        return {"group": group_id, "member": sp_id} if await is_member(ctx, sp_id, group_id) else None

    def diff(self, ctx: Any, actual: Any, deps: dict[str, Any]) -> list[Change]:
        if actual is None:
            return [Change(RESOURCE, self.label(ctx), "create",
                           {"member": (None, _ids(deps)[0] or KNOWN_AFTER_APPLY)})]
        return [Change(RESOURCE, self.label(ctx), "noop", actual=actual)]

    async def apply(self, ctx: Any, changes: list[Change], actual: Any, deps: dict[str, Any]) -> Any:
        return await add(ctx, deps["app"]["servicePrincipalId"], deps["group"]["id"])

    async def delete(self, ctx: Any, actual: Any, deps: dict[str, Any]) -> list[Change]:
        if actual is None:
            return []
        if OURS not in ((deps.get("app") or {}).get("_ownership"), (deps.get("group") or {}).get("_ownership")):
            return []
        if await remove(ctx, actual["member"], actual["group"]):
            return [Change(RESOURCE, self.label(ctx), "delete")]
        return []


GROUP_MEMBERSHIP = GroupMembership()
