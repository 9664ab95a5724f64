"""Microsoft.HDInsight on the wire (api-version 2021-06-01 shapes; any api-version is accepted).

    PUT|GET|PATCH|DELETE /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.HDInsight/clusters/{name}
    GET  .../resourceGroups/{rg}/providers/Microsoft.HDInsight/clusters        GET /subscriptions/{s}/providers/...
    GET  .../clusters/{name}/azureasyncoperations/{op}      ("create" names the cluster's create operation)
    GET  .../clusters/{name}/operationresults/{op}          (the Location of a DELETE)
    POST .../clusters/{name}/getGatewaySettings
    GET  /subscriptions/{s}/providers/Microsoft.HDInsight/locations/{loc}/azureasyncoperations/{op}
    POST .../locations/{loc}/checkNameAvailability | validateCreateRequest
    GET  .../locations/{loc}/usages | billingSpecs | capabilities

PUT answers 200 with the Cluster body and an `Azure-AsyncOperation` header (no Location, no Retry-After), as the
recorded trace shows; the SDK polls it and then GETs the cluster. Operation polls carry no Retry-After either
(the recording has none), so clients poll at their own interval. DELETE answers 202 with a Location to poll.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from provision.emulator import wire
from provision.emulator.app import emulator_of
from provision.emulator.services.arm import core
from provision.emulator.services.arm.hdinsight import catalog, models
from provision.emulator.services.arm.hdinsight import validation as v
from provision.emulator.wire import ArmError

SUB = "/subscriptions/{subscription}"
CLUSTERS = SUB + "/resourceGroups/{rg}/providers/Microsoft.HDInsight/clusters"
CLUSTER = CLUSTERS + "/{cluster}"
LOCATION = SUB + "/providers/Microsoft.HDInsight/locations/{location}"
HDI_HEADERS = {"x-ms-hdi-served-by": "global"}


def _params(request: Request) -> tuple[str, str, str]:
    p = request.path_params
    return p["subscription"], p.get("rg", ""), p.get("cluster", "")


def _where(request: Request) -> tuple[str, int]:
    """The emulator's host and port as this client reached it (for the REST proxy endpoint)."""
    url = request.base_url
    return url.hostname or "127.0.0.1", url.port or (443 if url.scheme == "https" else 80)


def _render(request: Request, doc: dict[str, Any]) -> dict[str, Any]:
    return models.render(doc, *_where(request))


def _cluster_response(request: Request, doc: dict[str, Any], extra: dict[str, str] | None = None) -> Response:
    headers = {"ETag": f'"{doc["etag"]}"', **HDI_HEADERS, **(extra or {})}
    return wire.json_response(_render(request, doc), headers=headers)


def _require_cluster(request: Request) -> dict[str, Any]:
    sub, rg, name = _params(request)
    state = emulator_of(request)
    core.require_resource_group(state, sub, rg)
    doc = models.get_cluster(state, sub, rg, name)
    if doc is None:
        raise core.not_found(models.RESOURCE_TYPE, name, rg)
    return doc


async def _read(request: Request) -> dict[str, Any]:
    """The JSON body, refusing what the store or the wire could not hold: NaN/Infinity, runaway nesting, tags
    that are not strings."""
    try:
        body = await core.read_body(request)
        json.dumps(body, allow_nan=False)
    except (ValueError, RecursionError):
        raise ArmError("The request content was invalid and could not be deserialized: numbers must be finite "
                       "and nesting reasonable.", code="InvalidRequestContent") from None
    tags = body.get("tags")
    if tags is not None and (not isinstance(tags, dict) or not all(isinstance(t, str) for t in tags.values())):
        raise ArmError("The 'tags' property must be an object of string values.", code="InvalidRequestContent")
    return body


def _bad_request(problem: v.Problem) -> ArmError:
    return ArmError(problem.message, code="BadRequest")


# -- clusters ---------------------------------------------------------------------------------------------------
async def put_cluster(request: Request) -> Response:
    core.authenticate(request)
    state = emulator_of(request)
    sub, rg, name = _params(request)
    core.require_writable_resource_group(state, sub, rg)
    body = await _read(request)
    existing = models.get_cluster(state, sub, rg, name)
    if existing is not None:
        return _put_again(request, existing, body)
    problem = v.name_problem(name) or v.location_problem(body.get("location"))
    if problem is None:
        problem = next(iter(v.document_problems(body.get("properties"), refuse_retired=bool(
            state.timing.refuse_retired_versions))), None)
    if problem is not None:
        raise _bad_request(problem)
    if models.cluster_by_name(state, name) is not None:
        raise ArmError(f"Cluster name '{name}' is unavailable", code="Conflict", status=409)
    cores = v.requested_cores(body["properties"])
    region = catalog.region_key(body["location"])
    quota = v.quota_problem(sub, name, cores, models.cores_in_use(state, sub, region), state.timing.core_quota)
    if quota is not None:
        raise _bad_request(quota)
    doc = models.new_cluster(sub, rg, name, body, cores)
    models.start_create(state, doc, v.deployment_failure(state, body["properties"]), sub, rg, body["properties"])
    return _cluster_response(request, doc, {"Azure-AsyncOperation": _async_url(request, "create")})


