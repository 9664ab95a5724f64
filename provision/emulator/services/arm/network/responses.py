"""Microsoft.Network on the wire: NSGs, security rules, virtual networks, subnets, and operation polling.

Writes answer as the recordings show: PUT -> 201 (create) / 200 (update) with the body in "Updating" and an
`Azure-AsyncOperation` URL on the regional operations endpoint; DELETE -> 202 with `Location` (operationResults)
and `Azure-AsyncOperation`; a missing resource's DELETE -> 204. GETs carry the resource's etag in `ETag`.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request

from provision.emulator import wire
from provision.emulator.app import emulator_of
from provision.emulator.services.arm import core
from provision.emulator.services.arm.network import models

SUB = "/subscriptions/{subscription}"
PROVIDER = SUB + "/resourceGroups/{rg}/providers/Microsoft.Network"
NSGS = PROVIDER + "/networkSecurityGroups"
NSG = NSGS + "/{nsg}"
VNETS = PROVIDER + "/virtualNetworks"
VNET = VNETS + "/{vnet}"
OPERATIONS = SUB + "/providers/Microsoft.Network/locations/{location}"


def _params(request: Request, *names: str) -> list[str]:
    return [request.path_params[n] for n in names]


def _operation_url(request: Request, location: str, op: str, kind: str = "operations") -> str:
    sub = request.path_params["subscription"]
    return (f"{core.base_url(request)}/subscriptions/{sub}/providers/Microsoft.Network/locations/{location}/"
            f"{kind}/{op}?api-version={quote(core.api_version(request))}")


def _accepted_write(request: Request, change: models.Change, *, notify: bool = False):
    """201/200 + Azure-AsyncOperation + Retry-After; the body shows provisioningState "Updating"."""
    headers = {"Azure-AsyncOperation": _operation_url(request, change.location, change.operation),
               **core.retry_after(emulator_of(request))}
    if notify and change.created:  # recorded on the NSG create
        headers["Azure-AsyncNotification"] = "Enabled"
    return wire.json_response(change.resource, status=201 if change.created else 200, headers=headers)


def _accepted_delete(request: Request, change: models.Change | None):
    if change is None:
        return wire.empty_response(204)
    return wire.empty_response(202, headers={
        "Location": _operation_url(request, change.location, change.operation, "operationResults"),
        "Azure-AsyncOperation": _operation_url(request, change.location, change.operation),
        **core.retry_after(emulator_of(request)),
    })


def _resource(body: dict):
    return wire.json_response(body, headers={"ETag": body["etag"]} if body.get("etag") else None)


def _listing(items: list[dict]):
    return wire.json_response({"value": items})


# -- network security groups ----------------------------------------------------------------------------------------
async def list_all_nsgs(request: Request):
    core.authenticate(request)
    state = emulator_of(request)
    return _listing([models.render_nsg(state, d) for d in models.list_nsgs(state, *_params(request, "subscription"))])


async def list_nsgs(request: Request):
    core.authenticate(request)
    state = emulator_of(request)
    docs = models.list_nsgs(state, *_params(request, "subscription", "rg"))
    return _listing([models.render_nsg(state, d) for d in docs])


async def get_nsg(request: Request):
    core.authenticate(request)
    state = emulator_of(request)
    return _resource(models.render_nsg(state, models.get_nsg(state, *_params(request, "subscription", "rg", "nsg"))))


async def put_nsg(request: Request):
    core.authenticate(request)
    body = await core.read_body(request)
    change = models.put_nsg(emulator_of(request), *_params(request, "subscription", "rg", "nsg"), body)
    return _accepted_write(request, change, notify=True)


async def patch_nsg(request: Request):
    core.authenticate(request)
    body = await core.read_body(request)
    state = emulator_of(request)
    doc = models.get_nsg(state, *_params(request, "subscription", "rg", "nsg"))
    return _resource(models.render_nsg(state, models.patch_tags(state, models.NSG, doc, body)))


async def delete_nsg(request: Request):
    core.authenticate(request)
    return _accepted_delete(request, models.begin_delete_nsg(emulator_of(request),
                                                             *_params(request, "subscription", "rg", "nsg")))


# -- security rules and default rules ---------------------------------------------------------------------------------
async def list_rules(request: Request):
    core.authenticate(request)
    rules = models.list_rules(emulator_of(request), *_params(request, "subscription", "rg", "nsg"))
    return _listing(models.strip(rules))


async def get_rule(request: Request):
    core.authenticate(request)
    return _resource(models.strip(models.get_rule(emulator_of(request),
                                                  *_params(request, "subscription", "rg", "nsg", "rule"))))


async def put_rule(request: Request):
    core.authenticate(request)
    body = await core.read_body(request)
    change = models.put_rule(emulator_of(request), *_params(request, "subscription", "rg", "nsg", "rule"), body)
    return _accepted_write(request, change)


async def delete_rule(request: Request):
    core.authenticate(request)
    return _accepted_delete(request, models.begin_delete_rule(emulator_of(request),
                                                              *_params(request, "subscription", "rg", "nsg", "rule")))


async def list_default_rules(request: Request):
    core.authenticate(request)
    rules = models.list_rules(emulator_of(request), *_params(request, "subscription", "rg", "nsg"),
                              collection="defaultSecurityRules")
    return _listing(models.strip(rules))


async def get_default_rule(request: Request):
    core.authenticate(request)
    rule = models.get_rule(emulator_of(request), *_params(request, "subscription", "rg", "nsg", "rule"),
                           collection="defaultSecurityRules")
    return _resource(models.strip(rule))


# -- virtual networks and subnets -------------------------------------------------------------------------------------
async def list_all_vnets(request: Request):
    core.authenticate(request)
    return _listing(models.strip(models.list_vnets(emulator_of(request), *_params(request, "subscription"))))


async def list_vnets(request: Request):
    core.authenticate(request)
    return _listing(models.strip(models.list_vnets(emulator_of(request), *_params(request, "subscription", "rg"))))


async def get_vnet(request: Request):
    core.authenticate(request)
    return _resource(models.strip(models.get_vnet(emulator_of(request),
                                                  *_params(request, "subscription", "rg", "vnet"))))


async def put_vnet(request: Request):
    core.authenticate(request)
    body = await core.read_body(request)
    change = models.put_vnet(emulator_of(request), *_params(request, "subscription", "rg", "vnet"), body)
    return _accepted_write(request, change, notify=True)


async def patch_vnet(request: Request):
    core.authenticate(request)
    body = await core.read_body(request)
    state = emulator_of(request)
    doc = models.get_vnet(state, *_params(request, "subscription", "rg", "vnet"))
    return _resource(models.strip(models.patch_tags(state, models.VNET, doc, body)))


async def delete_vnet(request: Request):
    core.authenticate(request)
    return _accepted_delete(request, models.begin_delete_vnet(emulator_of(request),
                                                              *_params(request, "subscription", "rg", "vnet")))


async def list_subnets(request: Request):
    core.authenticate(request)
    subnets = models.list_subnets(emulator_of(request), *_params(request, "subscription", "rg", "vnet"))
    return _listing(models.strip(subnets))


async def get_subnet(request: Request):
    core.authenticate(request)
    return _resource(models.strip(models.get_subnet(emulator_of(request),
                                                    *_params(request, "subscription", "rg", "vnet", "subnet"))))


async def put_subnet(request: Request):
    core.authenticate(request)
    body = await core.read_body(request)
    change = models.put_subnet(emulator_of(request), *_params(request, "subscription", "rg", "vnet", "subnet"), body)
    return _accepted_write(request, change)


async def delete_subnet(request: Request):
    core.authenticate(request)
    change = models.begin_delete_subnet(emulator_of(request),
                                        *_params(request, "subscription", "rg", "vnet", "subnet"))
    return _accepted_delete(request, change)


# -- operation polling ------------------------------------------------------------------------------------------------
async def operation_status(request: Request):
    """Azure-AsyncOperation poll: {"status": "InProgress" | "Succeeded" | "Failed", "error"?}."""
    core.authenticate(request)
    return core.operation_status_response(request, request.path_params["operation"])


async def operation_result(request: Request):
    """Location poll: 202 while running, 200 when done."""
    core.authenticate(request)
    return core.operation_result_response(request, request.path_params["operation"])


def routes() -> list:
    r = core.route
    return [
        r(OPERATIONS + "/operations/{operation}", operation_status, ["GET"]),
        r(OPERATIONS + "/operationResults/{operation}", operation_result, ["GET"]),
        r(SUB + "/providers/Microsoft.Network/networkSecurityGroups", list_all_nsgs, ["GET"]),
        r(SUB + "/providers/Microsoft.Network/virtualNetworks", list_all_vnets, ["GET"]),
        r(NSGS, list_nsgs, ["GET"]),
        r(NSG, get_nsg, ["GET"]),
        r(NSG, put_nsg, ["PUT"]),
        r(NSG, patch_nsg, ["PATCH"]),
        r(NSG, delete_nsg, ["DELETE"]),
        r(NSG + "/securityRules", list_rules, ["GET"]),
        r(NSG + "/securityRules/{rule}", get_rule, ["GET"]),
        r(NSG + "/securityRules/{rule}", put_rule, ["PUT"]),
        r(NSG + "/securityRules/{rule}", delete_rule, ["DELETE"]),
        r(NSG + "/defaultSecurityRules", list_default_rules, ["GET"]),
        r(NSG + "/defaultSecurityRules/{rule}", get_default_rule, ["GET"]),
        r(VNETS, list_vnets, ["GET"]),
        r(VNET, get_vnet, ["GET"]),
        r(VNET, put_vnet, ["PUT"]),
        r(VNET, patch_vnet, ["PATCH"]),
        r(VNET, delete_vnet, ["DELETE"]),
        r(VNET + "/subnets", list_subnets, ["GET"]),
        r(VNET + "/subnets/{subnet}", get_subnet, ["GET"]),
        r(VNET + "/subnets/{subnet}", put_subnet, ["PUT"]),
        r(VNET + "/subnets/{subnet}", delete_subnet, ["DELETE"]),
    ]
