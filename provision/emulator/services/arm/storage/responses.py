"""Microsoft.Storage on the wire: storage accounts, their keys, name checks, and blob containers.

Account creation answers as recorded: 202 with an empty body and `Location:
.../providers/Microsoft.Storage/locations/{loc}/asyncoperations/{id}?monitor=true&api-version=...`; polling that
URL gives 202 while the account is being created and then 200 with the account itself (the SDK takes its result
from that last poll: no final GET). A PUT on an account that exists updates it in place: 200 with the account.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request

from provision.emulator import wire
from provision.emulator.app import emulator_of
from provision.emulator.services.arm import core
from provision.emulator.services.arm.storage import models
from provision.emulator.wire import ArmError

SUB = "/subscriptions/{subscription}"
PROVIDER = SUB + "/providers/Microsoft.Storage"
ACCOUNTS = SUB + "/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts"
ACCOUNT = ACCOUNTS + "/{account}"
CONTAINERS = ACCOUNT + "/blobServices/default/containers"
CONTAINER = CONTAINERS + "/{container}"


def _params(request: Request, *names: str) -> list[str]:
    return [request.path_params[n] for n in names]


def _listing(items: list[dict]):
    return wire.json_response({"value": [models.strip(i) for i in items]})


# -- accounts -------------------------------------------------------------------------------------------------------
async def check_name(request: Request):
    core.authenticate(request)
    body = await core.read_body(request)
    return wire.json_response(models.check_name(emulator_of(request), body))


async def list_all_accounts(request: Request):
    core.authenticate(request)
    return _listing(models.list_accounts(emulator_of(request), *_params(request, "subscription")))


async def list_accounts(request: Request):
    core.authenticate(request)
    return _listing(models.list_accounts(emulator_of(request), *_params(request, "subscription", "rg")))


async def get_account(request: Request):
    core.authenticate(request)
    doc = models.get_account(emulator_of(request), *_params(request, "subscription", "rg", "account"))
    return wire.json_response(models.strip(doc))


async def put_account(request: Request):
    core.authenticate(request)
    state = emulator_of(request)
    body = await core.read_body(request)
    sub = request.path_params["subscription"]
    doc, op = models.put_account(state, *_params(request, "subscription", "rg", "account"), body)
    if op is None:
        return wire.json_response(models.strip(doc))
    location = (f"{core.base_url(request)}/subscriptions/{sub}/providers/Microsoft.Storage/locations/"
                f"{doc['location']}/asyncoperations/{op}?monitor=true&api-version={quote(core.api_version(request))}")
    # Recorded: this 202 carries `Content-Type: text/plain; charset=utf-8` with its empty body.
    return wire.empty_response(202, headers={"Location": location, "Content-Type": "text/plain; charset=utf-8",
                                             **core.retry_after(state)})


async def patch_account(request: Request):
    core.authenticate(request)
    state = emulator_of(request)
    body = await core.read_body(request)
    doc = models.get_account(state, *_params(request, "subscription", "rg", "account"))
    return wire.json_response(models.strip(models.update_account(state, doc, body)))


async def delete_account(request: Request):
    """200 when an account was deleted, 204 when there was none (Storage deletes synchronously)."""
    core.authenticate(request)
    deleted = models.delete_account(emulator_of(request), *_params(request, "subscription", "rg", "account"))
    return wire.empty_response(200 if deleted else 204)


async def create_status(request: Request):
    """The Location poll of an account creation: 202 while running, then 200 with the account."""
    core.authenticate(request)
    state = emulator_of(request)
    op_id = request.path_params["operation"]
    op = core.get_operation(state, op_id)
    the_id = models.created_account_id(state, op_id)
    if op is None or the_id is None:
        raise ArmError(f"The operation '{op_id}' could not be found.", code="OperationNotFound", status=404)
    if op["status"] == "InProgress":
        return wire.empty_response(202, headers={"Location": str(request.url), **core.retry_after(state)})
    if op["status"] == "Failed":
        return core.operation_result_response(request, op_id)  # answers with the operation's error
    account = core.get_resource(state, models.ACCOUNT, the_id)
    if account is None:  # deleted before its creation was read back
        parts = the_id.split("/")
        raise core.not_found(models.ACCOUNT_TYPE, parts[-1], parts[4])
    return wire.json_response(models.strip(account))


async def list_keys(request: Request):
    core.authenticate(request)
    return wire.json_response(models.list_keys(emulator_of(request),
                                               *_params(request, "subscription", "rg", "account")))


async def regenerate_key(request: Request):
    core.authenticate(request)
    body = await core.read_body(request)
    return wire.json_response(models.regenerate_key(emulator_of(request),
                                                    *_params(request, "subscription", "rg", "account"), body))


# -- blob containers -------------------------------------------------------------------------------------------------
async def list_containers(request: Request):
    core.authenticate(request)
    return _listing(models.list_containers(emulator_of(request), *_params(request, "subscription", "rg", "account")))


async def get_container(request: Request):
    core.authenticate(request)
    return wire.json_response(models.get_container(emulator_of(request),
                                                   *_params(request, "subscription", "rg", "account", "container")))


async def put_container(request: Request):
    core.authenticate(request)
    body = await core.read_body(request)
    doc, created = models.put_container(emulator_of(request),
                                        *_params(request, "subscription", "rg", "account", "container"), body)
    return wire.json_response(doc, status=201 if created else 200)


async def patch_container(request: Request):
    """`update`: the container must exist; then it is a PUT that changes what the body names."""
    core.authenticate(request)
    state = emulator_of(request)
    params = _params(request, "subscription", "rg", "account", "container")
    models.get_container(state, *params)
    doc, _ = models.put_container(state, *params, await core.read_body(request))
    return wire.json_response(doc)


async def delete_container(request: Request):
    core.authenticate(request)
    deleted = models.delete_container(emulator_of(request),
                                      *_params(request, "subscription", "rg", "account", "container"))
    return wire.empty_response(200 if deleted else 204)


def routes() -> list:
    r = core.route
    return [
        r(PROVIDER + "/checkNameAvailability", check_name, ["POST"]),
        r(PROVIDER + "/storageAccounts", list_all_accounts, ["GET"]),
        r(PROVIDER + "/locations/{location}/asyncoperations/{operation}", create_status, ["GET"]),
        r(ACCOUNTS, list_accounts, ["GET"]),
        r(ACCOUNT, get_account, ["GET"]),
        r(ACCOUNT, put_account, ["PUT"]),
        r(ACCOUNT, patch_account, ["PATCH"]),
        r(ACCOUNT, delete_account, ["DELETE"]),
        r(ACCOUNT + "/listKeys", list_keys, ["POST"]),
        r(ACCOUNT + "/regenerateKey", regenerate_key, ["POST"]),
        r(CONTAINERS, list_containers, ["GET"]),
        r(CONTAINER, get_container, ["GET"]),
        r(CONTAINER, put_container, ["PUT"]),
        r(CONTAINER, patch_container, ["PATCH"]),
        r(CONTAINER, delete_container, ["DELETE"]),
    ]
