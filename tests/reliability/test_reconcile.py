"""Non-idempotent Graph creates after an ambiguous failure: the helpers in provision.resources.graph_util read back
before they try again, so a lost answer never leaves two credentials. Real msgraph-sdk client with provision's
transport (provision.transport.graph_http_client), against the emulator's `after` faults."""

from __future__ import annotations

import asyncio
import ssl

import pytest
import requests

from provision import transport
from provision.resources import graph_util


def client(emulator, operator_credential):
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from msgraph import GraphRequestAdapter, GraphServiceClient

    http = transport.graph_http_client(ssl.create_default_context(cafile=str(emulator.ca_cert)), timeout=30)
    auth = AzureIdentityAuthenticationProvider(operator_credential, scopes=["https://graph.microsoft.com/.default"])
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = emulator.graph_url
    return GraphServiceClient(request_adapter=adapter)


@pytest.fixture
def app(emulator, operator_credential):
    token = operator_credential.get_token("https://graph.microsoft.com/.default").token
    r = requests.patch(f"{emulator.graph_url}/applications(uniqueName='reconcile')",
                       headers={"Authorization": f"Bearer {token}", "Prefer": "create-if-missing"},
                       json={"displayName": "reconcile"}, verify=str(emulator.ca_cert), timeout=10)
    assert r.status_code == 201, r.text
    return r.json()


def stored_app(admin, app_id: str) -> dict:
    return next(a for a in admin.objects("application") if a["id"] == app_id)


FAULTS = [
    pytest.param({"action": "drop"}, 1, id="drop-before"),
    pytest.param({"action": "drop", "after": True}, 1, id="drop-after"),
    pytest.param({"action": "status", "status": 503, "after": True}, 1, id="503-after"),
    pytest.param({"action": "drop", "after": True}, 3, id="drop-after-three-times"),
]


@pytest.mark.parametrize(("fault", "count"), FAULTS)
def test_add_secret_leaves_exactly_the_secret_it_returns(emulator, operator_credential, admin, app, fault, count):
    admin.add_fault(path=r"/addPassword$", methods=["POST"], count=count, **fault)

    async def go():
        graph = client(emulator, operator_credential)
        return await graph_util.add_secret(graph, app["id"], "provision", 30, what="test secret")

    pw = asyncio.run(go())
    creds = stored_app(admin, app["id"])["passwordCredentials"]
    assert [c["keyId"] for c in creds] == [str(pw.key_id)] and pw.secret_text
    fired = [e for e in admin.requests() if e["fault"]]
    assert len(fired) == count


@pytest.mark.parametrize(("fault", "count"), FAULTS)
def test_add_federated_credential_never_leaves_two(emulator, operator_credential, admin, app, fault, count):
    from msgraph.generated.models.federated_identity_credential import FederatedIdentityCredential

    admin.add_fault(path=r"/federatedIdentityCredentials$", methods=["POST"], count=count, **fault)
    body = FederatedIdentityCredential(name="provision-deployer", issuer="https://token.actions.githubusercontent.com",
                                       subject="repo:contoso/orders:environment:prod",
                                       audiences=["api://AzureADTokenExchange"])

    async def go():
        graph = client(emulator, operator_credential)
        made = await graph_util.add_federated_credential(graph, app["id"], body, what="test credential")
        listed = await graph.applications.by_application_id(app["id"]).federated_identity_credentials.get()
        return made, listed.value

    made, listed = asyncio.run(go())
    assert [(c.id, c.name, c.subject) for c in listed] == [(made.id, body.name, body.subject)]


def test_a_conflict_that_is_not_ours_is_raised(emulator, operator_credential, admin, app):
    """Another credential already holds the name with a different subject: not this call's, so an error."""
    from msgraph.generated.models.federated_identity_credential import FederatedIdentityCredential
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

    def fic(subject: str) -> FederatedIdentityCredential:
        return FederatedIdentityCredential(name="taken", issuer="https://token.actions.githubusercontent.com",
                                           subject=subject, audiences=["api://AzureADTokenExchange"])

    async def go():
        graph = client(emulator, operator_credential)
        await graph_util.add_federated_credential(graph, app["id"], fic("repo:a/b:ref:refs/heads/main"), what="x")
        await graph_util.add_federated_credential(graph, app["id"], fic("repo:c/d:ref:refs/heads/main"), what="y")

    with pytest.raises(ODataError):
        asyncio.run(go())