def _put_again(request: Request, doc: dict[str, Any], body: dict[str, Any]) -> Response:
    """A repeated PUT of the same cluster is idempotent (a template redeploy); a different one is refused:
    HDInsight clusters are changed through resize, PATCH (tags) or delete + create, not PUT."""
    if doc["properties"]["provisioningState"] == "Deleting":
        raise ArmError(f"Cluster '{doc['name']}' is being deleted; wait for the deletion to finish before "
                       f"creating it again.", code="Conflict", status=409)
    if models.fingerprint(body) != doc.get("_fingerprint"):
        raise ArmError(f"Cluster '{doc['name']}' already exists with different settings. HDInsight clusters "
                       f"cannot be changed through PUT: use resize, PATCH (tags), or delete and create again.",
                       code="Conflict", status=409)
    return _cluster_response(request, doc, {"Azure-AsyncOperation": _async_url(request, "create")})


def _async_url(request: Request, op: str) -> str:
    sub, rg, name = _params(request)
    return (f"{core.base_url(request)}{models.cluster_resource_id(sub, rg, name)}/azureasyncoperations/{op}"
            f"?api-version={core.api_version(request)}")


async def get_cluster(request: Request) -> Response:
    core.authenticate(request)
    return _cluster_response(request, _require_cluster(request))


async def patch_cluster(request: Request) -> Response:
    """Clusters_Update: tags only."""
    core.authenticate(request)
    doc = _require_cluster(request)
    doc["tags"] = (await _read(request)).get("tags")
    sub, rg, _ = _params(request)
    core.put_resource(emulator_of(request), models.KIND, doc, sub, rg)
    return _cluster_response(request, doc)


async def delete_cluster(request: Request) -> Response:
    core.authenticate(request)
    state = emulator_of(request)
    sub, rg, name = _params(request)
    core.require_resource_group(state, sub, rg)
    doc = models.get_cluster(state, sub, rg, name)
    if doc is None:
        return wire.empty_response(204, headers=HDI_HEADERS)
    op_id = models.start_delete(state, doc)
    location = (f"{core.base_url(request)}{models.cluster_resource_id(sub, rg, name)}/operationresults/{op_id}"
                f"?api-version={core.api_version(request)}")
    return wire.empty_response(202, headers={"Location": location, **core.retry_after(state), **HDI_HEADERS})


async def list_clusters(request: Request) -> Response:
    core.authenticate(request)
    state = emulator_of(request)
    sub, rg, _ = _params(request)
    if rg:
        core.require_resource_group(state, sub, rg)
    docs = models.clusters_in(state, sub.lower(), rg or None)
    return wire.json_response({"value": [_render(request, d) for d in docs]}, headers=HDI_HEADERS)


async def cluster_operation(request: Request) -> Response:
    """Clusters_GetAzureAsyncOperationStatus: {"status": InProgress|Succeeded|Failed, "error"?}."""
    core.authenticate(request)
    state = emulator_of(request)
    doc = _require_cluster(request)
    op_id = request.path_params["op"]
    if op_id.lower() == "create":
        op_id = doc.get("_createOp", "")
    op = models.operation_of(state, op_id)
    if op is None or op["_args"].get("id") != core.key(doc["id"]):
        raise ArmError(f"The operation '{request.path_params['op']}' could not be found.", code="OperationNotFound",
                       status=404)
    return wire.json_response(core.operation_status_body(op), headers=HDI_HEADERS)


async def operation_result(request: Request) -> Response:
    """The Location of a DELETE: 202 while it runs, then 200 — the cluster itself is gone by then."""
    core.authenticate(request)
    state = emulator_of(request)
    if models.operation_of(state, request.path_params["op"]) is None:
        raise ArmError(f"The operation '{request.path_params['op']}' could not be found.", code="OperationNotFound",
                       status=404)
    return core.operation_result_response(request, request.path_params["op"])


async def gateway_settings(request: Request) -> Response:
    core.authenticate(request)
    return wire.json_response(models.gateway_settings(_require_cluster(request)), headers=HDI_HEADERS)


# -- locations --------------------------------------------------------------------------------------------------
def _region(request: Request) -> str:
    location = request.path_params["location"]
    region = catalog.region_key(location)
    if region is None:
        raise ArmError(v.location_problem(location).message, code="LocationNotAvailableForResourceType")
    return region


