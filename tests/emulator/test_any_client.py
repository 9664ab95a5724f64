"""Clients nobody here wrote: a sovereign-cloud-style client configured for the emulator (as az is after
`az cloud register`) names Microsoft Graph by the emulator's own origin, reads cloud metadata, lists resources
with ARM's OData filters, and signs in as an app with no ARM role. Real SDKs over TLS throughout."""

from __future__ import annotations

import asyncio

import jwt
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential

API = "2022-09-01"


def _token(credential, scope: str) -> str:
    return credential.get_token(scope).token


# -- Graph named by the emulator's own origin ------------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["/.default", "//.default"])
def test_token_for_the_emulator_origin_is_a_graph_token(emulator, operator_credential, suffix):
    token = _token(operator_credential, emulator.url + suffix)
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == emulator.url
    r = requests.get(f"{emulator.url}/v1.0/applications", headers={"Authorization": f"Bearer {token}"},
                     verify=str(emulator.ca_cert))
    assert r.status_code == 200, r.text
    assert emulator.client_id in [a["appId"] for a in r.json()["value"]]


def test_msgraph_sdk_with_the_emulator_origin_as_graph_resource(emulator, operator_credential):
    import ssl

    import httpx
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from msgraph import GraphRequestAdapter, GraphServiceClient
    from msgraph.generated.models.group import Group
    from msgraph_core import GraphClientFactory

    async def run():
        http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(emulator.ca_cert))))
        host = emulator.url.split("://", 1)[1].split(":")[0]
        auth = AzureIdentityAuthenticationProvider(operator_credential, scopes=[f"{emulator.url}/.default"],
                                                   allowed_hosts=[host])
        adapter = GraphRequestAdapter(auth, client=http)
        adapter.base_url = emulator.graph_url
        client = GraphServiceClient(request_adapter=adapter)
        made = await client.groups.post(Group(display_name="g-origin", mail_nickname="g-origin",
                                              mail_enabled=False, security_enabled=True))
        got = await client.groups.by_group_id(made.id).get()
        return got.display_name

    assert asyncio.run(run()) == "g-origin"


def test_a_foreign_origin_is_still_an_unknown_resource(emulator, operator_credential):
    with pytest.raises(ClientAuthenticationError, match="AADSTS500011"):
        _token(operator_credential, "https://graph.example.org/.default")


def test_an_arm_token_is_not_a_graph_token(emulator, operator_credential):
    token = _token(operator_credential, "https://management.azure.com/.default")
    r = requests.get(f"{emulator.url}/v1.0/applications", headers={"Authorization": f"Bearer {token}"},
                     verify=str(emulator.ca_cert))
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"


# -- ARM: cloud metadata, resource listings, locations, tenants, subscriptions, exportTemplate -------------------
def test_cloud_metadata_points_at_the_emulator(emulator):
    r = requests.get(f"{emulator.url}/metadata/endpoints", params={"api-version": "2022-09-01"},
                     verify=str(emulator.ca_cert))
    assert r.status_code == 200
    cloud = r.json()
    # The keys az's `_arm_to_cli_mapper` reads unconditionally, and the endpoints that must lead back here.
    assert cloud["resourceManager"] == cloud["microsoftGraphResourceId"] == emulator.url + "/"
    assert cloud["authentication"]["loginEndpoint"] == emulator.url
    assert cloud["authentication"]["audiences"][0] == "https://management.core.windows.net/"
    assert {"name", "suffixes", "portal"} <= cloud.keys() and cloud["suffixes"]["storage"] == "core.windows.net"
    listed = requests.get(f"{emulator.url}/metadata/endpoints", params={"api-version": "2019-05-01"},
                          verify=str(emulator.ca_cert)).json()
    assert listed == [cloud]
    legacy = requests.get(f"{emulator.url}/metadata/endpoints", params={"api-version": "2015-01-01"},
                          verify=str(emulator.ca_cert)).json()
    assert legacy["authentication"]["loginEndpoint"] == emulator.url and "galleryEndpoint" in legacy


@pytest.fixture
def estate(operator_credential, emulator, arm_kwargs, admin):
    """Two groups: a storage account (tagged) and an NSG in one, a VNet in the other; created through the SDKs."""
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient
    from azure.mgmt.storage import StorageManagementClient
    from azure.mgmt.storage.models import Sku, StorageAccountCreateParameters

    admin.configure(retry_after_seconds=0)
    sub = emulator.subscription_id
    rm = ResourceManagementClient(operator_credential, sub, **arm_kwargs)
    rm.resource_groups.create_or_update("rg-a", {"location": "westus"})
    rm.resource_groups.create_or_update("rg-b", {"location": "westus"})
    StorageManagementClient(operator_credential, sub, **arm_kwargs).storage_accounts.begin_create(
        "rg-a", "kafkadata01", StorageAccountCreateParameters(sku=Sku(name="Standard_LRS"), kind="StorageV2",
                                                              location="westus", tags={"env": "Dev"})).result()
    net = NetworkManagementClient(operator_credential, sub, **arm_kwargs)
    net.network_security_groups.begin_create_or_update("rg-a", "nsg1", {"location": "westus"}).result()
    net.virtual_networks.begin_create_or_update("rg-b", "vnet1", {
        "location": "westus", "address_space": {"address_prefixes": ["10.0.0.0/16"]},
        "subnets": [{"name": "default", "address_prefix": "10.0.0.0/24"}]}).result()
    return rm


