"""Microsoft.Resources on the wire: subscriptions, providers, resource groups and their delete operation.

Paths are those azure-mgmt-resource sends (`resourcegroups`, lower case); ARM matches them case-insensitively.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request

from provision.emulator import wire
from provision.emulator.app import emulator_of
from provision.emulator.services.arm import core
from provision.emulator.services.arm.resources import models
from provision.emulator.wire import ArmError

SUB = "/subscriptions/{subscription}"
GROUP = SUB + "/resourcegroups/{rg}"


def _top(request: Request) -> int | None:
    raw = request.query_params.get("$top")
    if raw is None:
        return None
    try:
        top = int(raw)
    except ValueError:
        raise ArmError(f"The value '{raw}' of query parameter '$top' is not valid.", code="InvalidTopQueryParameter"
                       ) from None
    return max(top, 0)


# -- subscriptions and providers ----------------------------------------------------------------------------------
async def list_subscriptions(request: Request):
    core.authenticate(request)
    subs = models.subscriptions(emulator_of(request))
    return wire.json_response({"value": subs, "count": {"type": "Total", "value": len(subs)}})


async def get_subscription(request: Request):
    core.authenticate(request)
    return wire.json_response(models.subscription(emulator_of(request), request.path_params["subscription"]))


async def list_providers(request: Request):
    core.authenticate(request)
    return wire.json_response({"value": models.providers(request.path_params["subscription"])})


async def get_provider(request: Request):
    core.authenticate(request)
    return wire.json_response(models.provider(request.path_params["namespace"], request.path_params["subscription"]))


async def register_provider(request: Request):
    """Registration is instantaneous here: every provider is always registered."""
    core.authenticate(request)
    return wire.json_response(models.provider(request.path_params["namespace"], request.path_params["subscription"]))


async def get_tenant_provider(request: Request):
    core.authenticate(request)
    return wire.json_response(models.provider(request.path_params["namespace"]))


# -- resource groups ----------------------------------------------------------------------------------------------
async def list_groups(request: Request):
    core.authenticate(request)
    groups = models.list_groups(emulator_of(request), request.path_params["subscription"],
                                request.query_params.get("$filter"), _top(request))
    return wire.json_response({"value": [core.public(g) for g in groups]})


async def put_group(request: Request):
    core.authenticate(request)
    body = await core.read_body(request)
    doc, created = models.put_group(emulator_of(request), request.path_params["subscription"],
                                    request.path_params["rg"], body)
    return wire.json_response(core.public(doc), status=201 if created else 200)


async def patch_group(request: Request):
    core.authenticate(request)
    body = await core.read_body(request)
    doc = models.patch_group(emulator_of(request), request.path_params["subscription"], request.path_params["rg"],
                             body)
    return wire.json_response(core.public(doc))


async def get_group(request: Request):
    core.authenticate(request)
    doc = models.get_group(emulator_of(request), request.path_params["subscription"], request.path_params["rg"])
    return wire.json_response(core.public(doc))


async def head_group(request: Request):
    """`check_existence`: 204 when the group exists (even while it is being deleted), 404 otherwise."""
    core.authenticate(request)
    models.get_group(emulator_of(request), request.path_params["subscription"], request.path_params["rg"])
    return wire.empty_response(204)


async def delete_group(request: Request):
    """202 + Location on the subscription's operationresults; the group reads "Deleting" until the operation is
    due, then it and everything in it are gone (recorded: no Retry-After on this first answer)."""
    core.authenticate(request)
    sub = request.path_params["subscription"]
    token = models.begin_delete_group(emulator_of(request), sub, request.path_params["rg"])
    location = (f"{core.base_url(request)}/subscriptions/{sub}/operationresults/{token}"
                f"?api-version={quote(core.api_version(request))}")
    return wire.empty_response(202, headers={"Location": location})


async def group_resources(request: Request):
    core.authenticate(request)
    state = emulator_of(request)
    sub, rg = request.path_params["subscription"], request.path_params["rg"]
    models.get_group(state, sub, rg)
    return wire.json_response({"value": models.resources_in_group(state, sub, rg)})


def routes() -> list:
    r = core.route
    return [
        r("/subscriptions", list_subscriptions, ["GET"]),
        r(SUB, get_subscription, ["GET"]),
        r(SUB + "/providers", list_providers, ["GET"]),
        r(SUB + "/providers/{namespace}", get_provider, ["GET"]),
        r(SUB + "/providers/{namespace}/register", register_provider, ["POST"]),
        r("/providers/{namespace}", get_tenant_provider, ["GET"]),
        r(SUB + "/operationresults/{operation}", core.operation_result_handler, ["GET"]),  # a group deletion
        r(SUB + "/resourcegroups", list_groups, ["GET"]),
        r(GROUP, put_group, ["PUT"]),
        r(GROUP, patch_group, ["PATCH"]),
        r(GROUP, head_group, ["HEAD"]),
        r(GROUP, get_group, ["GET"]),
        r(GROUP, delete_group, ["DELETE"]),
        r(GROUP + "/resources", group_resources, ["GET"]),
    ]
