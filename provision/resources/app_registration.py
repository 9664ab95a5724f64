"""Entra app registration + its service principal + a client secret (the REST proxy's client identity).

Ours: found by this environment's uniqueName and tagged with its id. An app with the wanted display name that is
not ours is a conflict unless --adopt (then we add a service principal if it lacks one, and our secret — nothing
else). Secrets this environment adds are named `provision-<environment key>`; one is removed only when it has
expired, on `--rotate` (after the new one proved itself with a token), or with the app on `down`. A run that has
no local copy of a valid secret (a fresh machine, a CI runner) adds one and leaves the others to their holders.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from provision import graphapi, secretstore
from provision.context import write_private
from provision.plan import KNOWN_AFTER_APPLY, Change
from provision.resources import graph_util
from provision.resources.base import EXTERNAL, OURS, Resource, conflict, other_environments

RESOURCE = "app registration"
SELECT = "$select=id,appId,displayName,uniqueName,tags,passwordCredentials"


def secret_name(ctx: Any) -> str:
    return f"provision-{ctx.env_key}"


def tags(ctx: Any) -> list[str]:
    return ["provision", f"provision-environment:{ctx.spec.values['name']}", ctx.env_tag]


def secret_path(ctx: Any):
    return ctx.secret_file("client-secret.json")


def load_secret(ctx: Any) -> dict[str, Any] | None:
    try:
        return json.loads(secret_path(ctx).read_text())
    except (OSError, ValueError):
        return None


def _ends(c: dict[str, Any]) -> dt.datetime | None:
    v = c.get("endDateTime")
    return dt.datetime.fromisoformat(v.replace("Z", "+00:00")) if v else None


def ours_secrets(ctx: Any, app: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in app.get("passwordCredentials") or [] if c.get("displayName") == secret_name(ctx)]


async def held_secret(ctx: Any) -> dict[str, Any] | None:
    """The environment's client secret as held: the vault's current version when `secrets.key_vault` is set (every
    machine sees the same), else the local 0600 file. Shape: appId, keyId, endDateTime, clientSecret."""
    if not secretstore.configured(ctx):
        return load_secret(ctx)
    s = await secretstore.get(ctx, secretstore.secret_name(ctx, "client-secret"))
    if s is None:
        return None
    return {"appId": s["tags"].get("appId"), "keyId": s["tags"].get("keyId"), "endDateTime": s["expires"],
            "tenantId": ctx.tenant_id, "clientSecret": s["value"]}


def held_key(held: dict[str, Any] | None, app: dict[str, Any]) -> str | None:
    """The keyId of the held secret, if the app still has it and it is not about to expire."""
    if not held or held.get("appId") != app["appId"] or not held.get("clientSecret"):
        return None
    for c in app.get("passwordCredentials") or []:
        if c.get("keyId") == held.get("keyId") and graph_util.valid_until(c.get("endDateTime")):
            return c["keyId"]
    return None


class AppRegistration(Resource):
    key = "app"
    kind = RESOURCE
    depends_on = ("vault",)  # where its secret is held (a no-op without secrets.key_vault)
    apply_imports = ("msgraph", "msgraph.generated.applications.item.add_password.add_password_post_request_body",
                     "msgraph.generated.models.password_credential")
    missing_hint = "run `provision app register` (or `provision up`) first"

    def label(self, ctx: Any) -> str:
        return ctx.spec.values["app.name"]

    async def read(self, ctx: Any, deps: dict[str, Any]) -> Any:
        name = self.label(ctx)
        app = await graphapi.get_or_none(
            ctx, f"/applications(uniqueName={graphapi.key(ctx.unique_name(name))})?{SELECT}")
        ownership = OURS
        if app is None:
            same = other_environments(ctx, name, (await graphapi.call(
                ctx, "GET", f"/applications?$filter=displayName eq {graphapi.key(name)}&{SELECT}"))["value"])
            if not same:
                return None
            if not ctx.adopt or len(same) > 1:
                return {**same[0], "_ownership": "conflict", "_count": len(same)}
            app, ownership = same[0], EXTERNAL
        sp = await graphapi.get_or_none(ctx, f"/servicePrincipals(appId={graphapi.key(app['appId'])})"
                                             f"?$select=id,tags")
        vault_missing = secretstore.configured(ctx) and "vault" in deps and deps["vault"] is None
        held = None if vault_missing else await held_secret(ctx)
        return {**app, "servicePrincipalId": sp["id"] if sp else None, "secretKeyId": held_key(held, app),
                "servicePrincipalOurs": bool(sp and ctx.env_tag in (sp.get("tags") or [])), "_ownership": ownership}

    def diff(self, ctx: Any, actual: Any, deps: dict[str, Any]) -> list[Change]:
        name = self.label(ctx)
        if actual is None:
            return [Change(RESOURCE, name, "create", {"displayName": (None, name),
                                                       "servicePrincipal": (None, "create"),
                                                       "clientSecret": (None, KNOWN_AFTER_APPLY)})]
        if actual["_ownership"] == "conflict":
            what = (f"application '{name}' (app id {actual['appId']})" if actual["_count"] == 1 else
                    f"{actual['_count']} applications named '{name}'")
            return [conflict(RESOURCE, name, what, rename="app.name")]
        fields: dict[str, tuple[Any, Any]] = {}
        if not actual["servicePrincipalId"]:
            fields["servicePrincipal"] = (None, "create")
        if ctx.options.get("rotate") or not actual["secretKeyId"]:
            fields["clientSecret"] = (actual["secretKeyId"], KNOWN_AFTER_APPLY)
        note = "" if actual["_ownership"] == OURS else "external: only a service principal and our secret added"
        if "clientSecret" in fields and not ctx.options.get("rotate"):
            note = (note + "; " if note else "") + "no local copy of a valid client secret: a new one is added"
        return [Change(RESOURCE, name, "update" if fields else "noop", fields, actual, note=note)]

    async def apply(self, ctx: Any, changes: list[Change], actual: Any, deps: dict[str, Any]) -> Any:
        from provision.consistency import retry_lag

        name = self.label(ctx)
        change = changes[0]
        app = dict(actual or {})
        if change.action == "create":
            path = f"/applications(uniqueName={graphapi.key(ctx.unique_name(name))})"
            body = {"displayName": name, "signInAudience": "AzureADMyOrg", "tags": tags(ctx),
                    "notes": f"Kafka REST proxy client of provision environment {ctx.spec.values['name']} "
                             f"({ctx.env_key})"}
            created = await graphapi.upsert(ctx, "applications", ctx.unique_name(name), body)
            if created is None:  # a racing run made it: read it back (the alternate key is consistent)
                created = await retry_lag(lambda: graphapi.call(ctx, "GET", f"{path}?{SELECT}"),
                                          what=f"application {name}")
            ctx.created.add(created["id"])
            app = {**created, "servicePrincipalId": None, "secretKeyId": None, "_ownership": OURS}
            ctx.event(RESOURCE, f"application {name} ({app['appId']})")
        if not app.get("servicePrincipalId"):
            sp = await _ensure_service_principal(ctx, app["appId"], fresh=app["id"] in ctx.created, name=name)
            app["servicePrincipalId"], app["servicePrincipalOurs"] = sp["id"], True
            ctx.event(RESOURCE, f"service principal {sp['id']}")
        if "clientSecret" in change.fields:
            app = await self._new_secret(ctx, app)
        return app

    async def _new_secret(self, ctx: Any, app: dict[str, Any]) -> dict[str, Any]:
        name = self.label(ctx)
        pw = await graph_util.add_secret(ctx.graph, app["id"], secret_name(ctx), ctx.spec.values[
            "app.credential_days"], what=f"client secret of {name}")
        key_id, ends = str(pw.key_id), pw.end_date_time.isoformat()
        if secretstore.configured(ctx):  # the vault is the system of record: no local copy
            await secretstore.put(ctx, secretstore.secret_name(ctx, "client-secret"), pw.secret_text,
                                  content_type=f"client secret of app {app['appId']} (Kafka REST proxy)",
                                  expires=ends, tags={"appId": app["appId"], "keyId": key_id})
        else:
            write_private(secret_path(ctx), json.dumps({
                "appId": app["appId"], "tenantId": ctx.tenant_id, "keyId": key_id, "endDateTime": ends,
                "clientSecret": pw.secret_text}, indent=2))
            ctx.event(RESOURCE, f"client secret {key_id} written to {secret_path(ctx)} (0600)")
        # The client configuration `up --smoke` wrote must not keep a secret about to be removed: it gets the new
        # one (with a vault, which holds the secret, it goes).
        env_file = ctx.state_dir / "client.env"
        try:
            lines = env_file.read_text().splitlines(keepends=True)
        except OSError:
            lines = []
        if f"AZURE_CLIENT_ID={app['appId']}\n" in lines:
            if secretstore.configured(ctx):
                env_file.unlink(missing_ok=True)
            else:
                from provision.access import dotenv_value

                write_private(env_file, "".join(
                    f"AZURE_CLIENT_SECRET={dotenv_value(pw.secret_text)}\n"
                    if line.startswith("AZURE_CLIENT_SECRET=") else line for line in lines))
        now = dt.datetime.now(dt.timezone.utc)
        others = [c for c in ours_secrets(ctx, app) if c.get("keyId") != key_id]
        expired = [c for c in others if (_ends(c) or now) <= now]
        live = [c for c in others if c not in expired]
        if ctx.options.get("rotate") and live and not ctx.options.get("keep_old"):
            await prove_secret(ctx, app["appId"], pw.secret_text)
            expired += live  # asked for: the older ones go, now that the new one works
            live = []
        for c in expired:  # nobody can use an expired secret; rotated ones were asked to go
            if await graph_util.remove_secret(ctx.graph, app["id"], c["keyId"]):
                ctx.event(RESOURCE, f"removed the older client secret {c['keyId']}")
        if live:
            until = max(_ends(c) for c in live if _ends(c)).date().isoformat()
            ctx.event(RESOURCE, f"{len(live)} older client secret(s) of this environment kept until {until} "
                                f"(someone may hold them; `provision app register --rotate` removes them)")
        creds = [c for c in app.get("passwordCredentials") or [] if c not in expired]
        creds.append({"keyId": key_id, "displayName": secret_name(ctx), "endDateTime": ends})
        return {**app, "passwordCredentials": creds, "secretKeyId": key_id, "secretExpires": ends}

    async def delete(self, ctx: Any, actual: Any, deps: dict[str, Any]) -> list[Change]:
        if actual is None or actual["_ownership"] not in (OURS, EXTERNAL):
            return []
        name = actual["displayName"]
        if actual["_ownership"] == OURS:
            try:
                await graphapi.call(ctx, "DELETE", f"/applications/{actual['id']}")
            except graphapi.GraphError as e:
                if e.response_status_code != 404:
                    raise
            # `down` means gone: out of Entra's recycle bin too, so the environment's name is free again
            await graphapi.purge_deleted(ctx, actual["id"])
            done = [Change(RESOURCE, name, "delete", note="deleted permanently")]
        else:  # adopted: take back only what we added — our secrets, and the service principal if we made it
            done = []
            for c in ours_secrets(ctx, actual):
                if await graph_util.remove_secret(ctx.graph, actual["id"], c["keyId"]):
                    done.append(Change(RESOURCE, name, "delete", note=f"our client secret {c['keyId']}"))
            if actual.get("servicePrincipalOurs"):
                try:
                    await graphapi.call(ctx, "DELETE", f"/servicePrincipals/{actual['servicePrincipalId']}")
                except graphapi.GraphError as e:
                    if e.response_status_code != 404:
                        raise
                done.append(Change(RESOURCE, name, "delete", note="the service principal provision made for it"))
        for path in (secret_path(ctx), ctx.state_dir / "client.env"):  # no file keeps a secret that is gone
            try:
                path.unlink()
            except OSError:
                pass
        return done


async def _ensure_service_principal(ctx: Any, app_id: str, *, fresh: bool, name: str) -> dict[str, Any]:
    """Upsert by appId. Right after the app was created Entra may not know it yet (NoBackingApplicationObject):
    that is retried only for an app this run created."""
    from provision.consistency import retry_lag

    path = f"/servicePrincipals(appId={graphapi.key(app_id)})"
    body = {"tags": ["WindowsAzureActiveDirectoryIntegratedApp", ctx.env_tag]}  # ours to delete with an adopted app
    sp = await retry_lag(lambda: graphapi.call(ctx, "PATCH", path, body, headers={"Prefer": "create-if-missing"}),
                         what=f"service principal of {name}", expect_lag=fresh)
    if sp is None:
        sp = await retry_lag(lambda: graphapi.call(ctx, "GET", f"{path}?$select=id,appId"),
                             what=f"service principal of {name}")
    ctx.created.add(sp["id"])
    return sp


async def prove_secret(ctx: Any, app_id: str, secret: str, timeout: float = 60.0) -> None:
    """A token for the REST proxy's scope with the new secret, before anything older is removed."""
    import asyncio
    import time

    from azure.identity import ClientSecretCredential

    from provision.errors import ProvisionError

    kw: dict[str, Any] = {"authority": ctx.cloud.authority}
    if not ctx.cloud.well_known_authority:
        kw["disable_instance_discovery"] = True
    if ctx.cloud.ca_bundle:
        kw["connection_verify"] = ctx.cloud.ca_bundle
    deadline = time.monotonic() + timeout
    while True:
        cred = ClientSecretCredential(ctx.tenant_id, app_id, secret, **kw)
        try:
            await asyncio.to_thread(cred.get_token, ctx.cloud.kafkarest_scope)
            return
        except Exception as e:  # noqa: BLE001 — a new secret may take a moment to replicate
            if time.monotonic() > deadline:
                raise ProvisionError(f"the new client secret of {app_id} got no token within {timeout:.0f}s "
                                     f"({str(e).splitlines()[0]}); the older secrets were kept") from None
            await asyncio.sleep(1.0)
        finally:
            cred.close()


APP_REGISTRATION = AppRegistration()
