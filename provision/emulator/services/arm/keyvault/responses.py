"""Microsoft.KeyVault on the wire: vaults, deleted vaults, purge and name checks; role assignments at a vault's scope.

As recorded: creating a vault answers 200 with the vault in provisioningState "RegisteringDns" (azure-mgmt-keyvault's
poller then reads the vault until "Succeeded"); a PUT on an existing vault updates it (200). DELETE answers 200 with
an empty body (204 when there was no vault). Purging a deleted vault answers 202 with an empty body and
`Location: .../providers/Microsoft.KeyVault/locations/{loc}/operationResults/{id}?api-version=...`; that URL answers
202 `{"createdDateTime", "status": "NotStarted"}` (with the Location again) while it runs, then 200
`{"createdDateTime", "lastActionDateTime", "status": "Succeeded"}`.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request

from provision.emulator import wire
from provision.emulator.app import emulator_of
from provision.emulator.services import keyvault as dataplane
from provision.emulator.services.arm import core
from provision.emulator.services.arm.keyvault import models
from provision.emulator.wire import ArmError

SUB = "/subscriptions/{subscription}"
PROVIDER = SUB + "/providers/Microsoft.KeyVault"
VAULTS = SUB + "/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults"
VAULT = VAULTS + "/{vault}"
DELETED = PROVIDER + "/locations/{location}/deletedVaults/{vault}"


def _params(request: Request, *names: str) -> list[str]:
    return [request.path_params[n] for n in names]


def _auth(request: Request):
    caller = core.authenticate(request)
    dataplane.remember_main_url(emulator_of(request), core.base_url(request))
    return caller


def _listing(items: list[dict]):
    return wire.json_response({"value": [models.public(i) for i in items], "nextLink": None})


async def check_name(request: Request):
    _auth(request)
    body = await core.read_body(request)
    return wire.json_response(models.check_name(emulator_of(request), body))


async def list_all_vaults(request: Request):
    _auth(request)
    return _listing(models.list_vaults(emulator_of(request), *_params(request, "subscription")))


async def list_vaults(request: Request):
    _auth(request)
    return _listing(models.list_vaults(emulator_of(request), *_params(request, "subscription", "rg")))


async def get_vault(request: Request):
    _auth(request)
    doc = models.get_vault(emulator_of(request), *_params(request, "subscription", "rg", "vault"))
    return wire.json_response(models.public(doc))


async def put_vault(request: Request):
    caller = _auth(request)
    body = await core.read_body(request)
    doc = models.put_vault(emulator_of(request), caller, *_params(request, "subscription", "rg", "vault"), body)
    return wire.json_response(models.public(doc))


async def patch_vault(request: Request):
    _auth(request)
    state = emulator_of(request)
    body = await core.read_body(request)
    doc = models.get_vault(state, *_params(request, "subscription", "rg", "vault"))
    return wire.json_response(models.public(models.update_vault(state, doc, body)))


async def delete_vault(request: Request):
    _auth(request)
    deleted = models.delete_vault(emulator_of(request), *_params(request, "subscription", "rg", "vault"))
    return wire.empty_response(200 if deleted else 204)


async def list_deleted(request: Request):
    _auth(request)
    return _listing(models.list_deleted(emulator_of(request), *_params(request, "subscription")))


async def get_deleted(request: Request):
    _auth(request)
    doc = models.get_deleted(emulator_of(request), *_params(request, "subscription", "location", "vault"))
    return wire.json_response(models.public(doc))


def _operation_url(request: Request, sub: str, location: str, op_id: str) -> str:
    return (f"{core.base_url(request)}/subscriptions/{sub}/providers/Microsoft.KeyVault/locations/"
            f"{location}/operationResults/{op_id}?api-version={quote(core.api_version(request))}")


async def purge(request: Request):
    _auth(request)
    state = emulator_of(request)
    sub, location, name = _params(request, "subscription", "location", "vault")
    op = models.begin_purge(state, sub, location, name)
    return wire.empty_response(202, headers={"Location": _operation_url(request, sub, location, op["id"]),
                                             **core.retry_after(state)})


async def operation_result(request: Request):
    _auth(request)
    state = emulator_of(request)
    op_id = request.path_params["operation"]
    body = models.purge_status(state, op_id)
    if body is None:
        raise ArmError(f"The operation '{op_id}' could not be found.", code="OperationNotFound", status=404)
    if body.pop("_running"):
        return wire.json_response(body, status=202, headers={"Location": str(request.url),
                                                             **core.retry_after(state)})
    ordered = {k: body[k] for k in ("createdDateTime", "lastActionDateTime", "status") if k in body}
    return wire.json_response(ordered)


ASSIGNMENTS = VAULT + "/providers/Microsoft.Authorization/roleAssignments"


async def list_assignments(request: Request):
    _auth(request)
    return _listing(models.list_assignments(emulator_of(request), *_params(request, "subscription", "rg", "vault")))


async def get_assignment(request: Request):
    _auth(request)
    return wire.json_response(models.get_assignment(
        emulator_of(request), *_params(request, "subscription", "rg", "vault", "assignment")))


async def put_assignment(request: Request):
    caller = _auth(request)
    body = await core.read_body(request)
    doc, created = models.put_assignment(emulator_of(request), caller,
                                         *_params(request, "subscription", "rg", "vault", "assignment"), body)
    return wire.json_response(doc, status=201 if created else 200)


async def delete_assignment(request: Request):
    _auth(request)
    doc = models.delete_assignment(emulator_of(request),
                                   *_params(request, "subscription", "rg", "vault", "assignment"))
    return wire.json_response(doc) if doc is not None else wire.empty_response(204)


def routes() -> list:
    r = core.route
    return [
        r(PROVIDER + "/checkNameAvailability", check_name, ["POST"]),
        r(PROVIDER + "/vaults", list_all_vaults, ["GET"]),
        r(PROVIDER + "/deletedVaults", list_deleted, ["GET"]),
        r(DELETED, get_deleted, ["GET"]),
        r(DELETED + "/purge", purge, ["POST"]),
        r(PROVIDER + "/locations/{location}/operationResults/{operation}", operation_result, ["GET"]),
        r(ASSIGNMENTS, list_assignments, ["GET"]),
        r(ASSIGNMENTS + "/{assignment}", get_assignment, ["GET"]),
        r(ASSIGNMENTS + "/{assignment}", put_assignment, ["PUT"]),
        r(ASSIGNMENTS + "/{assignment}", delete_assignment, ["DELETE"]),
        r(VAULTS, list_vaults, ["GET"]),
        r(VAULT, get_vault, ["GET"]),
        r(VAULT, put_vault, ["PUT"]),
        r(VAULT, patch_vault, ["PATCH"]),
        r(VAULT, delete_vault, ["DELETE"]),
    ]
