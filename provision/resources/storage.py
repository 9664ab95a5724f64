"""The cluster's default storage: a StorageV2 account and a blob container."""

from __future__ import annotations

from typing import Any

from provision.context import Context
from provision.errors import AlreadyExists
from provision.plan import Change

RESOURCE_ACCOUNT = "storage account"
RESOURCE_CONTAINER = "blob container"


async def read(ctx: Context) -> dict[str, Any]:
    from azure.core.exceptions import ResourceNotFoundError

    rg, account, container = (ctx.spec.values[k] for k in ("resource_group", "storage.account", "storage.container"))
    out: dict[str, Any] = {"account": None, "container": None}
    try:
        out["account"] = await ctx.arm_call(ctx.storage.storage_accounts.get_properties, rg, account)
    except ResourceNotFoundError:
        return out
    try:
        out["container"] = await ctx.arm_call(ctx.storage.blob_containers.get, rg, account, container)
    except ResourceNotFoundError:
        pass
    return out


def diff(ctx: Context, actual: dict[str, Any]) -> list[Change]:
    account, container = ctx.spec.values["storage.account"], ctx.spec.values["storage.container"]
    changes = []
    if actual["account"] is None:
        changes.append(Change(RESOURCE_ACCOUNT, account, "create", {"kind": (None, "StorageV2"),
                                                                    "sku": (None, "Standard_LRS")}))
    else:
        changes.append(Change(RESOURCE_ACCOUNT, account, "noop", actual=actual["account"]))
    if actual["container"] is None:
        changes.append(Change(RESOURCE_CONTAINER, container, "create"))
    else:
        changes.append(Change(RESOURCE_CONTAINER, container, "noop", actual=actual["container"]))
    return changes


def account_parameters(location: Any, tags: Any) -> Any:
    """The storage account the cluster uses (also the template export's source)."""
    from azure.mgmt.storage.models import Sku, StorageAccountCreateParameters

    return StorageAccountCreateParameters(sku=Sku(name="Standard_LRS"), kind="StorageV2", location=location,
                                          tags=tags, enable_https_traffic_only=True, minimum_tls_version="TLS1_2",
                                          allow_blob_public_access=False)


def container_body() -> Any:
    from azure.mgmt.storage.models import BlobContainer

    return BlobContainer()


async def apply(ctx: Context, changes: list[Change]) -> dict[str, Any]:
    from azure.mgmt.storage.models import StorageAccountCheckNameAvailabilityParameters

    rg, account, container = (ctx.spec.values[k] for k in ("resource_group", "storage.account", "storage.container"))
    if any(c.resource == RESOURCE_ACCOUNT and c.action == "create" for c in changes):
        avail = await ctx.arm_call(ctx.storage.storage_accounts.check_name_availability,
                                   StorageAccountCheckNameAvailabilityParameters(name=account))
        if not avail.name_available:
            raise AlreadyExists(f"storage.account: '{account}' is taken ({avail.message}); choose another name")
        poller = await ctx.arm_call(ctx.storage.storage_accounts.begin_create, rg, account,
                                    account_parameters(ctx.spec.values["location"], ctx.spec.managed_tags))
        await ctx.arm_call(poller.result)
        ctx.event(RESOURCE_ACCOUNT, f"{account} ready")
    if any(c.resource == RESOURCE_CONTAINER and c.action == "create" for c in changes):
        await ctx.arm_call(ctx.storage.blob_containers.create, rg, account, container, container_body())
        ctx.event(RESOURCE_CONTAINER, f"{account}/{container}")
    return await read(ctx)


async def key(ctx: Context) -> str:
    keys = await ctx.arm_call(ctx.storage.storage_accounts.list_keys, ctx.spec.values["resource_group"],
                              ctx.spec.values["storage.account"])
    # as_dict: in the TypeSpec-generated models `.keys` is the Mapping method, not the field
    return keys.as_dict()["keys"][0]["value"]


def blob_host(ctx: Context) -> str:
    return f"{ctx.spec.values['storage.account']}.blob.{ctx.cloud.blob_suffix}"