async def location_operation(request: Request) -> Response:
    core.authenticate(request)
    state = emulator_of(request)
    op = models.operation_of(state, request.path_params["op"])
    if op is None:
        raise ArmError(f"The operation '{request.path_params['op']}' could not be found.", code="OperationNotFound",
                       status=404)
    return wire.json_response(core.operation_status_body(op), headers=HDI_HEADERS)


async def check_name(request: Request) -> Response:
    core.authenticate(request)
    _region(request)
    body = await _read(request)
    name = body.get("name")
    if not isinstance(name, str):
        raise ArmError("The 'name' property is required.", code="InvalidRequestContent")
    problem = v.name_problem(name)
    if problem is not None:
        return wire.json_response({"nameAvailable": False, "reason": "Invalid", "message": problem.message})
    if models.cluster_by_name(emulator_of(request), name) is not None:
        return wire.json_response({"nameAvailable": False, "reason": "AlreadyExists",
                                   "message": f"Cluster name '{name}' is unavailable"})
    return wire.json_response({"nameAvailable": True})


async def validate_create(request: Request) -> Response:
    """Locations_ValidateClusterCreateRequest: every problem the PUT and the deployment would meet, at once."""
    core.authenticate(request)
    state = emulator_of(request)
    sub = request.path_params["subscription"]
    region = _region(request)
    body = await _read(request)
    name = str(body.get("name") or "")
    problems = [p for p in (v.name_problem(name), v.location_problem(body.get("location") or
                                                                      request.path_params["location"])) if p]
    if not problems and models.cluster_by_name(state, name) is not None:
        problems.append(v.Problem("ClusterNameUnavailable", f"Cluster name '{name}' is unavailable", "name"))
    props = body.get("properties")
    document = v.document_problems(props, refuse_retired=bool(state.timing.refuse_retired_versions))
    problems += document
    if not document:
        quota = v.quota_problem(sub, name, v.requested_cores(props), models.cores_in_use(state, sub.lower(), region),
                                state.timing.core_quota)
        problems += [quota] if quota else []
        problems += v.deployment_problems(state, props)
    seconds = float(state.timing.cluster_create_seconds)
    return wire.json_response({
        "validationErrors": [p.validation_error() for p in problems],
        "validationWarnings": [],
        # The emulator's own creation time (Azure estimates about PT20M).
        "estimatedCreationDuration": f"PT{seconds:g}S",
        "aaddsResourcesDetails": [],
    }, headers=HDI_HEADERS)


async def usages(request: Request) -> Response:
    core.authenticate(request)
    state = emulator_of(request)
    used = models.cores_in_use(state, request.path_params["subscription"].lower(), _region(request))
    return wire.json_response({"value": [{"unit": "Count", "currentValue": used, "limit": state.timing.core_quota,
                                          "name": {"value": "cores", "localizedValue": "Cores"}}]},
                              headers=HDI_HEADERS)


async def billing_specs(request: Request) -> Response:
    core.authenticate(request)
    return wire.json_response(catalog.billing_specs(_region(request)), headers=HDI_HEADERS)


async def capabilities(request: Request) -> Response:
    core.authenticate(request)
    state = emulator_of(request)
    region = _region(request)
    used = models.cores_in_use(state, request.path_params["subscription"].lower(), region)
    return wire.json_response(catalog.capabilities(catalog.REGIONS[region], used, state.timing.core_quota),
                              headers=HDI_HEADERS)


def routes() -> list[Route]:
    # ARM matches paths without regard to case (core.route).
    return [
        core.route(CLUSTER, put_cluster, ["PUT"]),
        core.route(CLUSTER, get_cluster, ["GET"]),
        core.route(CLUSTER, patch_cluster, ["PATCH"]),
        core.route(CLUSTER, delete_cluster, ["DELETE"]),
        core.route(CLUSTERS, list_clusters, ["GET"]),
        core.route(SUB + "/providers/Microsoft.HDInsight/clusters", list_clusters, ["GET"]),
        core.route(CLUSTER + "/azureasyncoperations/{op}", cluster_operation, ["GET"]),
        core.route(CLUSTER + "/operationresults/{op}", operation_result, ["GET"]),
        core.route(CLUSTER + "/getGatewaySettings", gateway_settings, ["POST"]),
        core.route(LOCATION + "/azureasyncoperations/{op}", location_operation, ["GET"]),
        core.route(LOCATION + "/checkNameAvailability", check_name, ["POST"]),
        core.route(LOCATION + "/validateCreateRequest", validate_create, ["POST"]),
        core.route(LOCATION + "/usages", usages, ["GET"]),
        core.route(LOCATION + "/billingSpecs", billing_specs, ["GET"]),
        core.route(LOCATION + "/capabilities", capabilities, ["GET"]),
    ]
