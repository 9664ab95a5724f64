"""Where secrets live. With `secrets.key_vault` set, Azure Key Vault is the system of record: every machine — a CI
runner, a colleague's laptop — reads the current value from it, so nobody mints a credential just because it has
no local copy. Without it, secrets stay in 0600 files in the environment's state directory.

Secret names in the vault: `<env>-client-secret`, `<env>-gateway-password`, `<env>-ssh-password`, and
`client-<name>` for each granted client. Tags say which credential a value belongs to (appId, keyId).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from provision.errors import ProvisionError

REFERENCE = re.compile(r"@Microsoft\.KeyVault\(SecretUri=(?P<uri>[^)]+)\)")


def configured(ctx: Any) -> bool:
    return bool(ctx.spec.values.get("secrets.key_vault"))


def vault_location(ctx: Any) -> tuple[str, str, bool]:
    """(resource group, vault name, named by id)."""
    value = ctx.spec.values["secrets.key_vault"]
    if value.startswith("/"):
        parts = value.rstrip("/").split("/")
        return parts[4], parts[8], True
    return ctx.spec.values["resource_group"], value, False


def secret_name(ctx: Any, what: str) -> str:
    """`<env>-client-secret` etc. Key Vault names allow letters, digits and hyphens only."""
    return re.sub(r"[^A-Za-z0-9-]", "-", f"{ctx.spec.values['name']}-{what}")[:127]


def client_secret_name(client: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", f"client-{client}")[:127]


async def vault_uri(ctx: Any) -> str:
    """The vault's data-plane URL (read once per run)."""
    uri = ctx.results.get("vaultUri")
    if uri:
        return uri
    from azure.core.exceptions import ResourceNotFoundError

    rg, name, _ = vault_location(ctx)
    try:
        vault = await ctx.arm_call(ctx.keyvault.vaults.get, rg, name)
    except ResourceNotFoundError:
        raise ProvisionError(f"secrets.key_vault: vault {name} does not exist in resource group {rg}; run "
                             f"`provision up` first") from None
    ctx.results["vaultUri"] = vault.properties.vault_uri
    return ctx.results["vaultUri"]


async def client(ctx: Any) -> Any:
    from azure.keyvault.secrets import SecretClient

    uri = await vault_uri(ctx)
    cached = ctx.results.get("_secretClient")
    if cached is None or cached.vault_url.rstrip("/") != uri.rstrip("/"):
        kw = {"connection_verify": ctx.cloud.ca_bundle} if ctx.cloud.ca_bundle else {}
        cached = ctx.results["_secretClient"] = SecretClient(uri, ctx.credential, **kw)
    return cached


async def get(ctx: Any, name: str) -> dict[str, Any] | None:
    """The current version of a secret: value, tags, expiry, content type; None when absent or deleted."""
    from azure.core.exceptions import ResourceNotFoundError

    c = await client(ctx)
    try:
        s = await ctx.arm_call(c.get_secret, name)
    except ResourceNotFoundError:
        return None
    p = s.properties
    return {"value": s.value, "tags": dict(p.tags or {}), "expires": p.expires_on.isoformat() if p.expires_on else None,
            "contentType": p.content_type, "id": s.id, "version": p.version}


async def put(ctx: Any, name: str, value: str, *, content_type: str, expires: str | None = None,
              tags: dict[str, str] | None = None) -> dict[str, Any]:
    """A new version of the secret (a soft-deleted one of that name is recovered first, as Key Vault requires)."""
    from azure.core.exceptions import HttpResponseError

    c = await client(ctx)
    kw: dict[str, Any] = {"content_type": content_type, "tags": tags or {}}
    if expires:
        kw["expires_on"] = dt.datetime.fromisoformat(expires.replace("Z", "+00:00"))
    try:
        s = await ctx.arm_call(c.set_secret, name, value, **kw)
    except HttpResponseError as e:
        if getattr(e.error, "code", None) != "ObjectIsDeletedButRecoverable" and e.status_code != 409:
            raise
        poller = await ctx.arm_call(c.begin_recover_deleted_secret, name)
        await ctx.arm_call(poller.wait)
        s = await ctx.arm_call(c.set_secret, name, value, **kw)
    ctx.event("key vault", f"secret {name} version {s.properties.version} stored")
    return {"id": s.id, "version": s.properties.version}


async def delete(ctx: Any, name: str) -> bool:
    """Soft-delete a secret (recoverable for the vault's retention period)."""
    from azure.core.exceptions import ResourceNotFoundError

    c = await client(ctx)
    try:
        poller = await ctx.arm_call(c.begin_delete_secret, name)
    except ResourceNotFoundError:
        return False
    await ctx.arm_call(poller.wait)
    return True


def reference(uri: str, name: str) -> str:
    """Azure's Key Vault reference syntax (App Service, Functions, and `provision kafka --config` resolve it)."""
    return f"@Microsoft.KeyVault(SecretUri={uri.rstrip('/')}/secrets/{name})"


def resolve_reference(value: str, credential: Any, ca_bundle: str | None = None) -> str:
    """The value a Key Vault reference points at, read with the caller's credential; other values unchanged."""
    m = REFERENCE.fullmatch((value or "").strip())
    if not m:
        return value
    from azure.keyvault.secrets import KeyVaultSecretIdentifier, SecretClient

    ident = KeyVaultSecretIdentifier(m.group("uri"))
    kw = {"connection_verify": ca_bundle} if ca_bundle else {}
    with SecretClient(ident.vault_url, credential, **kw) as c:
        return c.get_secret(ident.name, ident.version).value


async def password(ctx: Any, which: str) -> str:
    """gateway_password / ssh_password. With a vault: its `<env>-gateway-password` / `<env>-ssh-password` (made
    once, by whichever machine comes first; a value given by env var is stored there so every machine agrees).
    Without: the env var, else generated once and kept 0600 locally."""
    import os

    from provision.context import generate_password
    from provision.spec import SECRET_ENV

    if not configured(ctx):
        return ctx.password(which)
    name = secret_name(ctx, which.replace("_", "-"))
    given = os.environ.get(SECRET_ENV[which])
    if given:
        ctx.password(which)  # the same checks as without a vault
    current = await get(ctx, name)
    if current is not None and (not given or current["value"] == given):
        return current["value"]
    value = given or generate_password()
    what = {"gateway_password": "HDInsight cluster login (gateway) password",
            "ssh_password": "HDInsight SSH password"}[which]
    await put(ctx, name, value, content_type=what, tags={"environment": ctx.spec.values["name"]})
    return value


# -- synchronous twins, for code paths that are not async (a CLI option's default, a file record) ---------------
def client_sync(ctx: Any) -> Any:
    from azure.keyvault.secrets import SecretClient

    if not ctx.results.get("vaultUri"):
        rg, name, _ = vault_location(ctx)
        ctx.results["vaultUri"] = ctx.keyvault.vaults.get(rg, name).properties.vault_uri
    cached = ctx.results.get("_secretClientSync")
    if cached is None:
        kw = {"connection_verify": ctx.cloud.ca_bundle} if ctx.cloud.ca_bundle else {}
        cached = ctx.results["_secretClientSync"] = SecretClient(ctx.results["vaultUri"], ctx.credential, **kw)
    return cached


def get_sync(ctx: Any, name: str) -> dict[str, Any] | None:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        s = client_sync(ctx).get_secret(name)
    except ResourceNotFoundError:
        return None
    p = s.properties
    return {"value": s.value, "tags": dict(p.tags or {}), "expires": p.expires_on.isoformat() if p.expires_on else None,
            "contentType": p.content_type, "id": s.id, "version": p.version}
