"""The Key Vault that holds the environment's secrets (only when `secrets.key_vault` is set).

Made in the environment's resource group with RBAC authorization and soft delete on, tagged like the rest; the
identity running provision gets Key Vault Secrets Officer on it (a role assignment at the vault's scope with a
name derived from vault, principal and role, so re-runs find it). A vault named by resource id is external: we
store our secrets in it and `down` soft-deletes exactly those.
"""

from __future__ import annotations

import uuid
from typing import Any

from provision import armapi, secretstore
from provision.errors import AlreadyExists
from provision.plan import Change
from provision.resources.base import EXTERNAL, OURS, Resource, arm_owned, conflict, props

RESOURCE = "key vault"
SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"  # built-in role "Key Vault Secrets Officer"
ROLE_API = "2022-04-01"


class KeyVault(Resource):
    key = "vault"
    kind = RESOURCE
    depends_on = ("resource_group",)
    apply_imports = ("azure.mgmt.keyvault", "azure.mgmt.keyvault.models", "azure.mgmt.resource.resources.models")
    read_after = ()  # reads on its own (a missing resource group reads as absent too)
    missing_hint = "run `provision up` first"

    def label(self, ctx: Any) -> str:
        return secretstore.vault_location(ctx)[1] if secretstore.configured(ctx) else "(none)"

    def exists(self, actual: Any) -> bool:
        return actual is None or actual.get("configured") is False or "id" in actual

    async def read(self, ctx: Any, deps: dict[str, Any]) -> Any:
        if not secretstore.configured(ctx):
            return {"configured": False}
        rg, name, by_id = secretstore.vault_location(ctx)
        vault = await armapi.get(ctx, f"{armapi.rg_path(ctx, rg)}/providers/Microsoft.KeyVault/vaults/{name}",
                                 armapi.KEYVAULT)
        if vault is None:
            if by_id:
                from provision.errors import InvalidInput

                raise InvalidInput(f"secrets.key_vault: {ctx.spec.values['secrets.key_vault']} does not exist; fix "
                                   f"the id or give a name to have provision create the vault")
            return None
        ctx.results["vaultUri"] = props(vault).get("vaultUri")
        if by_id:
            vault["_ownership"] = EXTERNAL
        else:
            vault["_ownership"] = OURS if arm_owned(ctx, vault.get("tags")) else (EXTERNAL if ctx.adopt else
                                                                                   "conflict")
        return vault

    def diff(self, ctx: Any, actual: Any, deps: dict[str, Any]) -> list[Change]:
        if actual is not None and actual.get("configured") is False:
            return []
        name = self.label(ctx)
        if actual is None:
            return [Change(RESOURCE, name, "create", {"enableRbacAuthorization": (None, True),
                                                       "enableSoftDelete": (None, True)})]
        if actual["_ownership"] == "conflict":
            return [conflict(RESOURCE, name, f"key vault {name}", by_id="secrets.key_vault as a resource id",
                             rename="secrets.key_vault")]
        return [Change(RESOURCE, name, "noop", actual=actual,
                       note="" if actual["_ownership"] == OURS else "external: only our secrets stored in it")]

    async def apply(self, ctx: Any, changes: list[Change], actual: Any, deps: dict[str, Any]) -> Any:
        from azure.mgmt.keyvault.models import VaultCheckNameAvailabilityParameters

        rg, name, _ = secretstore.vault_location(ctx)
        avail = await ctx.arm_call(ctx.keyvault.vaults.check_name_availability,
                                   VaultCheckNameAvailabilityParameters(name=name))
        if not avail.name_available:
            raise AlreadyExists(f"secrets.key_vault: the name '{name}' is taken ({avail.message}); Key Vault names "
                                f"are global (a soft-deleted vault keeps its name until purged): choose another")
        body = {"location": ctx.spec.values["location"], "tags": ctx.spec.managed_tags, "properties": {
            "tenantId": ctx.tenant_id, "sku": {"family": "A", "name": "standard"}, "enableRbacAuthorization": True,
            "enableSoftDelete": True, "softDeleteRetentionInDays": 90}}
        vault = (await ctx.lro(ctx.keyvault.vaults.begin_create_or_update, rg, name, body,
                               what=f"creating key vault {name}")).as_dict()
        await _grant_secrets_officer(ctx, vault["id"])
        ctx.results["vaultUri"] = props(vault).get("vaultUri")
        ctx.event(RESOURCE, f"{name} ready ({ctx.results['vaultUri']})")
        return {**vault, "_ownership": OURS}

    async def delete(self, ctx: Any, actual: Any, deps: dict[str, Any]) -> list[Change]:
        if not actual or actual.get("configured") is False or "id" not in actual:
            return []
        rg, name, _ = secretstore.vault_location(ctx)
        if actual["_ownership"] == OURS:  # soft delete: recoverable for the retention period
            await ctx.arm_call(ctx.keyvault.vaults.delete, rg, name)
            return [Change(RESOURCE, name, "delete", note="soft-deleted with its secrets (purge to free the name)")]
        if actual["_ownership"] != EXTERNAL:
            return []
        done = []
        for what in ("client-secret", "gateway-password", "ssh-password"):
            secret = secretstore.secret_name(ctx, what)
            if await secretstore.delete(ctx, secret):
                done.append(Change(RESOURCE, f"{name}/{secret}", "delete", note="soft-deleted"))
        return done


async def _grant_secrets_officer(ctx: Any, vault_id: str) -> None:
    """Key Vault Secrets Officer for the identity running provision, at the vault's scope (an RBAC vault grants
    its creator no data-plane access by itself). Already assigned counts as done."""
    from azure.core.exceptions import HttpResponseError

    principal = ctx.principal_object_id
    assignment = uuid.uuid5(uuid.NAMESPACE_URL, f"{vault_id.lower()}/{principal}/{SECRETS_OFFICER}")
    role = (f"/subscriptions/{ctx.subscription_id}/providers/Microsoft.Authorization/roleDefinitions/"
            f"{SECRETS_OFFICER}")
    resource_id = f"{vault_id}/providers/Microsoft.Authorization/roleAssignments/{assignment}"
    from azure.mgmt.resource.resources.models import GenericResource

    try:
        body = GenericResource(properties={"roleDefinitionId": role, "principalId": principal})
        await ctx.lro(lambda: ctx.resource.resources.begin_create_or_update_by_id(resource_id, body,
                                                                                  api_version=ROLE_API),
                      what="assigning Key Vault Secrets Officer")
    except HttpResponseError as e:
        if getattr(e.error, "code", None) != "RoleAssignmentExists":
            raise


KEY_VAULT = KeyVault()
