"""Microsoft.Resources on the wire: subscriptions, providers, resource groups and their delete operation.

Paths are those azure-mgmt-resource sends (`resourcegroups`, lower case); ARM matches them case-insensitively.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request

from provision.emulator import wire
from provision.emulator.app import emulator_of
from provision.emulator.services.arm import core
from provision.emulator.services.arm.resources import listing, models, regions
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
    """Only the subscriptions the caller holds a role on: none (200, an empty list, as ARM answers) for an app
    with no ARM role — what `az login --allow-no-subscriptions` relies on."""
    caller = core.authenticate(request, require_right=False)
    state = emulator_of(request)
    subs = models.subscriptions(state) if state.has_right(caller.object_id, "arm") else []
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
    """202 + Location on the subscription's operationresults + Retry-After; the group reads "Deleting" until the
    operation is due, then it and everything in it are gone. The recording kept no Retry-After on this answer,
    but its polls came 15 s apart (ARM's documented Retry-After for this job); without the header the SDK would
    wait its default 30 s."""
    core.authenticate(request)
    state = emulator_of(request)
    sub = request.path_params["subscription"]
    token = models.begin_delete_group(state, sub, request.path_params["rg"])
    location = (f"{core.base_url(request)}/subscriptions/{sub}/operationresults/{token}"
                f"?api-version={quote(core.api_version(request))}")
    return wire.empty_response(202, headers={"Location": location, **core.retry_after(state)})


def _resource_listing(request: Request, rg: str | None) -> list:
    state = emulator_of(request)
    sub = request.path_params["subscription"]
    if rg is not None:
        models.get_group(state, sub, rg)
    q = request.query_params
    return listing.list_resources(state, sub, rg, q.get("$filter"), q.get("$expand"), _top(request))


async def group_resources(request: Request):
    core.authenticate(request)
    return wire.json_response({"value": _resource_listing(request, request.path_params["rg"])})


async def subscription_resources(request: Request):
    """`GET /subscriptions/{sub}/resources` with `$filter` / `$expand` / `$top` (az resource list, az hdinsight
    create turning --storage-account / --vnet-name into ids, az keyvault show)."""
    core.authenticate(request)
    return wire.json_response({"value": _resource_listing(request, None)})


async def export_template(request: Request):
    """`POST .../exportTemplate`: 200 with {"template": ...} (the 2021-04-01 answer az recorded)."""
    core.authenticate(request)
    state = emulator_of(request)
    sub, rg = request.path_params["subscription"], request.path_params["rg"]
    models.get_group(state, sub, rg)
    body = await core.read_body(request) if (await request.body()).strip() else {}
    return wire.json_response(listing.export_template(state, sub, rg, body))


async def list_locations(request: Request):
    core.authenticate(request, require_right=False)
    return wire.json_response({"value": regions.locations(request.path_params["subscription"])})


async def list_tenants(request: Request):
    """The caller's home tenant (any valid ARM token: az login lists tenants before subscriptions)."""
    caller = core.authenticate(request, require_right=False)
    tid = caller.tenant_id
    return wire.json_response({"value": [{
        "id": f"/tenants/{tid}", "tenantId": tid, "countryCode": "US", "displayName": "Emulated tenant",
        "domains": ["emulator.onmicrosoft.com"], "tenantCategory": "Home", "defaultDomain": "emulator.onmicrosoft.com",
        "tenantType": "AAD", "tenantBrandingLogoUrl": None}]})


async def cloud_metadata(request: Request):
    """`GET /metadata/endpoints`: the cloud's endpoints, pointing at the emulator (no authentication, as ARM).

    The 2022-09-01 answer of a private ARM endpoint is one cloud object (what `az cloud register` maps with
    `_arm_to_cli_mapper`); `2019-05-01` answers the list of clouds; older versions the 2015-01-01 keys, which
    msrestazure's discovery reads (`galleryEndpoint`, `graphEndpoint`, `portalEndpoint`, `authentication`)."""
    base = core.base_url(request)
    cloud = {
        "portal": base, "authentication": {"loginEndpoint": base, "audiences": [
            "https://management.core.windows.net/", "https://management.azure.com/"],
            "tenant": "common", "identityProvider": "AAD"},
        "media": "https://rest.media.azure.net", "graphAudience": "https://graph.windows.net/",
        "graph": "https://graph.windows.net/", "name": "AzureEmulator",
        "suffixes": {"azureDataLakeStoreFileSystem": "azuredatalakestore.net", "acrLoginServer": "azurecr.io",
                     "sqlServerHostname": "database.windows.net",
                     "azureDataLakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
                     "keyVaultDns": "vault.azure.net", "storage": "core.windows.net",
                     "azureFrontDoorEndpointSuffix": "azurefd.net", "storageSyncEndpointSuffix": "afs.azure.net",
                     "mhsmDns": "managedhsm.azure.net", "mysqlServerEndpoint": "mysql.database.azure.com",
                     "postgresqlServerEndpoint": "postgres.database.azure.com",
                     "mariadbServerEndpoint": "mariadb.database.azure.com",
                     "synapseAnalytics": "dev.azuresynapse.net", "attestationEndpoint": "attest.azure.net"},
        "batch": "https://batch.core.windows.net/", "resourceManager": base + "/",
        "vmImageAliasDoc": "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/main/arm-compute/"
                           "quickstart-templates/aliases.json",
        "activeDirectoryDataLake": "https://datalake.azure.net/",
        "sqlManagement": "https://management.core.windows.net:8443/",
        "microsoftGraphResourceId": base + "/",
        "appInsightsResourceId": "https://api.applicationinsights.io",
        "appInsightsTelemetryChannelResourceId": "https://dc.applicationinsights.azure.com/v2/track",
        "attestationResourceId": "https://attest.azure.net",
        "synapseAnalyticsResourceId": "https://dev.azuresynapse.net",
        "logAnalyticsResourceId": "https://api.loganalytics.io",
        "ossrdbmsResourceId": "https://ossrdbms-aad.database.windows.net",
    }
    version = request.query_params.get("api-version", "")
    if version == "2019-05-01":
        return wire.json_response([cloud])
    if version and version < "2019-05-01":
        return wire.json_response({"galleryEndpoint": base + "/", "graphEndpoint": "https://graph.windows.net/",
                                   "portalEndpoint": base + "/", "authentication": cloud["authentication"]})
    return wire.json_response(cloud)


async def list_permissions(request: Request):
    """Microsoft.Authorization/permissions at a subscription or resource group: the caller's effective actions
    there (the shape `az role assignment`'s tooling and `provision doctor` read). The operator's Owner-like role
    allows everything; other apps hold no ARM role: an empty list, as ARM answers."""
    caller = core.authenticate(request, require_right=False)
    state = emulator_of(request)
    if "rg" in request.path_params:
        models.get_group(state, request.path_params["subscription"], request.path_params["rg"])
    value = ([{"actions": ["*"], "notActions": [], "dataActions": [], "notDataActions": []}]
             if state.has_right(caller.object_id, "arm") else [])
    return wire.json_response({"value": value})


def routes() -> list:
    r = core.route
    return [
        r("/metadata/endpoints", cloud_metadata, ["GET"]),
        r("/tenants", list_tenants, ["GET"]),
        r("/subscriptions", list_subscriptions, ["GET"]),
        r(SUB + "/locations", list_locations, ["GET"]),
        r(SUB + "/resources", subscription_resources, ["GET"]),
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
        r(GROUP + "/exportTemplate", export_template, ["POST"]),
        r(SUB + "/providers/Microsoft.Authorization/permissions", list_permissions, ["GET"]),
        r(GROUP + "/providers/Microsoft.Authorization/permissions", list_permissions, ["GET"]),
    ]
