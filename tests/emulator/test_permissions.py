"""What an identity may do, as Azure tells it: Graph application permissions as `roles` in app-only Graph tokens,
and ARM's effective actions from Microsoft.Authorization/permissions (the operator's Owner-like role; nothing for
an app without a role)."""

from __future__ import annotations

import jwt
import requests
from azure.identity import ClientSecretCredential


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _client_app(graph_call, emulator) -> ClientSecretCredential:
    app = graph_call("POST", "/applications", json={"displayName": "no-roles"}).json()
    graph_call("POST", "/servicePrincipals", json={"appId": app["appId"]})
    secret = graph_call("POST", f"/applications/{app['id']}/addPassword", json={}).json()["secretText"]
    return ClientSecretCredential(emulator.tenant_id, app["appId"], secret, authority=emulator.authority,
                                  disable_instance_discovery=True, connection_verify=str(emulator.ca_cert))


def test_graph_roles_and_arm_permissions(emulator, operator_credential):
    def graph_call(method, path, **kw):
        tok = operator_credential.get_token("https://graph.microsoft.com/.default").token
        r = requests.request(method, f"{emulator.graph_url}{path}", headers={"Authorization": f"Bearer {tok}"},
                             verify=str(emulator.ca_cert), **kw)
        assert r.status_code < 300, r.text
        return r

    operator = _claims(operator_credential.get_token("https://graph.microsoft.com/.default").token)
    assert "Application.ReadWrite.All" in operator["roles"] and "Group.ReadWrite.All" in operator["roles"]
    assert "roles" not in _claims(operator_credential.get_token("https://management.azure.com/.default").token)
    client = _client_app(graph_call, emulator)
    assert "roles" not in _claims(client.get_token("https://graph.microsoft.com/.default").token)

    scope = f"{emulator.arm_url}/subscriptions/{emulator.subscription_id}/providers/Microsoft.Authorization/permissions"

    def permissions(cred) -> list:
        tok = cred.get_token("https://management.azure.com/.default").token
        r = requests.get(scope, params={"api-version": "2022-04-01"}, headers={"Authorization": f"Bearer {tok}"},
                         verify=str(emulator.ca_cert))
        assert r.status_code == 200, r.text
        return r.json()["value"]

    assert permissions(operator_credential)[0]["actions"] == ["*"]
    assert permissions(client) == []
