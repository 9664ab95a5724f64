"""Entra ID token service, driven by azure-identity over TLS."""

from __future__ import annotations

import time

import jwt
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential, DefaultAzureCredential


def _cred(emulator, *, tenant=None, client_id=None, secret=None):
    return ClientSecretCredential(tenant or emulator.tenant_id, client_id or emulator.client_id,
                                  secret or emulator.client_secret, authority=emulator.authority,
                                  disable_instance_discovery=True, connection_verify=str(emulator.ca_cert))


@pytest.mark.parametrize("scope,aud", [
    ("https://management.azure.com/.default", "https://management.azure.com"),
    ("https://graph.microsoft.com/.default", "https://graph.microsoft.com"),
    ("https://hib.azurehdinsight.net/.default", "https://hib.azurehdinsight.net"),
])
def test_client_secret_token_claims(emulator, scope, aud):
    tok = _cred(emulator).get_token(scope)
    keys = requests.get(f"{emulator.url}/{emulator.tenant_id}/discovery/v2.0/keys", verify=str(emulator.ca_cert))
    jwk = jwt.PyJWKSet.from_dict(keys.json())
    header = jwt.get_unverified_header(tok.token)
    key = next(k for k in jwk.keys if k.key_id == header["kid"])
    claims = jwt.decode(tok.token, key.key, algorithms=["RS256"], audience=aud)
    assert claims["tid"] == emulator.tenant_id
    assert claims["appid"] == claims["azp"] == emulator.client_id
    assert claims["iss"] == f"{emulator.url}/{emulator.tenant_id}/v2.0"
    assert claims["ver"] == "2.0"
    assert claims["nbf"] <= time.time() < claims["exp"]
    assert claims["exp"] - claims["iat"] == 3599
    # oid is the operator's service principal object id (from the directory, not the app id).
    sps = [o for o in requests.get(f"{emulator.url}/_emulator/objects", params={"kind": "servicePrincipal"},
                                   headers={"Authorization": f"Bearer {emulator.admin_key}"},
                                   verify=str(emulator.ca_cert)).json()["value"]]
    assert claims["oid"] == sps[0]["id"] and sps[0]["appId"] == emulator.client_id


def test_default_azure_credential_from_emulator_env(emulator_env):
    cred = DefaultAzureCredential(disable_instance_discovery=True)
    tok = cred.get_token("https://management.azure.com/.default")
    assert jwt.decode(tok.token, options={"verify_signature": False})["aud"] == "https://management.azure.com"


def test_openid_configuration_points_back_at_emulator(emulator):
    r = requests.get(f"{emulator.url}/{emulator.tenant_id}/v2.0/.well-known/openid-configuration",
                     verify=str(emulator.ca_cert))
    assert r.status_code == 200
    doc = r.json()
    assert doc["token_endpoint"] == f"{emulator.url}/{emulator.tenant_id}/oauth2/v2.0/token"
    assert doc["jwks_uri"].startswith(emulator.url)
    assert doc["issuer"] == f"{emulator.url}/{emulator.tenant_id}/v2.0"
    r = requests.get(f"{emulator.url}/common/discovery/instance", verify=str(emulator.ca_cert),
                     params={"api-version": "1.1", "authorization_endpoint": "x"})
    assert r.status_code == 200 and "tenant_discovery_endpoint" in r.json()


def _token_error(emulator, tenant=None, **form):
    data = {"grant_type": "client_credentials", "client_id": emulator.client_id,
            "client_secret": emulator.client_secret, "scope": "https://management.azure.com/.default"}
    data.update(form)
    data = {k: v for k, v in data.items() if v is not None}
    r = requests.post(f"{emulator.url}/{tenant or emulator.tenant_id}/oauth2/v2.0/token", data=data,
                      verify=str(emulator.ca_cert))
    return r.status_code, r.json()


def test_wrong_secret_is_aadsts7000215(emulator):
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        _cred(emulator, secret="not-the-secret").get_token("https://management.azure.com/.default")
    status, body = _token_error(emulator, client_secret="nope")
    assert status == 401 and body["error"] == "invalid_client" and body["error_codes"] == [7000215]
    assert {"timestamp", "trace_id", "correlation_id"} <= body.keys()


def test_unknown_client_is_aadsts700016(emulator):
    with pytest.raises(ClientAuthenticationError, match="AADSTS700016"):
        _cred(emulator, client_id="00000000-0000-0000-0000-000000000001").get_token(
            "https://graph.microsoft.com/.default")
    status, body = _token_error(emulator, client_id="00000000-0000-0000-0000-000000000001")
    assert status == 400 and body["error"] == "unauthorized_client" and body["error_codes"] == [700016]


def test_unknown_tenant(emulator):
    status, body = _token_error(emulator, tenant="11111111-2222-3333-4444-555555555555")
    assert status == 400 and body["error_codes"] == [90002]
    with pytest.raises(ClientAuthenticationError):
        _cred(emulator, tenant="11111111-2222-3333-4444-555555555555").get_token(
            "https://graph.microsoft.com/.default")


@pytest.mark.parametrize("scope,code", [
    ("https://management.azure.com/user_impersonation", 1002012),
    ("https://unknown.example.com/.default", 500011),
    ("https://graph.microsoft.com/.default https://management.azure.com/.default", 1002012),
])
def test_invalid_scope(emulator, scope, code):
    status, body = _token_error(emulator, scope=scope)
    assert status == 400 and body["error_codes"] == [code]


def test_unsupported_grant_type(emulator):
    status, body = _token_error(emulator, grant_type="password")
    assert status == 400 and body["error"] == "unsupported_grant_type" and body["error_codes"] == [70003]


def test_token_lifetime_is_configurable(emulator, admin):
    admin.configure(token_lifetime_seconds=120)
    tok = _cred(emulator).get_token("https://graph.microsoft.com/.default")
    claims = jwt.decode(tok.token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 120


def test_malformed_token_requests_never_500(emulator):
    base = f"{emulator.url}/{emulator.tenant_id}/oauth2/v2.0/token"
    ca = str(emulator.ca_cert)
    r = requests.post(base, json={"grant_type": "client_credentials"}, verify=ca)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = requests.post(base, data=b"\xff\xfe", headers={"Content-Type": "application/x-www-form-urlencoded"},
                      verify=ca)
    assert r.status_code == 400
    r = requests.post(base, data="x=" + "a" * 100_000,
                      headers={"Content-Type": "application/x-www-form-urlencoded"}, verify=ca)
    assert r.status_code == 413
    r = requests.get(f"{emulator.url}/{emulator.tenant_id}/oauth2/v2.0/nothing-here", verify=ca)
    assert r.status_code == 404 and "error" in r.json()