def test_subscription_resources_with_odata_filters(estate):
    def names(**kw):
        return sorted(r.name for r in estate.resources.list(**kw))

    assert names() == ["kafkadata01", "nsg1", "vnet1"]  # top-level only: no subnets, rules or containers
    assert names(filter="resourceType eq 'Microsoft.Storage/storageAccounts'") == ["kafkadata01"]
    # az hdinsight create: a storage account and a VNet named without their group.
    assert names(filter="resourceType eq 'microsoft.network/virtualnetworks' and name eq 'VNET1'") == ["vnet1"]
    assert names(filter="resourceGroup eq 'rg-a'") == ["kafkadata01", "nsg1"]
    assert names(filter="tagName eq 'ENV' and tagValue eq 'Dev'") == ["kafkadata01"]
    assert names(filter="tagName eq 'env' and tagValue eq 'dev'") == []  # tag values are case-sensitive
    assert names(filter="tagName eq 'env'") == ["kafkadata01"]
    assert names(filter="substringof('nsg', name) or name eq 'vnet1'") == ["nsg1", "vnet1"]
    assert names(top=1) == ["kafkadata01"]

    [account] = estate.resources.list(filter="name eq 'kafkadata01'", expand="createdTime,changedTime,provisioningState")
    assert account.id.endswith("/resourceGroups/rg-a/providers/Microsoft.Storage/storageAccounts/kafkadata01")
    assert account.type == "Microsoft.Storage/storageAccounts" and account.sku.name == "Standard_LRS"
    assert account.kind == "StorageV2" and account.location == "westus" and account.tags == {"env": "Dev"}
    assert account.provisioning_state == "Succeeded" and account.created_time <= account.changed_time

    assert sorted(r.name for r in estate.resources.list_by_resource_group("rg-b")) == ["vnet1"]
    assert [r.name for r in estate.resources.list_by_resource_group(
        "rg-a", filter="resourceType eq 'Microsoft.Network/networkSecurityGroups'")] == ["nsg1"]


