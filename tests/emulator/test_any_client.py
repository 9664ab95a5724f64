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
