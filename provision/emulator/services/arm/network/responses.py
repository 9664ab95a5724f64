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
from provision.emulator.state import EmulatorState

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


# -- handlers: one shape per verb, for parents (NSGs, virtual networks) and children (rules, subnets) alike ------
# `names` are the path parameters the model function takes after the state, in order.
NSG_NAMES = ("subscription", "rg", "nsg")
RULE_NAMES = (*NSG_NAMES, "rule")
VNET_NAMES = ("subscription", "rg", "vnet")
SUBNET_NAMES = (*VNET_NAMES, "subnet")


def _plain(state: EmulatorState, doc: dict) -> dict:
    return models.strip(doc)


def _list_handler(list_fn, names: tuple[str, ...], render=_plain, **kw):
    async def handler(request: Request):
        core.authenticate(request)
        state = emulator_of(request)
        return _listing([render(state, d) for d in list_fn(state, *_params(request, *names), **kw)])
    return handler


def _get_handler(get_fn, names: tuple[str, ...], render=_plain, **kw):
    async def handler(request: Request):
        core.authenticate(request)
        state = emulator_of(request)
        return _resource(render(state, get_fn(state, *_params(request, *names), **kw)))
    return handler


def _put_handler(put_fn, names: tuple[str, ...], *, notify: bool = False):
    async def handler(request: Request):
        core.authenticate(request)
        body = await core.read_body(request)
        change = put_fn(emulator_of(request), *_params(request, *names), body)
        return _accepted_write(request, change, notify=notify)
    return handler


def _patch_handler(get_fn, kind: str, names: tuple[str, ...], render=_plain):
    """`update_tags`."""
    async def handler(request: Request):
        core.authenticate(request)
        body = await core.read_body(request)
        state = emulator_of(request)
        doc = get_fn(state, *_params(request, *names))
        return _resource(render(state, models.patch_tags(state, kind, doc, body)))
    return handler


def _delete_handler(begin_delete_fn, names: tuple[str, ...]):
    async def handler(request: Request):
        core.authenticate(request)
        return _accepted_delete(request, begin_delete_fn(emulator_of(request), *_params(request, *names)))
    return handler


# -- network security groups, security rules and default rules ----------------------------------------------------
list_all_nsgs = _list_handler(models.list_nsgs, ("subscription",), models.render_nsg)
list_nsgs = _list_handler(models.list_nsgs, ("subscription", "rg"), models.render_nsg)
get_nsg = _get_handler(models.get_nsg, NSG_NAMES, models.render_nsg)
put_nsg = _put_handler(models.put_nsg, NSG_NAMES, notify=True)
patch_nsg = _patch_handler(models.get_nsg, models.NSG, NSG_NAMES, models.render_nsg)
delete_nsg = _delete_handler(models.begin_delete_nsg, NSG_NAMES)
list_rules = _list_handler(models.list_rules, NSG_NAMES)
get_rule = _get_handler(models.get_rule, RULE_NAMES)
put_rule = _put_handler(models.put_rule, RULE_NAMES)
delete_rule = _delete_handler(models.begin_delete_rule, RULE_NAMES)
list_default_rules = _list_handler(models.list_rules, NSG_NAMES, collection="defaultSecurityRules")
get_default_rule = _get_handler(models.get_rule, RULE_NAMES, collection="defaultSecurityRules")

# -- virtual networks and subnets -----------------------------------------------------------------------------------
list_all_vnets = _list_handler(models.list_vnets, ("subscription",))
list_vnets = _list_handler(models.list_vnets, ("subscription", "rg"))
get_vnet = _get_handler(models.get_vnet, VNET_NAMES)
put_vnet = _put_handler(models.put_vnet, VNET_NAMES, notify=True)
patch_vnet = _patch_handler(models.get_vnet, models.VNET, VNET_NAMES)
delete_vnet = _delete_handler(models.begin_delete_vnet, VNET_NAMES)
list_subnets = _list_handler(models.list_subnets, VNET_NAMES)
get_subnet = _get_handler(models.get_subnet, SUBNET_NAMES)
put_subnet = _put_handler(models.put_subnet, SUBNET_NAMES)
delete_subnet = _delete_handler(models.begin_delete_subnet, SUBNET_NAMES)


def routes() -> list:
    r = core.route
    return [
        r(OPERATIONS + "/operations/{operation}", core.operation_status_handler, ["GET"]),
        r(OPERATIONS + "/operationResults/{operation}", core.operation_result_handler, ["GET"]),
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