def test_a_filter_the_emulator_does_not_know_is_refused_by_name(arm, emulator):
    r = arm("GET", f"/subscriptions/{emulator.subscription_id}/resources", api_version=API,
            params={"$filter": "plan/publisher eq 'x'"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidFilterInQueryString"
    assert "plan/publisher" in r.json()["error"]["message"]


def test_export_template_of_a_group(estate):
    exported = estate.resource_groups.begin_export_template(
        "rg-a", {"resources": ["*"], "options": "IncludeParameterDefaultValue"}).result()
    template = exported.template
    assert template["$schema"].endswith("/2019-04-01/deploymentTemplate.json#")
    by_type = {r["type"]: r for r in template["resources"]}
    assert set(by_type) == {"Microsoft.Storage/storageAccounts", "Microsoft.Network/networkSecurityGroups"}
    account = by_type["Microsoft.Storage/storageAccounts"]
    assert account["name"] == "kafkadata01" and account["sku"]["name"] == "Standard_LRS"
    assert account["apiVersion"] and "provisioningState" not in account["properties"]
    empty = estate.resource_groups.begin_export_template("rg-b", {"resources": ["nothing"]}).result()
    assert empty.template["resources"] == []


def test_locations_and_tenants(arm, emulator):
    """Raw calls: the SubscriptionClient is not part of azure-mgmt-resource 26 (the toolkit needs none)."""
    r = arm("GET", f"/subscriptions/{emulator.subscription_id}/locations", api_version="2022-12-01")
    locations = {loc["name"]: loc for loc in r.json()["value"]}
    assert {"westus", "eastus", "southcentralus", "westeurope"} <= locations.keys()
    east = locations["eastus"]
    assert east["id"] == f"/subscriptions/{emulator.subscription_id}/locations/eastus"
    assert east["displayName"] == "East US" and east["regionalDisplayName"] == "(US) East US"
    assert east["metadata"]["regionType"] == "Physical" and east["metadata"]["pairedRegion"][0]["name"] == "westus"
    tenants = arm("GET", "/tenants", api_version="2022-12-01").json()["value"]
    assert [(t["tenantId"], t["id"]) for t in tenants] == [(emulator.tenant_id, f"/tenants/{emulator.tenant_id}")]


def _client_app(emulator, name: str) -> ClientSecretCredential:
    """An app + service principal + secret with no ARM role (made by the operator through Graph)."""
    token = _token(ClientSecretCredential(emulator.tenant_id, emulator.client_id, emulator.client_secret,
                                          authority=emulator.authority, disable_instance_discovery=True,
                                          connection_verify=str(emulator.ca_cert)),
                   "https://graph.microsoft.com/.default")

    def call(method, path, body):
        r = requests.request(method, f"{emulator.graph_url}{path}", json=body, verify=str(emulator.ca_cert),
                             headers={"Authorization": f"Bearer {token}"})
        assert r.status_code < 300, r.text
        return r.json()

    app = call("POST", "/applications", {"displayName": name})
    call("POST", "/servicePrincipals", {"appId": app["appId"]})
    secret = call("POST", f"/applications/{app['id']}/addPassword", {"passwordCredential": {}})["secretText"]
    return ClientSecretCredential(emulator.tenant_id, app["appId"], secret, authority=emulator.authority,
                                  disable_instance_discovery=True, connection_verify=str(emulator.ca_cert))


def test_an_app_with_no_arm_role_sees_its_tenant_and_no_subscriptions(arm, emulator):
    """What `az login --service-principal --allow-no-subscriptions` reads: 200s, an empty subscription list."""
    token = _token(_client_app(emulator, "client-no-role"), "https://management.core.windows.net//.default")
    auth = {"Authorization": f"Bearer {token}"}
    tenants = arm("GET", "/tenants", api_version="2022-12-01", headers=auth)
    assert tenants.status_code == 200 and tenants.json()["value"][0]["tenantId"] == emulator.tenant_id
    subs = arm("GET", "/subscriptions", api_version="2022-12-01", headers=auth)
    assert subs.status_code == 200 and subs.json()["value"] == []
    inside = arm("GET", f"/subscriptions/{emulator.subscription_id}/resourcegroups", api_version=API, headers=auth)
    assert inside.status_code == 403 and inside.json()["error"]["code"] == "AuthorizationFailed"


def test_group_delete_and_storage_create_answer_with_the_headers_clients_read(arm, emulator, admin):
    admin.configure(retry_after_seconds=1)  # the header as Azure sends it (tests default to 0)
    sub = emulator.subscription_id
    assert arm("PUT", f"/subscriptions/{sub}/resourcegroups/rg-h", json={"location": "westus"}).status_code == 201
    created = arm("PUT", f"/subscriptions/{sub}/resourceGroups/rg-h/providers/Microsoft.Storage/storageAccounts/"
                         f"hdrs01", api_version="2021-02-01",
                  json={"sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "location": "westus"})
    assert created.status_code == 202 and created.headers["Content-Type"] == "text/plain; charset=utf-8"
    deleted = arm("DELETE", f"/subscriptions/{sub}/resourcegroups/rg-h")
    assert deleted.status_code == 202 and deleted.headers["Retry-After"] == "1" and "Location" in deleted.headers


# -- loud about what it does not do -----------------------------------------------------------------------------
def test_an_arm_operation_the_emulator_lacks_is_named_not_a_404(arm, emulator, operator_credential, arm_kwargs):
    from azure.core.exceptions import HttpResponseError
    from azure.mgmt.network import NetworkManagementClient

    sub = emulator.subscription_id
    r = arm("GET", f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1")
    err = r.json()["error"]
    assert r.status_code == 501 and err["code"] == "NotImplementedInEmulator"
    assert "GET /subscriptions/" in err["message"] and "Microsoft.Compute/virtualMachines/vm1" in err["message"]
    assert "provision emulator coverage" in err["message"]
    # Through an SDK: an operation of an emulated provider that the emulator does not have.
    net = NetworkManagementClient(operator_credential, sub, **arm_kwargs)
    with pytest.raises(HttpResponseError) as e:
        net.public_ip_addresses.get("rg", "ip1")
    assert e.value.status_code == 501 and e.value.error.code == "NotImplementedInEmulator"
    assert "publicIPAddresses/ip1" in e.value.message
    # A method a routed path lacks.
    r = arm("PATCH", f"/subscriptions/{sub}/providers/Microsoft.Network")
    assert r.status_code == 501 and "PATCH" in r.json()["error"]["message"]


def test_a_graph_operation_the_emulator_lacks_is_named(emulator, operator_credential):
    token = _token(operator_credential, "https://graph.microsoft.com/.default")

    def get(path):
        return requests.get(f"{emulator.graph_url}{path}", headers={"Authorization": f"Bearer {token}"},
                            verify=str(emulator.ca_cert))

    for path in ("/devices", f"/servicePrincipals(appId='{emulator.client_id}')/appRoleAssignments"):
        r = get(path)
        assert r.status_code == 501 and r.json()["error"]["code"] == "NotImplementedInEmulator", path
        assert f"GET /v1.0{path.split('(')[0]}" in r.json()["error"]["message"]
    # A segment Graph itself does not know is still Graph's own 400.
    r = get("/nothingHere")
    assert r.status_code == 400 and r.json()["error"]["code"] == "BadRequest"
