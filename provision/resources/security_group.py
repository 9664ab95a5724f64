"""The Entra security group whose members may call the REST proxy (the cluster's clientGroupInfo).

Ours: found by this environment's uniqueName (`<display name>-<environment key>`), which nobody else uses. A group
named by `group.id`, or one with the wanted display name adopted with --adopt, is external: we add our member to
it and nothing else. A group with the wanted display name that is neither is a conflict.
"""

from __future__ import annotations

from typing import Any

from provision import graphapi
from provision.plan import Change
from provision.resources.base import EXTERNAL, OURS, Resource, conflict, other_environments

RESOURCE = "security group"
SELECT = "$select=id,displayName,uniqueName,mailNickname,securityEnabled,mailEnabled,description,groupTypes"


def description(ctx: Any) -> str:
    return (f"Clients allowed to call the Kafka REST proxy (environment {ctx.spec.values['name']} "
            f"{ctx.env_key}, managed by provision)")


async def find(ctx: Any) -> dict[str, Any] | None:
    """The environment's group (ours or external), None when there is none; a conflicting one is refused."""
    from provision.errors import AlreadyExists

    g = await SECURITY_GROUP.read(ctx, {})
    if g is not None and g["_ownership"] == "conflict":
        change = SECURITY_GROUP.diff(ctx, g, {})[0]
        raise AlreadyExists(f"{change.resource} {change.name}: {change.note}")
    return g


class SecurityGroup(Resource):
    key = "group"
    kind = RESOURCE
    missing_hint = "run `provision group create` (or `provision up`) first"

    def label(self, ctx: Any) -> str:
        return ctx.spec.values["group.name"]

    async def read(self, ctx: Any, deps: dict[str, Any]) -> Any:
        name, by_id = self.label(ctx), ctx.spec.values["group.id"]
        if by_id:
            g = await graphapi.get_or_none(ctx, f"/groups/{by_id}?{SELECT}")
            if g is None:
                from provision.errors import InvalidInput

                raise InvalidInput(f"group.id: no group {by_id} in tenant {ctx.tenant_id}; fix the id or unset it")
            return {**g, "_ownership": EXTERNAL}
        g = await graphapi.get_or_none(ctx, f"/groups(uniqueName={graphapi.key(ctx.unique_name(name))})?{SELECT}")
        if g is not None:
            return {**g, "_ownership": OURS}
        same = other_environments(ctx, name, (await graphapi.call(
            ctx, "GET", f"/groups?$filter=displayName eq {graphapi.key(name)}&{SELECT}"))["value"])
        if not same:
            return None
        if ctx.adopt and len(same) == 1:
            return {**same[0], "_ownership": EXTERNAL}
        return {**same[0], "_ownership": "conflict", "_count": len(same)}

    def diff(self, ctx: Any, actual: Any, deps: dict[str, Any]) -> list[Change]:
        name = self.label(ctx)
        if actual is None:
            return [Change(RESOURCE, name, "create", {"displayName": (None, name), "securityEnabled": (None, True),
                                                       "mailEnabled": (None, False)})]
        if actual["_ownership"] == "conflict":
            what = (f"group '{name}' ({actual['id']})" if actual["_count"] == 1 else
                    f"{actual['_count']} groups named '{name}'")
            return [conflict(RESOURCE, name, what, by_id="group.id", rename="group.name")]
        if actual.get("securityEnabled") is not True or actual.get("mailEnabled") is not False:
            # The REST proxy only honours security groups, and Graph cannot turn an M365 group into one.
            return [Change(RESOURCE, name, "failed", actual=actual,
                           note=f"group {actual['displayName']} ({actual['id']}) is not a security group "
                                f"(securityEnabled={actual.get('securityEnabled')}, mailEnabled="
                                f"{actual.get('mailEnabled')}); choose another group")]
        return [Change(RESOURCE, actual["displayName"], "noop", actual=actual,
                       note="" if actual["_ownership"] == OURS else "external: used as is, only our member added")]

    async def apply(self, ctx: Any, changes: list[Change], actual: Any, deps: dict[str, Any]) -> Any:
        from provision.consistency import retry_lag

        name = self.label(ctx)
        unique = ctx.unique_name(name)
        body = {"displayName": name, "mailEnabled": False, "securityEnabled": True, "groupTypes": [],
                "mailNickname": ctx.spec.values["group.mail_nickname"], "description": description(ctx)}
        path = f"/groups(uniqueName={graphapi.key(unique)})"
        g = await graphapi.upsert(ctx, "groups", unique, body)
        if g is None:  # 204: a racing run created it first; the alternate key reads consistently
            g = await retry_lag(lambda: graphapi.call(ctx, "GET", f"{path}?{SELECT}"), what=f"group {name}")
        ctx.created.add(g["id"])
        ctx.event(RESOURCE, f"security group {name} ({g['id']})")
        return {**g, "_ownership": OURS}

    async def delete(self, ctx: Any, actual: Any, deps: dict[str, Any]) -> list[Change]:
        if actual is None or actual["_ownership"] != OURS:
            return []
        try:
            await graphapi.call(ctx, "DELETE", f"/groups/{actual['id']}")
        except graphapi.GraphError as e:
            if e.response_status_code != 404:
                raise
        await graphapi.purge_deleted(ctx, actual["id"])  # out of the recycle bin: the name is free again
        return [Change(RESOURCE, actual["displayName"], "delete", note="deleted permanently")]


SECURITY_GROUP = SecurityGroup()
