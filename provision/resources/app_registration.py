"""Entra app registration + its service principal + a client secret (the REST proxy's client identity).

Found again by `uniqueName` (Graph upsert key), so re-runs never duplicate. A new secret is added only when no
valid one that we hold is left (or on rotate); its text goes to a 0600 file and is shown only on request.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from provision.context import Context, write_private
from provision.plan import KNOWN_AFTER_APPLY, Change
from provision.resources import graph_util
from provision.resources.graph_util import RENEW_BEFORE, get_or_none

RESOURCE = "app registration"
SECRET_DISPLAY_NAME = "provision"


def tags(ctx: Context) -> list[str]:
    return ["provision", f"provision-environment:{ctx.spec.values['name']}"]


def secret_path(ctx: Context):
    return ctx.secret_file("client-secret.json")


def load_secret(ctx: Context) -> dict[str, Any] | None:
    try:
        return json.loads(secret_path(ctx).read_text())
    except (OSError, ValueError):
        return None


async def read(ctx: Context) -> dict[str, Any] | None:
    name = ctx.spec.values["app.name"]
    app = await get_or_none(lambda: ctx.graph.applications_with_unique_name(name).get())
    if app is None:
        return None
    sp = await get_or_none(lambda: ctx.graph.service_principals_with_app_id(app.app_id).get())
    held = load_secret(ctx)
    now = dt.datetime.now(dt.timezone.utc)
    valid = None
    for cred in app.password_credentials or []:
        if held and held.get("appId") == app.app_id and str(cred.key_id) == held.get("keyId") \
                and cred.end_date_time and cred.end_date_time > now + RENEW_BEFORE:
            valid = cred
    return {"id": app.id, "appId": app.app_id, "displayName": app.display_name, "tags": list(app.tags or []),
            "servicePrincipalId": sp.id if sp else None,
            "secretKeyId": str(valid.key_id) if valid else None,
            "secretExpires": valid.end_date_time.isoformat() if valid else None,
            "passwordCredentials": [{"keyId": str(c.key_id), "displayName": c.display_name,
                                     "endDateTime": c.end_date_time.isoformat() if c.end_date_time else None}
                                    for c in app.password_credentials or []]}


def diff(ctx: Context, actual: dict[str, Any] | None, *, rotate: bool = False) -> Change:
    name = ctx.spec.values["app.name"]
    if actual is None:
        return Change(RESOURCE, name, "create", {"displayName": (None, name), "servicePrincipal": (None, "create"),
                                                  "clientSecret": (None, KNOWN_AFTER_APPLY)})
    fields: dict[str, tuple[Any, Any]] = {}
    if actual["displayName"] != name:
        fields["displayName"] = (actual["displayName"], name)
    if not actual["servicePrincipalId"]:
        fields["servicePrincipal"] = (None, "create")
    if rotate or not actual["secretKeyId"]:
        fields["clientSecret"] = (actual["secretKeyId"], KNOWN_AFTER_APPLY)
    return Change(RESOURCE, name, "update" if fields else "noop", fields, actual)


async def apply(ctx: Context, change: Change) -> dict[str, Any]:
    from msgraph.generated.models.application import Application
    from msgraph.generated.models.service_principal import ServicePrincipal

    name = ctx.spec.values["app.name"]
    actual = dict(change.actual or {})
    if change.action == "create" or "displayName" in change.fields:
        created, _ = await graph_util.upsert_application(
            ctx.graph, name, Application(display_name=name, sign_in_audience="AzureADMyOrg", tags=tags(ctx)))
        actual.update(id=created.id, appId=created.app_id, displayName=created.display_name)
        ctx.event(RESOURCE, f"application {name} ({created.app_id})")
    if not actual.get("servicePrincipalId"):
        sp, _ = await graph_util.ensure_service_principal(
            ctx.graph, actual["appId"], ServicePrincipal(tags=["WindowsAzureActiveDirectoryIntegratedApp"]),
            what=f"service principal of {name}")
        actual["servicePrincipalId"] = sp.id
        ctx.event(RESOURCE, f"service principal {sp.id}")
    if "clientSecret" in change.fields:
        old = load_secret(ctx)
        held = old if old and old.get("appId") == actual["appId"] else None
        pw = await graph_util.add_secret(ctx.graph, actual["id"], SECRET_DISPLAY_NAME,
                                         ctx.spec.values["app.credential_days"], what=f"client secret of {name}")
        write_private(secret_path(ctx), json.dumps({
            "appId": actual["appId"], "tenantId": ctx.tenant_id, "keyId": str(pw.key_id),
            "endDateTime": pw.end_date_time.isoformat(), "clientSecret": pw.secret_text}, indent=2))
        actual.update(secretKeyId=str(pw.key_id), secretExpires=pw.end_date_time.isoformat())
        ctx.event(RESOURCE, f"client secret {pw.key_id} written to {secret_path(ctx)} (0600)")
        creds = actual.get("passwordCredentials", [])
        if held is None:
            # No secret held here (new machine, CI runner): the ones this tool added elsewhere are unusable from
            # here and would pile up; remove them (secrets with other display names are left alone).
            stale = [c["keyId"] for c in creds if c.get("displayName") == SECRET_DISPLAY_NAME
                     and c["keyId"] != str(pw.key_id)]
        else:
            stale = [held["keyId"]] if held.get("keyId") != str(pw.key_id) and any(
                c["keyId"] == held.get("keyId") for c in creds) else []
        for key_id in stale:
            await remove_secret(ctx, actual["id"], key_id)
    return actual


async def remove_secret(ctx: Context, app_object_id: str, key_id: str) -> None:
    if await graph_util.remove_secret(ctx.graph, app_object_id, key_id):
        ctx.event(RESOURCE, f"removed the previous client secret {key_id}")


def created_by_us(ctx: Context, actual: dict[str, Any]) -> bool:
    return f"provision-environment:{ctx.spec.values['name']}" in actual.get("tags", [])


async def delete(ctx: Context, actual: dict[str, Any]) -> None:
    await ctx.graph.applications.by_application_id(actual["id"]).delete()
    try:
        secret_path(ctx).unlink()
    except OSError:
        pass
