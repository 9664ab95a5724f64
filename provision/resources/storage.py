"""The cluster's default storage: a StorageV2 account and a blob container.

The derived account name is stable per environment (subscription, resource group, name), so a racing run finds
its twin's account instead of calling the name taken. An account with the wanted name in the resource group that
this environment did not tag is a conflict unless --adopt (then used as is, never deleted).
"""

from __future__ import annotations

import asyncio
from typing import Any

from provision import armapi
from provision.errors import InvalidInput
from provision.plan import Change
from provision.resources.base import EXTERNAL, OURS, Resource, arm_owned, conflict, wire

RESOURCE_ACCOUNT = "storage account"
RESOURCE_CONTAINER = "blob container"


def account_parameters(location: Any, tags: Any) -> Any:
    """The storage account the cluster uses (also the template export's source)."""
    from azure.mgmt.storage.models import Sku, StorageAccountCreateParameters

    return StorageAccountCreateParameters(sku=Sku(name="Standard_LRS"), kind="StorageV2", location=location,
                                          tags=tags, enable_https_traffic_only=True, minimum_tls_version="TLS1_2",
                                          allow_blob_public_access=False)


def container_body() -> Any:
    from azure.mgmt.storage.models import BlobContainer

    return BlobContainer()


async def key(ctx: Any) -> str:
    """The account's first key (read once per run: the storage step fetches it as soon as the account exists, so
    the cluster step does not wait for it)."""
    if "storageKey" not in ctx.results:
        keys = await ctx.arm_call(ctx.storage.storage_accounts.list_keys, ctx.spec.values["resource_group"],
                                  ctx.spec.values["storage.account"])
        # as_dict: in the TypeSpec-generated models `.keys` is the Mapping method, not the field
        ctx.results["storageKey"] = keys.as_dict()["keys"][0]["value"]
    return ctx.results["storageKey"]


def blob_host(ctx: Any) -> str:
    return f"{ctx.spec.values['storage.account']}.blob.{ctx.cloud.blob_suffix}"


class Storage(Resource):
    key = "storage"
    kind = RESOURCE_ACCOUNT
    depends_on = ("resource_group",)
    apply_imports = ("azure.mgmt.storage", "azure.mgmt.storage.models")
    read_after = ()  # reads on its own (a missing resource group reads as absent too)
    missing_hint = "run `provision storage ensure` (or `provision up`) first"

    def label(self, ctx: Any) -> str:
        return ctx.spec.values["storage.account"]

    def exists(self, actual: Any) -> bool:
        return bool(actual and actual["account"] and actual["container"])

    async def read(self, ctx: Any, deps: dict[str, Any]) -> Any:
        account, container = ctx.spec.values["storage.account"], ctx.spec.values["storage.container"]
        out: dict[str, Any] = {"account": None, "container": None}
        path = f"{armapi.rg_path(ctx)}/providers/Microsoft.Storage/storageAccounts/{account}"
        out["account"] = await armapi.get(ctx, path, armapi.STORAGE)
        if out["account"] is None:
            return out
        owned = arm_owned(ctx, out["account"].get("tags"))
        out["account"]["_ownership"] = OURS if owned else (EXTERNAL if ctx.adopt else "conflict")
        out["container"] = await armapi.get(ctx, f"{path}/blobServices/default/containers/{container}", armapi.STORAGE)
        return out

    def diff(self, ctx: Any, actual: Any, deps: dict[str, Any]) -> list[Change]:
        account, container = self.label(ctx), ctx.spec.values["storage.container"]
        changes = []
        if actual["account"] is None:
            changes.append(Change(RESOURCE_ACCOUNT, account, "create", {"kind": (None, "StorageV2"),
                                                                        "sku": (None, "Standard_LRS")}))
        elif actual["account"]["_ownership"] == "conflict":
            return [conflict(RESOURCE_ACCOUNT, account, f"storage account {account}", rename="storage.account")]
        else:
            changes.append(Change(RESOURCE_ACCOUNT, account, "noop", actual=actual["account"]))
        if actual["container"] is None:
            changes.append(Change(RESOURCE_CONTAINER, container, "create"))
        else:
            changes.append(Change(RESOURCE_CONTAINER, container, "noop", actual=actual["container"]))
        return changes

    async def preflight(self, ctx: Any, actual: Any) -> None:
        """A new account's name is global: checked before any write (exit 2 with the fix when taken)."""
        if actual["account"] is not None:
            return
        account = self.label(ctx)
        avail = await armapi.action(
            ctx, f"{armapi.subscription_path(ctx)}/providers/Microsoft.Storage/checkNameAvailability",
            armapi.STORAGE, {"name": account, "type": "Microsoft.Storage/storageAccounts"})
        if not avail.get("nameAvailable"):
            again = await self.read(ctx, {})  # a twin run of this environment may have made it meanwhile
            if again["account"] is None or again["account"]["_ownership"] != OURS:
                raise InvalidInput(f"storage.account: '{account}' is taken ({avail.get('message')}); storage "
                                   f"account names are global: choose another")

    async def apply(self, ctx: Any, changes: list[Change], actual: Any, deps: dict[str, Any]) -> Any:
        from azure.core.exceptions import HttpResponseError

        rg, account, container = (ctx.spec.values[k] for k in ("resource_group", "storage.account",
                                                                 "storage.container"))
        made: dict[str, Any] = {}  # what this run made: its operations' answers
        if any(c.resource == RESOURCE_ACCOUNT and c.action == "create" for c in changes):
            # The name was checked in the preflight; a twin run of this environment may have made the account
            # since (then it is in our resource group, tagged, and the PUT just confirms it).
            try:
                made["account"] = wire(await ctx.lro(ctx.storage.storage_accounts.begin_create, rg, account,
                                                     account_parameters(ctx.spec.values["location"],
                                                                        ctx.spec.managed_tags),
                                                     what=f"creating storage account {account}"))
            except HttpResponseError as e:
                again = await self.read(ctx, {}) if e.status_code == 409 else None
                if again is None or again["account"] is None or again["account"]["_ownership"] != OURS:
                    raise
            ctx.event(RESOURCE_ACCOUNT, f"{account} ready")
        if any(c.resource == RESOURCE_CONTAINER and c.action == "create" for c in changes):
            created, _ = await asyncio.gather(  # the key the cluster needs, meanwhile
                ctx.arm_call(ctx.storage.blob_containers.create, rg, account, container, container_body()),
                key(ctx))
            made["container"] = wire(created)
            ctx.event(RESOURCE_CONTAINER, f"{account}/{container}")
        if made.get("account") and made.get("container"):
            # Both made by this run: their answers are the state; a re-read would only delay the cluster.
            return {"account": {**made["account"], "_ownership": OURS}, "container": made["container"]}
        state, _ = await asyncio.gather(self.read(ctx, {}), key(ctx))
        return state

    async def delete(self, ctx: Any, actual: Any, deps: dict[str, Any]) -> list[Change]:
        acct = (actual or {}).get("account")
        if acct is None or acct["_ownership"] != OURS:
            return []
        await ctx.arm_call(ctx.storage.storage_accounts.delete, ctx.spec.values["resource_group"], self.label(ctx))
        return [Change(RESOURCE_ACCOUNT, self.label(ctx), "delete")]


STORAGE = Storage()
